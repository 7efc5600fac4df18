"""`elo privacy purge|export|erase` run as real subprocesses, the way clinic staff run them."""

from __future__ import annotations

import asyncio
import getpass
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from storage import Store
from tests.cli.test_main import ok_json, run_elo
from tests.conftest import TIRANE, FixedClock

ARTA = "+355691234567"
TRANSCRIPT = [{"role": "user", "text": "Po, nesër në orën 10"}]


async def _seed(db: Path, *, days_ago: int) -> None:
    """Arta: a patient with a callback, on the do-not-call list, and a call ``days_ago``."""
    clock = FixedClock(datetime.now(UTC) - timedelta(days=days_ago))
    async with await Store.open(db, tz=TIRANE, clock=clock) as store:
        await store.follow_ups.create(
            phone=ARTA, name="Arta Hoxha", due_at=clock.now, reason="asked", source="agent"
        )
        await store.calls.start(call_id="call-1", phone=ARTA)
        await store.calls.save_progress(
            call_id="call-1", transcript=TRANSCRIPT, counters={}, turns=1, tool_calls=0
        )
        await store.calls.finish(call_id="call-1", outcome="declined")
        await store.dnc.add(phone=ARTA, reason="asked", source="agent")


def _rows(db: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def test_export_prints_everything_about_the_number_and_audits_it(tmp_path: Path) -> None:
    db = tmp_path / "env.db"
    asyncio.run(_seed(db, days_ago=1))

    export = ok_json(run_elo(tmp_path, "privacy", "export", "--phone", "069 123 4567"))

    assert export["phone"] == ARTA
    assert export["patient"]["name"] == "Arta Hoxha"
    assert len(export["follow_ups"]) == 1
    assert export["calls"][0]["transcript"] == TRANSCRIPT
    assert export["do_not_call"]["phone"] == ARTA
    ((actor, action, subject, detail),) = _rows(
        db, "SELECT actor, action, subject, detail FROM audit_log"
    )
    assert (actor, action, len(subject)) == (getpass.getuser(), "privacy.export", 64)
    assert json.loads(detail)["calls"] == 1 and "691234567" not in detail + subject


def test_erase_without_yes_shows_counts_and_erases_nothing(tmp_path: Path) -> None:
    db = tmp_path / "env.db"
    asyncio.run(_seed(db, days_ago=1))

    result = run_elo(tmp_path, "privacy", "erase", "--phone", ARTA)

    assert result.returncode == 2
    preview = json.loads(result.stdout)
    assert preview["erased"] is False and preview["patient"] == 1 and preview["calls"] == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--yes" in lines[0]
    assert _rows(db, "SELECT count(*) FROM patients") == [(1,)]
    assert _rows(db, "SELECT count(*) FROM audit_log") == [(0,)]


def test_erase_with_yes_removes_the_person_and_keeps_the_number_blocked(tmp_path: Path) -> None:
    db = tmp_path / "env.db"
    asyncio.run(_seed(db, days_ago=1))

    erased = ok_json(run_elo(tmp_path, "privacy", "erase", "--phone", ARTA, "--yes"))

    assert erased["erased"] is True and erased["patient"] == 1 and erased["do_not_call"] == 1
    assert _rows(db, "SELECT count(*) FROM patients") == [(0,)]
    assert _rows(db, "SELECT count(*) FROM follow_ups") == [(0,)]
    assert _rows(db, "SELECT transcript, phone FROM calls") == [("[]", None)]
    assert _rows(db, "SELECT count(*) FROM do_not_call") == [(0,)]
    # Still blocked: adding the number again finds it listed and does not store it in clear.
    again = ok_json(run_elo(tmp_path, "dnc", "add", ARTA))
    assert again["status"] == "already_listed"
    assert _rows(db, "SELECT count(*) FROM do_not_call") == [(0,)]
    # Staff see that an erased number is blocked, never which one.
    listing = ok_json(run_elo(tmp_path, "dnc", "list"))
    assert listing == {"count": 0, "entries": [], "erased_numbers_blocked": 1}
    ((actor, action),) = _rows(db, "SELECT actor, action FROM audit_log")
    assert (actor, action) == (getpass.getuser(), "privacy.erase")
    key_file = tmp_path / "env.db.privacy-key"
    assert key_file.stat().st_mode & 0o777 == 0o600


def test_purge_dry_run_counts_then_purge_removes_old_transcripts(tmp_path: Path) -> None:
    db = tmp_path / "env.db"
    asyncio.run(_seed(db, days_ago=40))
    env = {"ELO_PRIVACY__RETENTION_DAYS": "30"}

    dry = ok_json(run_elo(tmp_path, "privacy", "purge", "--dry-run", env=env))
    assert dry == {
        "retention_days": 30,
        "dry_run": True,
        "calls": 1,
        "follow_ups": 0,
        "attempts": 0,
        "contacts": 0,
        "messages": 0,
    }
    assert _rows(db, "SELECT transcript FROM calls") == [
        (json.dumps(TRANSCRIPT, ensure_ascii=False),)
    ]

    done = ok_json(run_elo(tmp_path, "privacy", "purge", env=env))
    assert done["calls"] == 1 and done["dry_run"] is False
    assert _rows(db, "SELECT transcript, phone, outcome FROM calls") == [("[]", None, "declined")]
    assert ok_json(run_elo(tmp_path, "privacy", "purge", "--dry-run", env=env))["calls"] == 0


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path) -> None:
    for args in (
        ("privacy", "export", "--phone", "12"),
        ("privacy", "erase", "--phone", "not a number", "--yes"),
        ("privacy", "export"),
        ("privacy",),
    ):
        result = run_elo(tmp_path, *args)
        assert result.returncode == 2, (args, result.stderr)
        assert result.stdout == ""
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("elo: "), (args, result.stderr)
    assert not (tmp_path / "env.db").exists()
