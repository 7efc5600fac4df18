"""`elo appointments list|cancel` and `elo follow-ups list|done`, run as staff run them.

The database is seeded the way an abusive browser call leaves it: bookings and callbacks made
by Elo (``source = agent``) in one call without a bound number, for other people's numbers,
next to a booking staff made. The commands run as real subprocesses.
"""

from __future__ import annotations

import asyncio
import getpass
import json
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from storage import Booked, Store
from tests.cli.test_main import ok_json, run_elo
from tests.storage.booking import book

TIRANE = ZoneInfo("Europe/Tirane")
ABUSE = "browser-abuse-1"
PEOPLE = [("Arbër Çela", "+355691234567"), ("Drita Hoxha", "+355692345678")]
STAFF_PATIENT = ("Besa Krasniqi", "+355693456789")
DAY = datetime(2027, 1, 5, 10, 0, tzinfo=TIRANE)


async def _seed(db: Path) -> dict[str, list[int]]:
    ids: dict[str, list[int]] = {"agent": [], "cli": [], "follow_ups": []}
    async with await Store.open(db, tz=TIRANE) as store:
        await store.calls.start(call_id=ABUSE, phone=None)
        slots = [(name, phone, "agent", ABUSE) for name, phone in PEOPLE]
        slots.append((*STAFF_PATIENT, "cli", None))
        for n, (name, phone, source, call_id) in enumerate(slots):
            start = DAY + timedelta(hours=n)
            booked = await book(
                store, start=start, number=phone, name=name, source=source, call_id=call_id
            )
            assert isinstance(booked, Booked)
            ids[source].append(booked.appointment.id)
        for name, phone in PEOPLE:
            follow_up, _ = await store.follow_ups.create(
                phone=phone,
                name=name,
                due_at=DAY + timedelta(days=1),
                reason="call me about my sister's booking",
                source="agent",
                call_id=ABUSE,
            )
            ids["follow_ups"].append(follow_up.id)
    return ids


@pytest.fixture
def seeded(tmp_path: Path) -> dict[str, list[int]]:
    return asyncio.run(_seed(tmp_path / "env.db"))


def _audit(db: Path) -> list[tuple[str, str, str | None, dict]]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT actor, action, subject, detail FROM audit_log ORDER BY id")
        return [(a, b, c, json.loads(d) if d else {}) for a, b, c, d in rows.fetchall()]


def _no_pii(text: str) -> None:
    for name, phone in [*PEOPLE, STAFF_PATIENT]:
        assert name not in text
        assert name.split()[1] not in text
        assert phone not in text
        assert phone[4:] not in text


def test_list_finds_what_one_call_made_with_names_and_numbers_masked(
    tmp_path: Path, seeded: dict[str, list[int]]
) -> None:
    result = run_elo(tmp_path, "appointments", "list", "--call", ABUSE)
    listing = ok_json(result)
    assert listing["count"] == 2
    assert [a["id"] for a in listing["appointments"]] == seeded["agent"]
    assert {a["source"] for a in listing["appointments"]} == {"agent"}
    assert listing["appointments"][0]["patient"] == {"name": "A. Ç.", "phone": "+355*******67"}
    _no_pii(result.stdout)
    assert _audit(tmp_path / "env.db") == []  # masked output is not a look at personal data

    staff = ok_json(run_elo(tmp_path, "appointments", "list", "--source", "cli"))
    assert [a["id"] for a in staff["appointments"]] == seeded["cli"]
    one = ok_json(run_elo(tmp_path, "appointments", "list", "--phone", "069 234 5678"))
    assert [a["id"] for a in one["appointments"]] == seeded["agent"][1:]
    later = ok_json(run_elo(tmp_path, "appointments", "list", "--from", "2027-01-06"))
    assert later["count"] == 0
    day = ok_json(run_elo(tmp_path, "appointments", "list", "--to", "2027-01-05"))
    assert day["count"] == 3

    callbacks = run_elo(tmp_path, "follow-ups", "list", "--call", ABUSE)
    assert [f["id"] for f in ok_json(callbacks)["follow_ups"]] == seeded["follow_ups"]
    assert "sister" not in callbacks.stdout  # a caller's free text is hidden too
    _no_pii(callbacks.stdout)


def test_show_pii_shows_the_data_and_writes_an_audit_record(
    tmp_path: Path, seeded: dict[str, list[int]]
) -> None:
    result = run_elo(tmp_path, "follow-ups", "list", "--phone", PEOPLE[0][1], "--show-pii")
    listing = ok_json(result)
    assert listing["follow_ups"][0]["patient"] == {"name": PEOPLE[0][0], "phone": PEOPLE[0][1]}
    ((actor, action, subject, detail),) = _audit(tmp_path / "env.db")
    assert (actor, action, subject) == (getpass.getuser(), "pii.show", None)
    assert detail == {
        "command": "follow-ups list",
        "records": 1,
        "filters": ["phone"],
        "status": "pending",
    }
    # The audit trail holds no personal data itself.
    with sqlite3.connect(tmp_path / "env.db") as conn:
        dump = "\n".join(str(row) for row in conn.execute("SELECT * FROM audit_log"))
    _no_pii(dump)


