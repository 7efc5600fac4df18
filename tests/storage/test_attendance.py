"""store.attendance: confirmation rate, no-shows by reminder path, revenue kept, from rows."""

from __future__ import annotations

import sqlite3
from datetime import date, datetime, timedelta

import pytest

from storage import Store
from storage.timefmt import to_db
from tests.conftest import TIRANE
from tests.storage.booking import phone
from tests.storage.test_dashboard_plans import _plan, _statements
from tests.storage.visits import has_confirmed_columns, message, patient, visit

FIRST, LAST = date(2026, 11, 2), date(2026, 11, 8)


def at(day: int, hour: int = 10) -> datetime:
    return datetime(2026, 11, day, hour, 0, tzinfo=TIRANE)


async def _week(store: Store) -> dict[str, int]:
    """Seven appointments in the week, two just outside it; returns their ids by label."""
    p = await patient(store, phone(1))
    ids = {
        "sms": await visit(store, p, at(3), "completed", price=3000),
        "both": await visit(store, p, at(4), "no_show", price=5000),
        "email": await visit(store, p, at(5), "completed", price=7000),
        "none_no_show": await visit(store, p, at(6), "no_show"),
        "none": await visit(store, p, at(7), "completed", price=1000),
        "cancelled": await visit(store, p, at(8), "cancelled"),
        "confirmed": await visit(store, p, at(2, 0), "confirmed"),  # the first local midnight
    }
    await visit(store, p, at(9, 0), "completed")  # next Monday, 00:00 local: outside
    await visit(store, p, at(1, 23) + timedelta(minutes=30), "completed")  # the Sunday before
    before = timedelta(days=1)
    await message(store, ids["sms"], "sms", at(3) - before)
    await message(store, ids["sms"], "email", None, status="dead")  # never sent: no path
    await message(store, ids["both"], "sms", at(4) - before)
    await message(store, ids["both"], "email", at(4) - before)
    # A confirmation, not a reminder: a path, but no revenue "kept by a reminder".
    await message(store, ids["email"], "email", at(5) - 3 * before, kind="confirmation")
    # Sent only after the start: too late to be a reminder path.
    await message(store, ids["none_no_show"], "sms", at(6) + timedelta(minutes=5))
    await message(store, ids["none_no_show"], "email", None, status="failed")
    await message(store, ids["cancelled"], "sms", at(8) - before, kind="cancelled")
    return ids


@pytest.mark.asyncio
async def test_each_figure_from_hand_made_rows(store: Store) -> None:
    await _week(store)
    figures = await store.attendance.figures(first_day=FIRST, last_day=LAST)
    assert figures.appointments == 7
    assert (figures.attended, figures.no_shows, figures.cancelled) == (3, 2, 1)
    assert figures.confirmed == 1
    assert figures.confirmation_rate == round(1 / 7, 4)
    # None before migration 16; with its columns, none of these was confirmed by a channel.
    expected = {} if await has_confirmed_columns(store) else None
    assert figures.confirmed_by_channel == expected
    assert figures.no_show_rate == 0.4
    paths = {p.path: (p.appointments, p.no_shows, p.no_show_rate) for p in figures.by_reminder_path}
    assert paths == {
        "none": (2, 1, 0.5),
        "sms": (1, 0, 0.0),
        "email": (1, 0, 0.0),
        "sms+email": (1, 1, 1.0),
    }
    assert figures.revenue_kept_lek == 3000
    assert isinstance(figures.revenue_kept_lek, int)


@pytest.mark.asyncio
async def test_an_empty_range_has_no_rates(store: Store) -> None:
    figures = await store.attendance.figures(first_day=FIRST, last_day=FIRST)
    assert figures.appointments == 0
    assert figures.confirmation_rate is None and figures.no_show_rate is None
    assert [p.no_show_rate for p in figures.by_reminder_path] == [None] * 4


@pytest.mark.asyncio
async def test_confirmations_by_channel_once_the_columns_exist(store: Store) -> None:
    ids = await _week(store)
    migrated = await has_confirmed_columns(store)
    async with store.db.transaction() as conn:
        if not migrated:
            # Stand-in for migration 16 (branch i13-confirm): the two columns it adds.
            await conn.execute("ALTER TABLE appointments ADD COLUMN confirmed_at TEXT")
            await conn.execute("ALTER TABLE appointments ADD COLUMN confirmed_via TEXT")
        for label, moment, via in (
            ("sms", at(3) - timedelta(hours=5), "sms"),  # then attended: still confirmed
            ("both", at(4) - timedelta(hours=1), "call"),  # then a no-show
            ("none", at(7) + timedelta(minutes=1), "staff"),  # after the start: not counted
        ):
            await conn.execute(
                "UPDATE appointments SET confirmed_at = ?, confirmed_via = ? WHERE id = ?",
                (to_db(moment), via, ids[label]),
            )
    figures = await store.attendance.figures(first_day=FIRST, last_day=LAST)
    assert figures.confirmed == 3  # two by column, one still 'confirmed'
    assert figures.confirmed_by_channel == {"sms": 1, "call": 1}


@pytest.mark.asyncio
async def test_a_bad_range_is_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="before"):
        await store.attendance.figures(first_day=LAST, last_day=FIRST)
    with pytest.raises(ValueError, match="366"):
        await store.attendance.figures(first_day=FIRST, last_day=FIRST + timedelta(days=366))


# SQLite's EXPLAIN QUERY PLAN on a raw connection: its planner, not the read model.
@pytest.mark.sqlite_only
@pytest.mark.asyncio
async def test_the_figures_search_by_start_and_by_appointment(
    store: Store, raw: sqlite3.Connection
) -> None:
    await _week(store)
    *_, sql = await _statements(
        store, lambda: store.attendance.figures(first_day=FIRST, last_day=LAST)
    )
    lines = _plan(raw, sql)
    assert not [line for line in lines if line.split()[:2] in (["SCAN", "a"], ["SCAN", "m"])]
    assert any("SEARCH a USING INDEX appointments_starts_at" in line for line in lines), lines
    messages = [line for line in lines if line.startswith("SEARCH m")]
    assert len(messages) == 3 and all("appointment_id=?" in line for line in messages), lines
