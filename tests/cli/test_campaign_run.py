"""`elo campaign run`: preflight, a real run against the local LiveKit fake, Ctrl-C, progress.

The CLI runs in this process (``cli.main.main``) except where signals matter. Every run dials the
fake on 127.0.0.1; Gemini is pointed at a closed local port so nothing leaves the machine.

What a run against the fake does (found by running it): the runner creates the room, starts the
real voice pipeline, and the pipeline's LiveKit transport tries to join the room over websocket.
The fake has no RTC endpoint, so the join fails (404, three tries, about 9 s); the pipeline ends
before anything is dialled and the attempt is recorded ``failed`` with no SIP status, to be
retried after the ``failed`` delay. The scripted SIP outcome is therefore never reached.
"""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from campaign.calls import Progress
from campaign.progress_line import ProgressLine
from cli.main import main
from devtools.livekit_fake import FakeLiveKitServer, SipScript

API_KEY = "devkey"
API_SECRET = "fake-secret-0f9e8d7c6b5a-long-enough-for-hs256"
GEMINI_KEY = "gemini-key-5e4d3c2b1a"
TIRANE = ZoneInfo("Europe/Tirane")
CONTACTS = {"Arta Hoxha": "+355691234567", "Ben Duka": "+355682223344"}
# Every day, all day: these tests run on the real clock.
ALWAYS = ("--window-days", "mon,tue,wed,thu,fri,sat,sun", "--window-hours", "00:00-24:00")


def closed_port() -> int:
    """A local port nothing listens on (Gemini connections fail at once, offline)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_env(tmp_path: Path, livekit_url: str) -> dict[str, str]:
    """The ELO_* variables of a fully configured run against the fake."""
    return {
        "ELO_DATABASE__PATH": str(tmp_path / "e.db"),
        "ELO_LOGGING__FILE": str(tmp_path / "logs" / "elo.jsonl"),
        "ELO_LIVEKIT__URL": livekit_url,
        "ELO_LIVEKIT__API_KEY": API_KEY,
        "ELO_LIVEKIT__API_SECRET": API_SECRET,
        "ELO_LIVEKIT__SIP_TRUNK_ID": "ST_test",
        "ELO_GOOGLE__API_KEY": GEMINI_KEY,
        "ELO_GOOGLE__BASE_URL": f"http://127.0.0.1:{closed_port()}",
        "ELO_CALLING__SKIP_PUBLIC_HOLIDAYS": "false",
    }


@pytest.fixture
def fake() -> Iterator[FakeLiveKitServer]:
    server = FakeLiveKitServer(API_KEY, API_SECRET).start_in_thread()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake: FakeLiveKitServer) -> dict[str, str]:
    """Run from tmp_path (no developer .env) with a complete configuration in the environment."""
    monkeypatch.chdir(tmp_path)
    values = run_env(tmp_path, fake.url)
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return values


def elo(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run ``elo ARGS`` in this process; returns (exit code, stdout, stderr)."""
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def make_campaign(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], *options: str, name: str = "Winter"
) -> None:
    """Create a campaign that may call at any time and import the two contacts."""
    code, _, err = elo(capsys, "campaign", "create", name, "--purpose", "recall", *ALWAYS, *options)
    assert code == 0, err
    csv = tmp_path / "contacts.csv"
    csv.write_text(
        "name,phone\n" + "".join(f"{n},{p}\n" for n, p in CONTACTS.items()), encoding="utf-8"
    )
    code, out, err = elo(capsys, "campaign", "import", name, str(csv))
    assert code == 0, err
    assert json.loads(out)["imported"] == len(CONTACTS)


def dump(db: Path) -> list[str]:
    """The whole database as SQL, to prove a command wrote nothing."""
    with sqlite3.connect(db) as conn:
        return list(conn.iterdump())


def attempts(db: Path) -> list[dict[str, Any]]:
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute("SELECT * FROM call_attempts ORDER BY id")]


def assert_no_pii(text: str) -> None:
    for name, phone in CONTACTS.items():
        assert phone not in text and phone[4:] not in text
        assert name not in text and name.split()[1] not in text


# ---------------------------------------------------------------- preflight