def test_cancel_by_call_frees_the_slots_and_is_audited(
    tmp_path: Path, seeded: dict[str, list[int]]
) -> None:
    db = tmp_path / "env.db"
    result = ok_json(run_elo(tmp_path, "appointments", "cancel", "--call", ABUSE))
    assert result == {"cancelled": seeded["agent"], "unchanged": []}
    with sqlite3.connect(db) as conn:
        held = conn.execute("SELECT DISTINCT appointment_id FROM appointment_slots").fetchall()
        statuses = dict(conn.execute("SELECT id, status FROM appointments").fetchall())
        reasons = dict(conn.execute("SELECT id, cancel_reason FROM appointments").fetchall())
    assert held == [(seeded["cli"][0],)]  # only the staff booking still holds its slot
    assert [statuses[i] for i in seeded["agent"]] == ["cancelled", "cancelled"]
    # Without --reason each says why (shown on the Calendar page).
    assert [reasons[i] for i in seeded["agent"]] == [
        f"cancelled with every booking of call {ABUSE}"
    ] * 2
    audit = _audit(db)
    assert [(a, s) for _, a, s, _ in audit] == [
        ("appointment.cancel", f"appointment:{i}") for i in seeded["agent"]
    ]
    assert all(actor == getpass.getuser() for actor, *_ in audit)
    # Again: nothing open is left from that call.
    assert ok_json(run_elo(tmp_path, "appointments", "cancel", "--call", ABUSE)) == {
        "cancelled": [],
        "unchanged": [],
    }
    by_id = ok_json(run_elo(tmp_path, "appointments", "cancel", str(seeded["agent"][0])))
    assert by_id == {
        "cancelled": [],
        "unchanged": [{"id": seeded["agent"][0], "status": "cancelled"}],
    }


def test_follow_ups_done_by_id(tmp_path: Path, seeded: dict[str, list[int]]) -> None:
    first, second = seeded["follow_ups"]
    assert ok_json(run_elo(tmp_path, "follow-ups", "done", str(first))) == {
        "done": [first],
        "unchanged": [],
    }
    pending = ok_json(run_elo(tmp_path, "follow-ups", "list"))
    assert [f["id"] for f in pending["follow_ups"]] == [second]
    closed = ok_json(run_elo(tmp_path, "follow-ups", "list", "--status", "done"))
    assert [f["id"] for f in closed["follow_ups"]] == [first]
    assert [(a, s) for _, a, s, _ in _audit(tmp_path / "env.db")] == [
        ("follow_up.done", f"follow_up:{first}")
    ]


@pytest.mark.parametrize(
    "args",
    [
        ("appointments", "list", "--from", "2027-13-01"),
        ("appointments", "list", "--from", "2027-01-06", "--to", "2027-01-05"),
        ("appointments", "list", "--phone", "12"),
        ("appointments", "list", "--call", "x y; DROP TABLE"),
        ("appointments", "list", "--limit", "0"),
        ("appointments", "list", "--status", "bogus"),
        ("appointments", "cancel"),
        ("appointments", "cancel", "abc"),
        ("appointments", "cancel", "999"),
        ("appointments", "cancel", "1", "--call", ABUSE),
        ("appointments", "cancel", "1", "--reason", "x" * 501),
        ("appointments", "cancel", "--call", ABUSE, "--reason", "x" * 501),
        ("follow-ups", "done", "-3"),
        ("follow-ups", "done", "999999999999999999999999"),
        ("follow-ups",),
    ],
)
def test_bad_input_is_one_line_exit_2_and_changes_nothing(
    tmp_path: Path, seeded: dict[str, list[int]], args: tuple[str, ...]
) -> None:
    db = tmp_path / "env.db"
    result = run_elo(tmp_path, *args)
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("elo: "), result.stderr
    assert "Traceback" not in result.stderr
    assert _audit(db) == []
    with sqlite3.connect(db) as conn:
        statuses = conn.execute("SELECT status FROM appointments").fetchall()
        follow_ups = conn.execute("SELECT status FROM follow_ups").fetchall()
    assert statuses == [("scheduled",)] * 3
    assert follow_ups == [("pending",)] * 2


def test_browser_link_is_one_time_signed_and_audited(tmp_path: Path) -> None:
    from pipeline.browser_access import check_link_token

    secret = "page-secret-for-tests"
    env = {"ELO_PIPELINE__WEBRTC_TOKEN": secret}
    made = ok_json(run_elo(tmp_path, "browser-link", "--minutes", "15", env=env))
    assert made["calls"] == 1
    assert made["link"].startswith("http://localhost:7860/#token=")
    token = made["link"].split("#token=", 1)[1]
    assert secret not in made["link"]
    expires = datetime.fromisoformat(made["expires_at"]).timestamp()
    checked = check_link_token(secret, token, expires - 60)
    assert checked is not None
    assert check_link_token(secret, token, expires + 60) is None
    ((actor, action, subject, detail),) = _audit(tmp_path / "env.db")
    assert (actor, action, subject, detail) == (
        getpass.getuser(),
        "browser.link",
        None,
        {"minutes": 15},
    )
    assert token not in (tmp_path / "env.db").read_bytes().decode("latin-1")


@pytest.mark.parametrize("args", [("browser-link",), ("browser-link", "--minutes", "0")])
def test_browser_link_without_a_secret_or_with_a_bad_lifetime_is_exit_2(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    env = {"ELO_PIPELINE__WEBRTC_TOKEN": "x"} if "--minutes" in args else {}
    result = run_elo(tmp_path, *args, env=env)
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr
