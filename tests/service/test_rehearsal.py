"""`elo serve --rehearsal` as a real process: the whole service with the local stand-ins.

The service, the supervisor, the runner, the voice pipeline and the tools are real; the phones
are the LiveKit fake and the model the Gemini Live emulator (service/rehearsal.py). These tests
also show the drain on SIGTERM with a real call in progress.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from devtools.rehearsal import BOOKER, BUSY, MACHINE
from tests.serve_process import serve_env
from tests.serve_process import serving as elo_serve
from tests.telemetry.scrape import Scrape
from validation import normalize_phone

pytestmark = pytest.mark.slow

PHONES = {c: normalize_phone(c.phone) for c in (BOOKER, MACHINE, BUSY)}


@contextmanager
def serving(tmp_path: Path, **env: str) -> Iterator[tuple[subprocess.Popen[str], str, Path]]:
    """Start the rehearsal service; yields the process, its base URL and its database."""
    environ = serve_env(
        tmp_path,
        ELO_DATABASE__PATH=str(tmp_path / "data" / "elo.db"),
        ELO_SERVER__POLL_SECS="0.5",
        **env,
    )
    with elo_serve(tmp_path, environ, "--rehearsal") as served:
        assert served.process.stdout is not None
        assert served.process.stdout.readline().startswith("REHEARSAL:")
        yield served.process, served.base, tmp_path / "data" / "rehearsal"


def attempts(db: Path) -> dict[str, list[str | None]]:
    """Each rehearsal contact's attempt outcomes (None while in progress), read-only."""
    found: dict[str, list[str | None]] = {phone: [] for phone in PHONES.values()}
    if not (db / "elo.db").exists():
        return found
    with sqlite3.connect(f"file:{db / 'elo.db'}?mode=ro", uri=True, timeout=10) as conn:
        rows = conn.execute("SELECT phone, outcome FROM call_attempts ORDER BY id").fetchall()
    for phone, outcome in rows:
        found[phone].append(outcome)
    return found


def wait_for(predicate, db: Path, *, seconds: float = 240.0) -> dict[str, list[str | None]]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            seen = attempts(db)
        except sqlite3.OperationalError:  # the schema is being created
            seen = None
        if seen is not None and predicate(seen):
            return seen
        time.sleep(0.25)
    raise AssertionError(f"never happened; attempts: {attempts(db)}")


