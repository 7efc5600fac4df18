"""`elo appointments mark ID attended|no-show` and `elo appointments list --day`, as processes.

The appointments are seeded relative to the real clock (the commands use it): one that started
yesterday, one that starts tomorrow.
"""

from __future__ import annotations

import asyncio
import getpass
import json
import sqlite3
from datetime import datetime, time, timedelta
from pathlib import Path

import pytest

from storage import Booked, Store
from tests.cli.test_main import ok_json, run_elo
from tests.conftest import TIRANE
from tests.storage.booking import book


def _day(offset: int) -> datetime:
    day = datetime.now(TIRANE).date() + timedelta(days=offset)
    return datetime.combine(day, time(10), tzinfo=TIRANE)


async def _seed(db: Path) -> tuple[int, int]:
    async with await Store.open(db, tz=TIRANE) as store:
        past = await book(store, start=_day(-1), number="+355691234567", name="Arta Hoxha")
        future = await book(store, start=_day(1), number="+355682223344", name="Ben Lika")
        assert isinstance(past, Booked) and isinstance(future, Booked)
        return past.appointment.id, future.appointment.id


@pytest.fixture
def seeded(tmp_path: Path) -> tuple[int, int]:
    return asyncio.run(_seed(tmp_path / "env.db"))


def _status(db: Path, appointment_id: int) -> str:
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "SELECT status FROM appointments WHERE id = ?", (appointment_id,)
        ).fetchone()[0]


def _rows(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return [
            *conn.execute("SELECT * FROM appointments ORDER BY id"),
            *conn.execute("SELECT * FROM appointment_slots ORDER BY chair, slot_start"),
        ]


def _audit(db: Path) -> list[tuple[str, str, str, str]]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT actor, action, subject, detail FROM audit_log").fetchall()


def test_mark_records_attended_and_no_show_and_audits(
    tmp_path: Path, seeded: tuple[int, int]
) -> None:
    past, _ = seeded
    db = tmp_path / "env.db"
    assert ok_json(run_elo(tmp_path, "appointments", "mark", str(past), "no-show")) == {
        "id": past,
        "status": "no_show",
    }
    assert ok_json(run_elo(tmp_path, "appointments", "mark", str(past), "attended")) == {
        "id": past,
        "status": "completed",
    }
    assert _status(db, past) == "completed"
    actions = [(a, b, c, json.loads(d)) for a, b, c, d in _audit(db)]
    who, subject = getpass.getuser(), f"appointment:{past}"
    assert actions == [
        (who, "appointment.no_show", subject, {"previous_status": "scheduled"}),
        (who, "appointment.attended", subject, {"previous_status": "no_show"}),
    ]


@pytest.mark.parametrize(
    ("which", "outcome", "message"),
    [
        ("future", "attended", "has not started yet"),
        ("missing", "no-show", "no appointment 999"),
        ("past", "maybe", "invalid choice"),
    ],
)
def test_mark_refusals_are_one_line_exit_2_and_change_nothing(
    tmp_path: Path, seeded: tuple[int, int], which: str, outcome: str, message: str
) -> None:
    past, future = seeded
    target = {"past": past, "future": future, "missing": 999}[which]
    db = tmp_path / "env.db"
    before = _rows(db)
    result = run_elo(tmp_path, "appointments", "mark", str(target), outcome)
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr
    assert _rows(db) == before
    assert _status(db, past) == "scheduled" and _status(db, future) == "scheduled"
    assert _audit(db) == []


def test_list_day_shows_one_local_day(tmp_path: Path, seeded: tuple[int, int]) -> None:
    past, future = seeded
    yesterday = _day(-1).date().isoformat()
    listing = ok_json(run_elo(tmp_path, "appointments", "list", "--day", yesterday))
    assert [a["id"] for a in listing["appointments"]] == [past]
    tomorrow = _day(1).date().isoformat()
    listing = ok_json(run_elo(tmp_path, "appointments", "list", "--day", tomorrow))
    assert [a["id"] for a in listing["appointments"]] == [future]
    both = run_elo(tmp_path, "appointments", "list", "--day", tomorrow, "--from", tomorrow)
    assert both.returncode == 2 and "not both" in both.stderr
    bad = run_elo(tmp_path, "appointments", "list", "--day", "2026-13-01")
    assert bad.returncode == 2
    assert bad.stderr == "elo: --day must be a date like 2026-12-03\n"


def _cancelled(db: Path, appointment_id: int) -> tuple[str, str | None, int]:
    with sqlite3.connect(db) as conn:
        status, reason = conn.execute(
            "SELECT status, cancel_reason FROM appointments WHERE id = ?", (appointment_id,)
        ).fetchone()
        (held,) = conn.execute(
            "SELECT COUNT(*) FROM appointment_slots WHERE appointment_id = ?", (appointment_id,)
        ).fetchone()
    return status, reason, held


def test_cancel_keeps_the_reason_and_audits_like_the_calendar_page(
    tmp_path: Path, seeded: tuple[int, int]
) -> None:
    past, future = seeded
    db = tmp_path / "env.db"
    said = "Patient called: moving abroad"
    result = run_elo(tmp_path, "appointments", "cancel", str(future), "--reason", said)
    assert ok_json(result) == {"cancelled": [future], "unchanged": []}
    assert _cancelled(db, future) == ("cancelled", said, 0)  # kept, and the slots freed
    # Without --reason the appointment still says why: the command did it.
    assert ok_json(run_elo(tmp_path, "appointments", "cancel", str(past)))["cancelled"] == [past]
    assert _cancelled(db, past) == (
        "cancelled",
        "cancelled by staff with elo appointments cancel",
        0,
    )
    # The calendar's audit record (the same as the page's, written in the change's
    # transaction), with whether a reason was given but never its text.
    who = getpass.getuser()
    assert [(a, b, c, json.loads(d)) for a, b, c, d in _audit(db)] == [
        (who, "appointment.cancel", f"appointment:{future}", {
            "previous_status": "scheduled", "reason_given": True,
        }),
        (who, "appointment.cancel", f"appointment:{past}", {
            "previous_status": "scheduled", "reason_given": True,
        }),
    ]  # fmt: skip
    assert "abroad" not in str(_audit(db))


@pytest.mark.parametrize("reason", ["x" * 501, "y" * 5000])
def test_a_bad_reason_is_one_line_exit_2_and_cancels_nothing(
    tmp_path: Path, seeded: tuple[int, int], reason: str
) -> None:
    past, future = seeded
    db = tmp_path / "env.db"
    before = _rows(db)
    result = run_elo(tmp_path, "appointments", "cancel", str(past), str(future), "--reason", reason)
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert lines == [
        f"elo: --reason: is too long ({len(reason)} characters);"
        " a reason is plain text of at most 500 characters"
    ]
    assert _rows(db) == before and _audit(db) == []
