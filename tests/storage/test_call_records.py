"""Calls against a real SQLite file: lifecycle, daily roll-up, stats, per-number counts."""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime, timedelta

import pytest

from storage import Booked, SlotTaken, Store
from storage.errors import NotFoundError
from tests.conftest import TIRANE, FixedClock
from tests.storage.booking import OTHER, PHONE, SLOT, WED_10, at, book, phone

# --- analytics --------------------------------------------------------------------------------


DEC_1 = date(2026, 12, 1)


async def _day(store: Store, day: date = DEC_1):
    rows = await store.calls.daily(first_day=day, last_day=day)
    return rows[0] if rows else None


@pytest.mark.asyncio
async def test_bookings_add_to_the_daily_roll_up(store: Store) -> None:
    await book(store, price=2000, number=phone(1))
    await book(store, start=at(11), price=5000, number=phone(2), source="cli")
    day = await _day(store)
    assert day is not None
    assert (day.appointments_booked, day.revenue_generated, day.total_calls) == (2, 7000, 0)


@pytest.mark.asyncio
async def test_imports_and_lost_slots_do_not_count_as_bookings(store: Store) -> None:
    await book(store, price=2000, number=phone(1), source="import", legacy_key="old-1")
    await store.appointments.import_past(
        phone=phone(2),
        name="Besa Krasniqi",
        service_id="filling",
        starts_at=datetime(2025, 3, 4, 10, 0, tzinfo=TIRANE),
        ends_at=datetime(2025, 3, 4, 11, 0, tzinfo=TIRANE),
        price_lek=5000,
        legacy_key="old-2",
    )
    assert await _day(store) is None
    await book(store, price=3000, number=phone(3), chairs=2)  # chair 2, counted
    assert await book(store, price=9999, number=phone(4), chairs=2) == SlotTaken(starts_at=WED_10)
    day = await _day(store)
    assert day is not None
    assert (day.appointments_booked, day.revenue_generated) == (1, 3000)


@pytest.mark.asyncio
async def test_past_import_is_completed_and_holds_no_slot(store: Store) -> None:
    past = await store.appointments.import_past(
        phone=PHONE,
        name="Arta Hoxha",
        service_id="checkup",
        starts_at=WED_10,
        ends_at=WED_10 + SLOT,
        price_lek=2000,
        legacy_key="old-1",
    )
    assert past.status == "completed"
    assert past.source == "import"
    assert await store.appointments.occupancy(start=at(0), end=at(23)) == {}
    assert isinstance(await book(store, number=OTHER), Booked)


@pytest.mark.asyncio
async def test_roll_up_day_is_the_clinic_local_day(store: Store, clock: FixedClock) -> None:
    # 23:30 UTC on 1 December is already 00:30 on 2 December in Tirana.
    clock.now = datetime(2026, 12, 1, 23, 30, tzinfo=UTC)
    await book(store, start=at(10, 0, day=3), price=4000)
    assert await _day(store) is None
    day = await _day(store, date(2026, 12, 2))
    assert day is not None
    assert (day.appointments_booked, day.revenue_generated) == (1, 4000)


@pytest.mark.asyncio
async def test_call_lifecycle(store: Store, clock: FixedClock) -> None:
    patient, _ = await store.patients.upsert(phone=PHONE, name="Arta Hoxha")
    started = await store.calls.start(call_id="call-1", patient_id=patient.id)
    assert started.started_at == clock.now
    assert (started.ended_at, started.outcome, started.transcript, started.counters) == (
        None,
        None,
        [],
        {},
    )
    transcript = [{"role": "assistant", "text": "Përshëndetje! Si jeni?"}]
    await store.calls.save_progress(
        call_id="call-1", transcript=transcript, counters={"tokens": 12}, turns=1, tool_calls=0
    )
    transcript.append({"role": "user", "text": "Mirë, faleminderit."})
    await store.calls.save_progress(
        call_id="call-1", transcript=transcript, counters={"tokens": 30}, turns=2, tool_calls=1
    )
    progress = await store.calls.get(call_id="call-1")
    assert progress is not None
    assert progress.transcript == transcript
    assert (progress.counters, progress.turns, progress.tool_calls) == ({"tokens": 30}, 2, 1)
    assert progress.ended_at is None

    clock.now = clock.now + timedelta(minutes=4)
    done = await store.calls.finish(
        call_id="call-1",
        outcome="booked",
        outcome_reason="patient agreed",
        appointments_booked=1,
        revenue_booked=2000,
    )
    assert done.ended_at == clock.now
    assert (done.outcome, done.outcome_reason, done.appointments_booked, done.revenue_booked) == (
        "booked",
        "patient agreed",
        1,
        2000,
    )
    assert done.transcript == transcript  # finishing keeps what was saved


