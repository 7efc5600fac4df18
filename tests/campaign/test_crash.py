"""Kill a runner process mid-campaign, restart it, and check nothing was doubled or lost."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from devtools.livekit_fake import FakeLiveKitServer
from storage import NewContact, Store
from tests.campaign.conftest import API_KEY, API_SECRET, TIRANE

ROOT = Path(__file__).resolve().parents[2]
PHONES = [f"+3556950000{i:02d}" for i in range(10)]


def _child(db: Path, url: str, seconds: float) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.campaign.crash_child", str(db), url, str(seconds)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _rows(db: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


@pytest.mark.slow
@pytest.mark.asyncio
async def test_a_killed_runner_resumes_without_doubles_or_losses(tmp_path: Path) -> None:
    db = tmp_path / "elo.db"
    store = await Store.open(db, tz=TIRANE)
    campaign = await store.campaigns.create(name="Crash", purpose="recall", max_concurrent_calls=3)
    await store.campaigns.add_contacts(
        campaign_id=campaign.id, contacts=[NewContact(phone=p, name="P") for p in PHONES]
    )
    await store.close()

    with FakeLiveKitServer(API_KEY, API_SECRET) as livekit:
        first = _child(db, livekit.url, 60)
        for _ in range(600):
            if len(_rows(db, "SELECT id FROM call_attempts WHERE outcome IS NULL")) >= 2:
                break
            await asyncio.sleep(0.05)
        else:
            first.kill()
            pytest.fail(f"no calls started: {first.stderr.read().decode()[-2000:]}")
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        stranded = _rows(db, "SELECT id, room, phone FROM call_attempts WHERE outcome IS NULL")
        assert stranded, "the kill should have left calls open"

        second = _child(db, livekit.url, 8)
        _, err = second.communicate(timeout=120)
        assert second.returncode == 0, err.decode()[-2000:]
        requests = livekit.requests

    attempts = _rows(
        db,
        "SELECT id, phone, room, started_at, ended_at, outcome, sip_status FROM call_attempts"
        " ORDER BY id",
    )
    # Nothing is left open, and the stranded calls were recorded as interrupted, not lost.
    assert all(a[5] is not None for a in attempts)
    by_id = {a[0]: a for a in attempts}
    for attempt_id, room, _phone in stranded:
        assert by_id[attempt_id][5:] == ("failed", "interrupted")
        # The new runner hung up the stranded call's room before going on.
        assert any(r.method == "DeleteRoom" and r.body.get("room") == room for r in requests)
    # Every dial LiveKit saw belongs to a recorded attempt (none lost across the crash).
    dialled_rooms = [r.body["room_name"] for r in requests if r.method == "CreateSIPParticipant"]
    assert set(dialled_rooms) <= {a[2] for a in attempts}
    assert len(dialled_rooms) == len(set(dialled_rooms))
    # No number was ever in two calls at once: per number, attempts never overlap in time.
    for phone in PHONES:
        spans = sorted((a[3], a[4]) for a in attempts if a[1] == phone)
        for (_, end), (start, _) in itertools.pairwise(spans):
            assert start >= end, phone
    # The restarted runner finished everyone the crash did not touch.
    stranded_phones = {phone for _, _, phone in stranded}
    booked = {a[1] for a in attempts if a[5] == "booked"}
    assert booked == set(PHONES) - stranded_phones
    states = dict(_rows(db, "SELECT phone, state FROM campaign_contacts"))
    assert {p for p, s in states.items() if s == "queued"} == stranded_phones
    assert _rows(db, "SELECT runner_token, status FROM campaigns") == [(None, "paused")]
