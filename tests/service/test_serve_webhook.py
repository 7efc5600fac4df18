"""`elo serve` as a real process takes LiveKit's webhooks: forged ones refused, nothing started."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import httpx
from livekit.protocol import models

from devtools.livekit_webhooks import sign_webhook, webhook_event
from tests.serve_process import KEYS, serve_env, serving

SECRET = KEYS["ELO_LIVEKIT__API_SECRET"]


def _caller_joined() -> models.ParticipantInfo:
    return models.ParticipantInfo(
        identity="sip_+355691234567",
        kind=models.ParticipantInfo.Kind.SIP,
        attributes={"sip.callID": "SCL_AbCdEfGhIjKl", "sip.phoneNumber": "+355691234567"},
    )


def test_the_service_refuses_forged_webhooks_and_answers_signed_ones(tmp_path: Path) -> None:
    joined = webhook_event(
        "participant_joined",
        room=models.Room(name="call-_+355691234567_AbCdEfGhIjKl"),
        participant=_caller_joined(),
    )
    forged = sign_webhook(joined, KEYS["ELO_LIVEKIT__API_KEY"], "forged-" + SECRET)
    # Signed with the service's key, but not for a caller: answered and ignored.
    finished = sign_webhook(
        webhook_event("room_finished", room=models.Room(name="call-_x")),
        KEYS["ELO_LIVEKIT__API_KEY"],
        SECRET,
    )
    with serving(tmp_path, serve_env(tmp_path, **KEYS)) as served:
        url = served.base + "/livekit/webhook"
        refused = httpx.post(url, content=forged.body, headers=forged.headers, timeout=10)
        unsigned = httpx.post(url, content=forged.body, timeout=10)
        ignored = httpx.post(url, content=finished.body, headers=finished.headers, timeout=10)
        served.stop(timeout=30)
    assert (refused.status_code, unsigned.status_code) == (401, 401)
    assert (ignored.status_code, ignored.json()["status"]) == (200, "ignored")
    with sqlite3.connect(tmp_path / "elo.db") as db:
        assert db.execute("SELECT count(*) FROM calls").fetchone()[0] == 0
    log = (tmp_path / "logs" / "elo.jsonl").read_text(encoding="utf-8")
    assert "webhook refused: not signed by this LiveKit key" in log
    assert "691234567" not in log and SECRET not in log


def test_an_inbound_call_runs_in_a_worker_once_however_often_it_is_announced(
    tmp_path: Path,
) -> None:
    """The worker's session cannot reach LiveKit's media here (a closed local port), so the call
    ends unanswered; what matters is where it ran, that it ran once, and that it was recorded."""
    joined = sign_webhook(
        webhook_event(
            "participant_joined",
            room=models.Room(name="call-_+355691234567_AbCdEfGhIjKl"),
            participant=_caller_joined(),
        ),
        KEYS["ELO_LIVEKIT__API_KEY"],
        SECRET,
    )
    env = serve_env(
        tmp_path, **{**KEYS, "ELO_LIVEKIT__URL": "ws://127.0.0.1:9", "ELO_SERVER__WORKERS": "1"}
    )
    with serving(tmp_path, env) as served:
        url = served.base + "/livekit/webhook"
        answers = [
            httpx.post(url, content=joined.body, headers=joined.headers, timeout=10).status_code
            for _ in range(3)
        ]
        deadline = time.monotonic() + 120
        rows: list[tuple[str, str | None]] = []
        while time.monotonic() < deadline:
            with sqlite3.connect(tmp_path / "elo.db") as db:
                rows = db.execute("SELECT direction, outcome FROM calls").fetchall()
            if rows and rows[0][1] is not None:
                break
            time.sleep(0.25)
        served.stop()
    assert answers == [200, 200, 200]
    assert len(rows) == 1 and rows[0][0] == "inbound" and rows[0][1] is not None, rows
    worker_log = (tmp_path / "logs" / "elo.worker-1.jsonl").read_text(encoding="utf-8")
    assert "inbound call: known caller" in worker_log
    service_log = (tmp_path / "logs" / "elo.jsonl").read_text(encoding="utf-8")
    assert "inbound call: known caller" not in service_log