def stop(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=120)
    err = process.stderr.read() if process.stderr else ""
    assert process.returncode == 0, err[-3000:]
    assert "Traceback" not in err
    return err


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (the service's workers)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def gone(pids: list[int], *, seconds: float = 60.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not any(Path(f"/proc/{pid}").exists() for pid in pids):
            return True
        time.sleep(0.2)
    return False


@pytest.mark.parametrize("workers", ["2", "0"], ids=["in-workers", "in-process"])
def test_the_rehearsal_runs_its_campaign_and_leaves_the_clinic_database_alone(
    tmp_path: Path, workers: str
) -> None:
    with serving(tmp_path, ELO_SERVER__WORKERS=workers) as (process, base, db):
        assert len(children(process.pid)) == int(workers)
        seen = wait_for(lambda a: all(a[p] and a[p][-1] for p in PHONES.values()), db)
        ready = httpx.get(f"{base}/readyz", timeout=10)
        assert ready.status_code == 200, ready.text
        checks = ready.json()["checks"]
        assert "1 campaign(s) running" in checks["campaign_supervisor"]["detail"]
        if workers == "2":
            assert checks["workers"] == {"ok": True, "detail": "2 of 2 running, 0 call(s)"}
        else:
            assert "workers" not in checks
        # What the calls recorded, wherever they ran, is in the service's one scrape.
        scrape = Scrape.parse(httpx.get(f"{base}/metrics", timeout=10).text)
        stop(process)
    assert scrape.value("elo_calls_total", direction="outbound", outcome="booked") == 1
    assert scrape.value("elo_bookings_total", direction="outbound") == 1
    assert scrape.total("elo_dial_attempts_total") == 3
    assert scrape.total("elo_dial_attempts_total", outcome="busy") == 1
    assert scrape.total("elo_tool_calls_total", tool="schedule_appointment", result="ok") == 1
    for contact in (BOOKER, MACHINE, BUSY):
        assert PHONES[contact] not in scrape.text and contact.name not in scrape.text
    assert seen == {
        PHONES[BOOKER]: ["booked"],
        PHONES[MACHINE]: ["voicemail"],
        PHONES[BUSY]: ["busy"],
    }
    with sqlite3.connect(db / "elo.db") as conn:
        assert conn.execute("SELECT count(*) FROM appointments").fetchone() == (1,)
        assert conn.execute("SELECT service_state FROM campaigns").fetchone() == ("active",)
    assert not (tmp_path / "data" / "elo.db").exists()
    worker_logs = sorted(p.name for p in (tmp_path / "logs").glob("elo.worker-*.jsonl"))
    # The calls ran in the workers: each wrote its own log.
    assert worker_logs == (["elo.worker-1.jsonl", "elo.worker-2.jsonl"] if workers == "2" else [])
    for log_file in (tmp_path / "logs").glob("*.jsonl"):
        log = log_file.read_text(encoding="utf-8")
        for contact in (BOOKER, MACHINE, BUSY):
            assert PHONES[contact] not in log and contact.name not in log


def test_sigterm_mid_call_lets_the_call_finish_and_dials_no_one_new(tmp_path: Path) -> None:
    with serving(tmp_path, ELO_SERVER__DRAIN_SECS="180") as (process, _, db):
        wait_for(lambda a: a[PHONES[BOOKER]] == [None], db)
        stop(process)
    # The booking call went on to its end; the other contacts were never dialled.
    assert attempts(db) == {PHONES[BOOKER]: ["booked"], PHONES[MACHINE]: [], PHONES[BUSY]: []}


def test_calls_still_going_at_the_drain_deadline_are_hung_up_and_recorded(
    tmp_path: Path,
) -> None:
    with serving(tmp_path, ELO_SERVER__DRAIN_SECS="0") as (process, _, db):
        wait_for(lambda a: a[PHONES[BOOKER]] == [None], db)
        stop(process)
    seen = attempts(db)
    assert len(seen[PHONES[BOOKER]]) == 1 and seen[PHONES[BOOKER]][0] not in (None, "booked")
    assert (seen[PHONES[MACHINE]], seen[PHONES[BUSY]]) == ([], [])
    with sqlite3.connect(db / "elo.db") as conn:
        # The lease was given back: the next start (or `elo campaign run`) goes on at once.
        assert conn.execute("SELECT runner_token FROM campaigns").fetchone() == (None,)


def test_a_worker_killed_mid_call_is_recorded_and_started_again(tmp_path: Path) -> None:
    with serving(tmp_path, ELO_SERVER__WORKERS="2") as (process, base, db):
        wait_for(lambda a: a[PHONES[BOOKER]] == [None], db)
        first = children(process.pid)
        for pid in first:
            os.kill(pid, signal.SIGKILL)
        seen = wait_for(lambda a: a[PHONES[BOOKER]] and a[PHONES[BOOKER]][0] is not None, db)
        # The runner recorded the call the worker took with it; the patient is not charged a
        # booking that never happened.
        assert seen[PHONES[BOOKER]][0] not in (None, "booked")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            workers = httpx.get(f"{base}/readyz", timeout=10).json()["checks"]["workers"]
            if workers["ok"]:
                break
            time.sleep(0.5)
        assert workers["ok"] and "2 restart(s)" in workers["detail"], workers
        assert set(children(process.pid)).isdisjoint(first) and len(children(process.pid)) == 2
        stop(process)


def test_after_the_service_is_killed_its_workers_end_by_themselves(tmp_path: Path) -> None:
    """The attempt stays open for the next runner's recovery (tests/campaign/test_crash.py)."""
    with serving(tmp_path, ELO_SERVER__WORKERS="1") as (process, _, db):
        wait_for(lambda a: a[PHONES[BOOKER]] == [None], db)
        workers = children(process.pid)
        process.kill()
        process.wait()
        # Their stdin closed: the workers end their calls and exit, none is left behind.
        assert workers and gone(workers)
    assert attempts(db)[PHONES[BOOKER]] == [None]
