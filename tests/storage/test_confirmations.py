"""store.confirmations: the campaign of confirmation calls, filled idempotently.

The clock is fixed at Tue 2026-12-01 08:00 in Tirana; the horizon in these tests is 48 hours,
so appointments starting before Thu 2026-12-03 08:00 are due a call.
"""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from storage import Booked, Store
from storage.confirmations import CANDIDATES_SQL, CONFIRMATIONS
from storage.timefmt import to_db
from tests.conftest import FixedClock
from tests.storage.booking import at, book, phone

pytestmark = pytest.mark.asyncio
HORIZON = timedelta(hours=48)


async def _appointment(store: Store, number: str, hour: int, day: int = 2, **extra) -> int:
    outcome = await book(store, start=at(hour, 0, day), number=number, chairs=4, **extra)
    assert isinstance(outcome, Booked)
    return outcome.appointment.id


async def _fill(store: Store, clock: FixedClock):
    now = clock.now
    fill = await store.confirmations.fill(
        start=now, end=now + HORIZON, max_concurrent_calls=2, max_attempts=3
    )
    return await store.campaigns.get(name=CONFIRMATIONS), fill


async def _contacts(store: Store) -> list[tuple]:
    rows = await store.db.rows(
        "SELECT phone, appointment_id, state, done_reason FROM campaign_contacts ORDER BY id"
    )
    return [tuple(row) for row in rows]


async def test_the_campaign_is_created_active_when_first_needed_and_kept_as_staff_set_it(
    store: Store, clock: FixedClock
) -> None:
    # Nothing to confirm: no campaign.
    nothing, fill = await _fill(store, clock)
    assert (nothing, fill.campaign_id, fill.added) == (None, None, 0)
    await _appointment(store, phone(1), 10)
    first, fill = await _fill(store, clock)
    assert first is not None and fill.campaign_id == first.id
    assert (first.name, first.purpose, first.service_state, first.status) == (
        CONFIRMATIONS,
        "confirmation",
        "active",
        "draft",
    )
    assert (first.max_concurrent_calls, first.max_attempts) == (2, 3)
    await store.campaigns.set_service_state(
        campaign_id=first.id, to="paused", allowed_from=frozenset({"active"})
    )
    await _appointment(store, phone(2), 11, name="Ben Lika")
    again, fill = await _fill(store, clock)
    assert (again.id, again.service_state) == (first.id, "paused")  # staff's choice kept
    assert fill.added == 1
    assert [c.id for c in await store.campaigns.for_service()] == []
    # Stopped by staff: never filled again.
    await store.campaigns.set_service_state(
        campaign_id=first.id, to="stopped", allowed_from=frozenset({"paused"})
    )
    await _appointment(store, phone(3), 12, name="Cen Mara")
    _, fill = await _fill(store, clock)
    assert fill.added == 0


async def test_fill_adds_one_contact_per_unconfirmed_appointment_in_the_horizon_idempotently(
    store: Store, clock: FixedClock
) -> None:
    due = await _appointment(store, phone(1), 10)  # Wed 10:00: within 48 h
    also_due = await _appointment(
        store, phone(2), 9, day=3, name="Ben Lika"
    )  # Thu 09:00: 49 h away
    later = await _appointment(store, phone(3), 10, day=4, name="Cen Mara")  # Fri: beyond
    confirmed = await _appointment(store, phone(4), 11, name="Dua Lika")
    await store.calendar.confirm(appointment_id=confirmed, via="sms", actor="sms")
    cancelled = await _appointment(store, phone(5), 12, name="Era Lika")
    await store.calendar.cancel(appointment_id=cancelled, reason=None, actor="cli")
    listed = await _appointment(store, phone(6), 15, name="Fan Noli")
    await store.dnc.add(phone=phone(6), reason=None, source="cli")

    _, fill = await _fill(store, clock)
    # Thu 09:00 is 49 hours away: outside the horizon, like Friday.
    assert (fill.added, fill.on_do_not_call, fill.waiting, fill.closed) == (1, 1, 0, 0)
    assert (await _contacts(store)) == [(phone(1), due, "queued", None)]
    (contact,) = await store.campaigns.contacts(
        campaign_id=(await store.campaigns.get(name=CONFIRMATIONS)).id
    )
    assert (contact.appointment_id, contact.name, contact.language) == (due, "Arta Hoxha", "sq")

    # Again: nothing new. An hour and a half later Thursday 09:00 is inside the horizon.
    _, again = await _fill(store, clock)
    assert again.added == 0 and (await _contacts(store)) == [(phone(1), due, "queued", None)]
    clock.now = clock.now + timedelta(hours=1, minutes=30)
    _, later_round = await _fill(store, clock)
    assert later_round.added == 1
    assert [c[1] for c in (await _contacts(store))] == [due, also_due]
    assert later not in [c[1] for c in (await _contacts(store))] and listed not in [
        c[1] for c in (await _contacts(store))
    ]