@pytest.mark.asyncio
async def test_finishing_twice_counts_once(store: Store, clock: FixedClock) -> None:
    await store.calls.start(call_id="call-1")
    first = await store.calls.finish(call_id="call-1", outcome="booked", appointments_booked=1)
    clock.now = clock.now + timedelta(minutes=5)
    second = await store.calls.finish(call_id="call-1", outcome="no_answer")
    # The second call changes nothing and returns the record as first closed.
    assert second == first
    day = await _day(store)
    assert day is not None
    assert day.total_calls == 1
    assert day.conversion_rate == 1.0


@pytest.mark.asyncio
async def test_finishing_an_unknown_call(store: Store) -> None:
    with pytest.raises(NotFoundError):
        await store.calls.finish(call_id="nope", outcome="failed")
    assert await _day(store) is None


@pytest.mark.asyncio
async def test_duplicate_call_id_is_refused(store: Store) -> None:
    await store.calls.start(call_id="call-1")
    with pytest.raises(sqlite3.IntegrityError):
        await store.calls.start(call_id="call-1")


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("booked_per_call", "rate"),
    [
        ([1, 0, 0, 0], 0.25),
        ([2, 0, 0], 0.3333),  # two bookings in one call still convert one call
        ([0, 0], 0.0),
        ([1, 3], 1.0),
    ],
)
async def test_conversion_rate_is_converted_calls_over_calls(
    store: Store, booked_per_call: list[int], rate: float
) -> None:
    for i, n in enumerate(booked_per_call):
        await store.calls.start(call_id=f"call-{i}")
        await store.calls.finish(call_id=f"call-{i}", outcome="done", appointments_booked=n)
    day = await _day(store)
    assert day is not None
    assert day.total_calls == len(booked_per_call)
    assert day.conversion_rate == pytest.approx(rate, abs=1e-4)
    assert (await store.calls.stats()).conversion_rate == pytest.approx(rate, abs=1e-4)


@pytest.mark.asyncio
async def test_unfinished_calls_are_not_counted(store: Store) -> None:
    await store.calls.start(call_id="call-1")
    assert await _day(store) is None
    assert (await store.calls.stats()).total_calls == 0


@pytest.mark.asyncio
async def test_call_counts_on_the_day_it_started(store: Store, clock: FixedClock) -> None:
    clock.now = datetime(2026, 12, 1, 23, 50, tzinfo=TIRANE)
    await store.calls.start(call_id="late")
    clock.now = datetime(2026, 12, 2, 0, 10, tzinfo=TIRANE)
    await store.calls.finish(call_id="late", outcome="done")
    assert (await _day(store)).total_calls == 1  # type: ignore[union-attr]
    assert await _day(store, date(2026, 12, 2)) is None


@pytest.mark.asyncio
async def test_stats_aggregate_over_days(store: Store, clock: FixedClock) -> None:
    # Day 1: two calls, one converted, one booking of 2000 (made in that call).
    await store.calls.start(call_id="a")
    await book(store, price=2000, number=phone(1), call_id="a")
    await store.calls.finish(call_id="a", outcome="booked", appointments_booked=1)
    await store.calls.start(call_id="b")
    await store.calls.finish(call_id="b", outcome="declined")
    # Day 2: one call, converted, booking of 5000; plus a follow-up still pending.
    clock.now = datetime(2026, 12, 2, 9, 0, tzinfo=TIRANE)
    await store.calls.start(call_id="c")
    await book(store, start=at(15, 0, day=3), price=5000, number=phone(2), call_id="c")
    await store.calls.finish(call_id="c", outcome="booked", appointments_booked=1)
    await store.follow_ups.create(
        phone=phone(3), name="Besa Krasniqi", due_at=at(10, 0, day=4), reason=None, source="agent"
    )

    everything = await store.calls.stats()
    assert everything.first_day == date(2026, 12, 1)
    assert everything.last_day == date(2026, 12, 2)
    assert (everything.total_calls, everything.appointments_booked) == (3, 2)
    assert everything.revenue_generated == 7000
    assert everything.conversion_rate == pytest.approx(2 / 3, abs=1e-4)
    # At 09:00 on 2 Dec both bookings (10:00 that day, 15:00 the next) are still ahead.
    assert everything.upcoming_appointments == 2
    assert everything.pending_follow_ups == 1
    assert everything.patients == 3

    first_only = await store.calls.stats(first_day=DEC_1, last_day=DEC_1)
    assert (first_only.first_day, first_only.last_day) == (DEC_1, DEC_1)
    assert (first_only.total_calls, first_only.appointments_booked) == (2, 1)
    assert first_only.revenue_generated == 2000
    assert first_only.conversion_rate == 0.5

    clock.now = datetime(2026, 12, 2, 11, 0, tzinfo=TIRANE)
    assert (await store.calls.stats()).upcoming_appointments == 1