def test_unknown_campaign_is_one_line_and_exit_2(
    env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = elo(capsys, "campaign", "run", "Nope")
    assert (code, out) == (2, "")
    assert err.strip().splitlines() == ["elo: no campaign named 'Nope'"]


@pytest.mark.parametrize(
    ("unset", "named"),
    [
        (("ELO_LIVEKIT__URL",), ["ELO_LIVEKIT__URL"]),
        (
            ("ELO_LIVEKIT__API_KEY", "ELO_LIVEKIT__API_SECRET"),
            ["ELO_LIVEKIT__API_KEY", "ELO_LIVEKIT__API_SECRET"],
        ),
        (("ELO_LIVEKIT__SIP_TRUNK_ID",), ["ELO_LIVEKIT__SIP_TRUNK_ID", "--trunk"]),
        (("ELO_GOOGLE__API_KEY", "ELO_GOOGLE__BASE_URL"), ["ELO_GOOGLE__API_KEY"]),
    ],
)
def test_missing_settings_are_named_and_nothing_is_written(
    tmp_path: Path,
    env: dict[str, str],
    fake: FakeLiveKitServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    unset: tuple[str, ...],
    named: list[str],
) -> None:
    make_campaign(tmp_path, capsys)
    before = dump(tmp_path / "e.db")
    for key in unset:
        monkeypatch.delenv(key)

    code, out, err = elo(capsys, "campaign", "run", "Winter")

    assert (code, out) == (2, "")
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("elo: set "), err
    for name in named:
        assert name in lines[0]
    assert API_SECRET not in err and GEMINI_KEY not in err
    assert dump(tmp_path / "e.db") == before
    assert fake.requests == []


def test_a_campaign_trunk_satisfies_the_preflight(
    tmp_path: Path,
    env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    make_campaign(tmp_path, capsys, "--trunk", "ST_own")
    with sqlite3.connect(tmp_path / "e.db") as conn:
        conn.execute("UPDATE campaign_contacts SET state = 'done', done_reason = 'booked'")
    monkeypatch.delenv("ELO_LIVEKIT__SIP_TRUNK_ID")
    code, out, err = elo(capsys, "campaign", "run", "Winter")
    assert code == 0, err
    assert json.loads(out)["ended"] == "done"


# ---------------------------------------------------------------- runs


def test_a_finished_campaign_ends_at_once_as_done(
    tmp_path: Path,
    env: dict[str, str],
    fake: FakeLiveKitServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    make_campaign(tmp_path, capsys)
    with sqlite3.connect(tmp_path / "e.db") as conn:
        conn.execute("UPDATE campaign_contacts SET state = 'done', done_reason = 'declined'")

    code, out, err = elo(capsys, "campaign", "run", "Winter")

    assert code == 0, err
    summary = json.loads(out)
    assert summary["ended"] == "done"
    assert summary["this_run"] == {"dialled": 0, "answered": 0, "booked": 0, "outcomes": {}}
    assert summary["status"]["status"] == "done"
    assert "Traceback" not in err
    assert fake.requests_for("CreateSIPParticipant") == []
    with sqlite3.connect(tmp_path / "e.db") as conn:
        assert conn.execute("SELECT runner_token FROM campaigns").fetchone() == (None,)


@pytest.mark.slow
def test_busy_contacts_run_the_real_pipeline_and_every_attempt_is_recorded(
    tmp_path: Path,
    env: dict[str, str],
    fake: FakeLiveKitServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    make_campaign(tmp_path, capsys)
    for phone in CONTACTS.values():
        fake.script(phone, SipScript("busy"))
    # The failed attempts are due again only after the `failed` delay: --until ends the run.
    until = (datetime.now(TIRANE) + timedelta(seconds=25)).replace(microsecond=0)

    code, out, err = elo(capsys, "campaign", "run", "Winter", "--until", until.isoformat())

    assert code == 0, err
    assert "Traceback" not in err
    summary = json.loads(out)
    assert summary["ended"] == "until"
    # The pipeline could not join the fake's room (no RTC endpoint): nothing was dialled.
    assert summary["this_run"]["dialled"] == 0
    assert summary["this_run"]["outcomes"] == {"failed": 2}
    assert summary["status"]["in_progress"] == 0
    assert summary["status"]["status"] == "paused"
    rows = attempts(tmp_path / "e.db")
    assert len(rows) == 2
    assert all(r["outcome"] == "failed" and r["ended_at"] is not None for r in rows)
    # The phones never rang: these attempts do not count against the attempt caps.
    assert all(r["sip_status"] == "not_dialled" for r in rows)
    assert {r["room"] for r in rows} == {
        body["room"] for body in (q.body for q in fake.requests_for("DeleteRoom"))
    }
    assert len(fake.requests_for("CreateRoom")) == 2
    assert fake.requests_for("CreateSIPParticipant") == []
    assert fake.rooms == {}  # every room was closed
    with sqlite3.connect(tmp_path / "e.db") as conn:
        queued = conn.execute(
            "SELECT count(*) FROM campaign_contacts WHERE state = 'queued'"
            " AND next_call_at IS NOT NULL"
        ).fetchone()
    assert queued == (2,)  # retried later, not lost
    progress = [line for line in err.splitlines() if line.startswith("dialled ")]
    assert progress and progress[-1].endswith("until")
    assert any("in call 2" in line for line in progress)
    assert_no_pii(err)


def _read_stderr(process: subprocess.Popen[str], lines: list[str]) -> None:
    assert process.stderr is not None
    for line in process.stderr:
        lines.append(line)


def _wait_for(lines: list[str], text: str, process: subprocess.Popen[str]) -> None:
    for _ in range(600):  # a bound, not a timing assertion
        if any(text in line for line in lines) or process.poll() is not None:
            break
        time.sleep(0.1)
    assert any(text in line for line in lines), "".join(lines)


@pytest.mark.slow
def test_ctrl_c_twice_stops_dialling_then_hangs_up_and_records_everything(
    tmp_path: Path, fake: FakeLiveKitServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    values = run_env(tmp_path, fake.url)
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    assert main(["campaign", "create", "Winter", "--purpose", "recall", *ALWAYS]) == 0
    csv = tmp_path / "contacts.csv"
    csv.write_text(
        "name,phone\n" + "".join(f"{n},{p}\n" for n, p in CONTACTS.items()), encoding="utf-8"
    )
    assert main(["campaign", "import", "Winter", str(csv)]) == 0
    for phone in CONTACTS.values():
        fake.script(phone, SipScript("no_answer", ring_secs=600))

    child_env = {k: v for k, v in os.environ.items() if not k.startswith("ELO_")} | values
    process = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "campaign", "run", "Winter"],
        cwd=tmp_path,
        env=child_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=_read_stderr, args=(process, lines), daemon=True)
    reader.start()
    try:
        _wait_for(lines, "in call 2", process)
        process.send_signal(signal.SIGINT)
        _wait_for(lines, "elo: stopping: no new calls", process)
        hung_up = process.poll() is None
        if hung_up:
            process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
        assert process.stdout is not None
        out = process.stdout.read()  # a short JSON summary: it fits the pipe's buffer
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    reader.join(5)
    err = "".join(lines)

    assert process.returncode == 0, err
    assert "Traceback" not in err
    assert "elo: stopping: no new calls; 2 in progress will finish" in err
    if hung_up:
        assert "elo: hanging up the calls in progress" in err
    summary = json.loads(out)
    assert summary["ended"] == "stopped"
    assert sum(summary["this_run"]["outcomes"].values()) == 2
    assert summary["status"]["in_progress"] == 0
    rows = attempts(tmp_path / "e.db")
    assert len(rows) == 2 and all(r["ended_at"] and r["outcome"] for r in rows)
    assert fake.rooms == {}
    assert_no_pii(err)

    status = subprocess.run(
        [sys.executable, "-m", "cli.main", "campaign", "status", "Winter"],
        cwd=tmp_path,
        env=child_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert status.returncode == 0, status.stderr
    after = json.loads(status.stdout)
    assert after["in_progress"] == 0 and after["attempts"] == 2
    assert after["status"] == "paused"


# ---------------------------------------------------------------- progress line


def test_progress_line_shows_counts_and_state_words_only() -> None:
    line = ProgressLine(io.StringIO(), tz=TIRANE)
    progress = Progress(dialled=3, answered=2, booked=1, active=1, remaining=7, state="calling")
    assert line.render(progress) == ("dialled 3 | answered 2 | booked 1 | in call 1 | remaining 7")
    progress.state = "waiting"
    progress.waiting_until = datetime(2026, 12, 2, 9, 30, tzinfo=ZoneInfo("UTC"))
    assert line.render(progress).endswith("| next call Wed 10:30")  # the clinic's zone
    for state in ("done", "stopped", "until", "no_calling_time"):
        progress.state = state
        assert line.render(progress).endswith(f"| {state}")


def test_progress_line_writes_plain_lines_when_not_a_terminal() -> None:
    stream = io.StringIO()
    line = ProgressLine(stream, tz=TIRANE)
    progress = Progress(dialled=1, remaining=2, state="calling")
    line(progress)
    line(progress)  # unchanged: not written again
    progress.dialled = 2
    line(progress)
    line.close()
    assert stream.getvalue() == (
        "dialled 1 | answered 0 | booked 0 | in call 0 | remaining 2\n"
        "dialled 2 | answered 0 | booked 0 | in call 0 | remaining 2\n"
    )
    assert "\r" not in stream.getvalue() and "\x1b" not in stream.getvalue()


def test_progress_line_rewrites_one_line_on_a_terminal() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Terminal()
    line = ProgressLine(stream, tz=TIRANE)
    line(Progress(dialled=1, state="calling"))
    line(Progress(dialled=2, state="calling"))
    line.close()
    text = stream.getvalue()
    assert text.count("\r\x1b[2K") == 2 and text.endswith("remaining 0\n")