async def test_a_second_appointment_of_a_queued_number_waits_and_settled_ones_close(
    store: Store, clock: FixedClock
) -> None:
    first = await _appointment(store, phone(1), 10)
    second = await _appointment(store, phone(1), 16)
    campaign, fill = await _fill(store, clock)
    assert (fill.added, fill.waiting) == (1, 1)
    # The patient confirms the first by SMS: its contact closes; the second gets its call.
    await store.calendar.confirm(appointment_id=first, via="sms", actor="sms")
    _, fill = await _fill(store, clock)
    assert (fill.added, fill.closed) == (1, 1)
    assert (await _contacts(store)) == [
        (phone(1), first, "done", "confirmed"),
        (phone(1), second, "queued", None),
    ]
    # A finished campaign is opened again when a new appointment needs a call.
    async with store.db.transaction() as conn:
        await conn.execute("UPDATE campaigns SET status = 'done' WHERE id = ?", (campaign.id,))
    await store.calendar.cancel(appointment_id=second, reason=None, actor="cli")
    await _appointment(store, phone(2), 11, name="Ben Lika")
    _, fill = await _fill(store, clock)
    assert (fill.added, fill.closed) == (1, 1)
    assert (await store.campaigns.get(name=CONFIRMATIONS)).status == "paused"
    assert (await _contacts(store))[1][3] == "not_needed"


# SQLite's EXPLAIN QUERY PLAN over the file, filled by a plain sqlite3 connection.
@pytest.mark.sqlite_only
async def test_fill_reads_indexes_at_scale(store: Store, db_path: Path, clock: FixedClock) -> None:
    """100,000 appointments over a year: the fill reads a range of the status index only."""
    with sqlite3.connect(db_path) as conn:
        t0 = "2026-11-20T08:00:00Z"
        conn.executemany(
            "INSERT INTO patients (id, phone, name, language, created_at, updated_at)"
            " VALUES (?, ?, 'Ana Dede', 'sq', ?, ?)",
            [(n, phone(n), t0, t0) for n in range(1, 20_001)],
        )
        start = clock.now - timedelta(days=180)
        rows = []
        for n in range(100_000):
            begins = start + timedelta(minutes=30 * (n // 4) % (365 * 24 * 60))
            rows.append(
                (
                    n % 20_000 + 1,
                    n % 4 + 1,
                    to_db(begins),
                    to_db(begins + timedelta(minutes=30)),
                    "scheduled" if n % 3 else "confirmed",
                )
            )
        conn.executemany(
            "INSERT OR IGNORE INTO appointments (patient_id, service_id, chair, starts_at,"
            " ends_at, status, price_lek, source, created_at)"
            f" VALUES (?, 'checkup', ?, ?, ?, ?, 2000, 'import', '{t0}')",
            rows,
        )
        conn.execute("ANALYZE")
        plan = " | ".join(
            row[3]
            for row in conn.execute(
                "EXPLAIN QUERY PLAN " + CANDIDATES_SQL, ("2026-12-01", "2026-12-03")
            )
        )
    assert "appointments_status_start" in plan, plan
    assert "campaign_contacts_appointment" in plan, plan
    assert "SCAN a" not in plan and "SCAN c" not in plan, plan

    _, first = await _fill(store, clock)
    with sqlite3.connect(db_path) as conn:
        expected = conn.execute(
            "SELECT count(DISTINCT patient_id) FROM appointments WHERE status = 'scheduled'"
            " AND starts_at >= ? AND starts_at < ?",
            (to_db(clock.now), to_db(clock.now + HORIZON)),
        ).fetchone()[0]
    assert first.added == expected > 0
    _, second = await _fill(store, clock)
    assert second.added == 0