@pytest.mark.asyncio
async def test_stats_of_an_empty_database(store: Store) -> None:
    stats = await store.calls.stats()
    assert stats.model_dump() == {
        "first_day": None,
        "last_day": None,
        "total_calls": 0,
        "appointments_booked": 0,
        "revenue_generated": 0,
        "conversion_rate": 0.0,
        "upcoming_appointments": 0,
        "pending_follow_ups": 0,
        "patients": 0,
    }


@pytest.mark.asyncio
async def test_recent_calls_are_counted_per_number(store: Store, clock: FixedClock) -> None:
    start = clock.now
    await store.calls.start(call_id="c1", phone="+355691234567")
    clock.now = start + timedelta(minutes=30)
    await store.calls.start(call_id="c2", phone="+355691234567")
    await store.calls.start(call_id="c3", phone="+355681112233")
    await store.calls.start(call_id="c4")
    since = start + timedelta(minutes=10)
    assert await store.calls.count_recent(phone="+355691234567", since=since) == 1
    assert await store.calls.count_recent(phone="+355691234567", since=start) == 2
    assert await store.calls.count_recent(phone="+355690000000", since=start) == 0
    assert (await store.calls.get(call_id="c1")).phone == "+355691234567"


@pytest.mark.asyncio
async def test_call_phone_must_be_e164(store: Store) -> None:
    with pytest.raises(sqlite3.IntegrityError):
        await store.calls.start(call_id="bad", phone="0691234567")


@pytest.mark.asyncio
async def test_facts_of_a_call_in_one_read(store: Store, clock: FixedClock) -> None:
    unknown = await store.calls.facts(call_id="none", phone=PHONE)
    assert (unknown.recorded, unknown.ended, unknown.outcome, unknown.bookings) == (
        False,
        False,
        None,
        0,
    )
    assert (unknown.follow_up_due, unknown.opted_out) == (None, False)

    await store.calls.start(call_id="call-1", phone=PHONE)
    first = await book(store, call_id="call-1")
    await book(store, start=WED_10 + SLOT, call_id="call-1")
    await book(store, start=WED_10 + 2 * SLOT, call_id="other-call")
    assert isinstance(first, Booked)
    await store.appointments.set_status(appointment_id=first.appointment.id, status="cancelled")
    later, soon = at(15, day=4), at(11, day=3)
    for due in (later, soon):
        await store.follow_ups.create(
            phone=PHONE,
            name="Arta Hoxha",
            due_at=due,
            reason=None,
            source="agent",
            call_id="call-1",
        )
    running = await store.calls.facts(call_id="call-1", phone=PHONE)
    assert running.model_dump() == {
        "call_id": "call-1",
        "recorded": True,
        "ended": False,
        "outcome": None,  # not finished: no outcome yet
        "bookings": 1,  # the cancelled one no longer stands
        "follow_up_due": soon,
        "opted_out": False,
        "kept": 0,  # no appointment confirmed or moved in the call yet
    }
    # The patient moves an appointment made earlier in this call (a confirmation call): it
    # counts; the same kind of change by staff does not.
    earlier = await book(store, start=at(16), call_id="earlier-call")
    assert isinstance(earlier, Booked)
    kept = earlier.appointment.id
    await store.calendar.confirm(appointment_id=kept, via="staff", actor="web:arta")
    assert (await store.calls.facts(call_id="call-1", phone=PHONE)).kept == 0
    await store.calendar.move(
        appointment_id=kept, starts_at=at(16, 30), ends_at=at(17), slot=SLOT, chairs=2,
        actor="agent:call-1",
    )  # fmt: skip
    assert (await store.calls.facts(call_id="call-1", phone=PHONE)).kept == 1

    await store.calls.finish(call_id="call-1", outcome="wrong_person")
    await store.dnc.add(phone=PHONE, reason=None, source="agent", call_id="call-1")
    ended = await store.calls.facts(call_id="call-1", phone=PHONE)
    assert (ended.ended, ended.outcome, ended.opted_out) == (True, "wrong_person", True)
    # No number, no do-not-call check.
    assert not (await store.calls.facts(call_id="call-1", phone=None)).opted_out
