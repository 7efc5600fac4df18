"""store.calendar: staff bookings, moves, cancellations and marks on real SQLite files.

Each change is one transaction with its audit record; a refused change leaves the file exactly
as it was; races are decided by the database across separate connections.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta

import pytest

from storage import Appointment, Booked, SlotTaken, Store
from storage.calendar_models import NotChangeable, NotStarted, SameSlot, UnknownAppointment
from tests.conftest import TIRANE, FixedClock
from tests.storage.booking import OTHER, PHONE, SLOT, at, book, phone

ACTOR = "web:arta"
pytestmark = pytest.mark.asyncio


async def dump(store: Store) -> list[tuple]:
    """Every appointment, slot and audit row: what 'the database unchanged' compares."""
    rows = [
        *await store.db.rows("SELECT * FROM appointments ORDER BY id"),
        *await store.db.rows("SELECT * FROM appointment_slots ORDER BY chair, slot_start"),
        *await store.db.rows("SELECT * FROM audit_log ORDER BY id"),
    ]
    return [tuple(row) for row in rows]


async def slots_of(store: Store, appointment_id: int) -> list[tuple[int, str]]:
    rows = await store.db.rows(
        "SELECT chair, slot_start FROM appointment_slots WHERE appointment_id = ?"
        " ORDER BY slot_start",
        (appointment_id,),
    )
    return [tuple(row) for row in rows]


async def audit(store: Store) -> list[tuple[str, str, str, dict]]:
    rows = await store.db.rows("SELECT actor, action, subject, detail FROM audit_log ORDER BY id")
    return [(a, b, c, json.loads(d) if d else {}) for a, b, c, d in rows]


async def staff_book(store: Store, start: datetime, *, minutes: int = 30, **extra) -> Booked:
    outcome = await store.calendar.book(
        phone=extra.pop("number", PHONE),
        name=extra.pop("name", "Arta Hoxha"),
        service_id="checkup",
        starts_at=start,
        ends_at=start + timedelta(minutes=minutes),
        slot=SLOT,
        chairs=extra.pop("chairs", 2),
        price_lek=2000,
        actor=ACTOR,
        **extra,
    )
    assert isinstance(outcome, Booked)
    return outcome


async def test_staff_booking_is_marked_staff_and_audited_without_patient_data(store: Store) -> None:
    booked = await staff_book(store, at(10), chair=2)
    assert booked.appointment.source == "staff"
    assert booked.appointment.chair == 2
    assert await slots_of(store, booked.appointment.id) == [(2, "2026-12-02T09:00:00Z")]
    ((actor, action, subject, detail),) = await audit(store)
    assert (actor, action, subject) == (
        ACTOR,
        "appointment.book",
        f"appointment:{booked.appointment.id}",
    )
    assert detail == {"chair": 2, "new_patient": True}
    trail = str([tuple(row) for row in await store.db.rows("SELECT * FROM audit_log")])
    assert PHONE not in trail and PHONE[4:] not in trail and "Arta" not in trail


async def test_staff_booking_of_a_taken_chair_is_refused_but_another_chair_is_free(
    store: Store,
) -> None:
    await staff_book(store, at(10), chair=1)
    before = await dump(store)
    taken = await store.calendar.book(
        phone=OTHER, name="Ben Lika", service_id="checkup", starts_at=at(10),
        ends_at=at(10, 30), slot=SLOT, chairs=2, price_lek=2000, actor=ACTOR, chair=1,
    )  # fmt: skip
    assert isinstance(taken, SlotTaken)
    assert await dump(store) == before  # no patient created, no audit row
    other = await staff_book(store, at(10), number=OTHER, name="Ben Lika")
    assert other.appointment.chair == 2


async def test_a_move_keeps_the_id_frees_the_old_slot_and_holds_the_new(store: Store) -> None:
    booked = (await staff_book(store, at(10), minutes=60)).appointment
    # Half an hour later: the new time overlaps the old one, which must not block the move.
    moved = await store.calendar.move(
        appointment_id=booked.id, starts_at=at(10, 30), ends_at=at(11, 30), slot=SLOT,
        chairs=2, actor=ACTOR,
    )  # fmt: skip
    assert isinstance(moved, Appointment)
    assert (moved.id, moved.chair, moved.revision) == (booked.id, booked.chair, 1)
    assert (moved.starts_at, moved.ends_at) == (at(10, 30), at(11, 30))
    assert moved.patient_id == booked.patient_id and moved.source == "staff"
    assert await slots_of(store, booked.id) == [
        (1, "2026-12-02T09:30:00Z"),
        (1, "2026-12-02T10:00:00Z"),
    ]
    # The freed 10:00 slot of chair 1 can be booked by someone else now.
    await staff_book(store, at(10), number=OTHER, chair=1)
    _, action, subject, detail = (await audit(store))[1]
    assert (action, subject) == ("appointment.move", f"appointment:{booked.id}")
    assert detail == {
        "from": "2026-12-02T09:00:00Z",
        "to": "2026-12-02T09:30:00Z",
        "from_chair": 1,
        "to_chair": 1,
        "revision": 1,
    }


async def test_a_move_to_a_taken_slot_changes_nothing(store: Store) -> None:
    mine = (await staff_book(store, at(10))).appointment
    await staff_book(store, at(11), number=OTHER, chair=1)
    before = await dump(store)
    lost = await store.calendar.move(
        appointment_id=mine.id, starts_at=at(11), ends_at=at(11, 30), slot=SLOT, chairs=2,
        actor=ACTOR, chair=1,
    )  # fmt: skip
    assert lost == SlotTaken(starts_at=at(11))
    assert await dump(store) == before
    # Without a chair asked for, the free chair 2 takes it.
    moved = await store.calendar.move(
        appointment_id=mine.id, starts_at=at(11), ends_at=at(11, 30), slot=SLOT, chairs=2,
        actor=ACTOR,
    )  # fmt: skip
    assert isinstance(moved, Appointment) and moved.chair == 2


async def test_refused_changes_raise_typed_errors_and_leave_the_file_unchanged(
    store: Store, clock: FixedClock
) -> None:
    future = (await staff_book(store, at(10))).appointment
    before = await dump(store)
    with pytest.raises(SameSlot):
        await store.calendar.move(
            appointment_id=future.id, starts_at=at(10), ends_at=at(10, 30), slot=SLOT,
            chairs=2, actor=ACTOR, chair=future.chair,
        )  # fmt: skip
    with pytest.raises(NotStarted, match="has not started yet"):
        await store.calendar.mark(appointment_id=future.id, outcome="attended", actor=ACTOR)
    with pytest.raises(UnknownAppointment):
        await store.calendar.cancel(appointment_id=999, reason=None, actor=ACTOR)
    assert await dump(store) == before

    cancelled = await store.calendar.cancel(
        appointment_id=future.id, reason="patient is travelling", actor=ACTOR
    )
    assert (cancelled.status, cancelled.cancel_reason) == ("cancelled", "patient is travelling")
    assert await slots_of(store, future.id) == []  # the trigger freed them
    assert (await audit(store))[-1][3] == {"previous_status": "scheduled", "reason_given": True}
    after_cancel = await dump(store)
    with pytest.raises(NotChangeable, match="is cancelled and cannot be cancelled"):
        await store.calendar.cancel(appointment_id=future.id, reason="again", actor=ACTOR)
    with pytest.raises(NotChangeable):
        await store.calendar.move(
            appointment_id=future.id, starts_at=at(12), ends_at=at(12, 30), slot=SLOT,
            chairs=2, actor=ACTOR,
        )  # fmt: skip
    clock.now = at(10, 5)
    with pytest.raises(NotChangeable):
        await store.calendar.mark(appointment_id=future.id, outcome="no_show", actor=ACTOR)
    assert await dump(store) == after_cancel


async def test_marking_a_started_appointment_attended_or_no_show(
    store: Store, clock: FixedClock
) -> None:
    first = (await staff_book(store, at(10))).appointment
    second = (await staff_book(store, at(10), number=OTHER)).appointment
    clock.now = at(10)  # the start itself counts as started
    came = await store.calendar.mark(appointment_id=first.id, outcome="attended", actor=ACTOR)
    missed = await store.calendar.mark(appointment_id=second.id, outcome="no_show", actor=ACTOR)
    assert (came.status, missed.status) == ("completed", "no_show")
    with pytest.raises(NotChangeable, match="is completed and cannot be marked attended"):
        await store.calendar.mark(appointment_id=first.id, outcome="attended", actor=ACTOR)
    # Staff correct a mistake: the no-show did come after all.
    fixed = await store.calendar.mark(appointment_id=second.id, outcome="attended", actor=ACTOR)
    assert fixed.status == "completed"
    assert [row[1] for row in (await audit(store))[2:]] == [
        "appointment.attended",
        "appointment.no_show",
        "appointment.attended",
    ]
    assert (await audit(store))[-1][3] == {"previous_status": "no_show"}


async def test_entries_show_each_chair_with_the_patient_masked_number(store: Store) -> None:
    await staff_book(store, at(10), chair=2)
    other = (await staff_book(store, at(11), number=OTHER, name="Ben Lika")).appointment
    await staff_book(store, at(9, day=3))  # another day: not in the range
    await store.calendar.cancel(appointment_id=other.id, reason=None, actor=ACTOR)
    day = (at(0), at(0, day=3))
    shown = await store.calendar.entries(start=day[0], end=day[1])
    assert [(e.chair, e.starts_at, e.patient_name) for e in shown] == [(2, at(10), "Arta Hoxha")]
    assert shown[0].patient_phone_masked == "+355*******67"
    assert shown[0].starts_at.tzinfo is TIRANE
    everything = await store.calendar.entries(start=day[0], end=day[1], include_cancelled=True)
    assert [e.status for e in everything] == ["cancelled", "scheduled"]


# SQLite's EXPLAIN QUERY PLAN; PostgreSQL's planner chooses by its statistics.
@pytest.mark.sqlite_only
async def test_the_entries_query_reads_the_start_index(store: Store) -> None:
    plan = await store.db.rows(
        "EXPLAIN QUERY PLAN SELECT a.id FROM appointments a JOIN patients p"
        " ON p.id = a.patient_id WHERE a.starts_at >= ? AND a.starts_at < ?"
        " AND +a.status != 'cancelled' ORDER BY a.chair, a.starts_at, a.id",
        ("2026-12-02T00:00:00Z", "2026-12-03T00:00:00Z"),
    )
    details = " ".join(row[3] for row in plan)
    assert "appointments_starts_at" in details, details


# ------------------------------------------------------------------------------------- races


async def test_two_staff_connections_booking_one_slot_exactly_one_wins(
    store: Store, open_store
) -> None:
    clock = FixedClock()
    first = await open_store(clock=clock)
    second = await open_store(clock=clock)
    outcomes = await asyncio.gather(
        *(
            s.calendar.book(
                phone=phone(n),
                name="Arta Hoxha",
                service_id="checkup",
                starts_at=at(10),
                ends_at=at(10, 30),
                slot=SLOT,
                chairs=2,
                price_lek=2000,
                actor=ACTOR,
                chair=1,
            )
            for n, s in enumerate((first, second))
        )
    )
    assert sorted(type(o).__name__ for o in outcomes) == ["Booked", "SlotTaken"]
    assert await store.appointments.count() == 1
    assert (await store.health.check(slot_minutes=30)).healthy


async def test_twenty_concurrent_moves_into_one_slot_exactly_one_wins(
    store: Store, open_store
) -> None:
    clock = FixedClock()
    originals = []
    for n in range(20):
        # 8 starts x 3 chairs on Friday 4 December hold all 20.
        start = at(9, day=4) + timedelta(minutes=30 * (n % 8))
        booked = await book(store, start=start, number=phone(n), chairs=3)
        assert isinstance(booked, Booked)
        originals.append(booked.appointment)
    stores = [await open_store(clock=clock) for _ in originals]
    target = at(16, day=7)
    outcomes = await asyncio.gather(
        *(
            s.calendar.move(
                appointment_id=a.id,
                starts_at=target,
                ends_at=target + SLOT,
                slot=SLOT,
                chairs=3,
                actor=ACTOR,
                chair=1,
            )
            for s, a in zip(stores, originals, strict=True)
        )
    )
    winners = [o for o in outcomes if isinstance(o, Appointment)]
    assert len(winners) == 1
    assert all(o == SlotTaken(starts_at=target) for o in outcomes if o not in winners)
    for original in originals:
        now = await store.calendar.get(appointment_id=original.id)
        if original.id == winners[0].id:
            assert (now.starts_at, now.chair, now.revision) == (target, 1, 1)
        else:  # the losers keep their original slots and were not touched
            assert now == original
            assert len(await slots_of(store, original.id)) == 1
    assert (await store.health.check(slot_minutes=30)).healthy
    assert [row[1] for row in await audit(store)] == ["appointment.move"]
