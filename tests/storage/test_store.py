"""The Store against a real SQLite file: patients, bookings, the double-booking backstop, calls."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from storage import Booked, SlotTaken, Store
from storage.errors import NotFoundError
from tests.conftest import TIRANE, FixedClock

PHONE = "+355691234567"
OTHER = "+355682223344"
SLOT = timedelta(minutes=30)
# Wednesday 2 December 2026, the day after the fixed clock's "today".
WED_10 = datetime(2026, 12, 2, 10, 0, tzinfo=TIRANE)


def at(hour: int, minute: int = 0, day: int = 2) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=TIRANE)


def phone(n: int) -> str:
    """A distinct valid Albanian mobile number per n."""
    return f"+35569{n:07d}"


async def book(
    store: Store,
    *,
    start: datetime = WED_10,
    minutes: int = 30,
    chairs: int = 1,
    number: str = PHONE,
    name: str = "Arta Hoxha",
    price: int = 2000,
    source: str = "agent",
    **extra: Any,
) -> Booked | SlotTaken:
    return await store.appointments.book(
        phone=number,
        name=name,
        service_id="checkup",
        starts_at=start,
        ends_at=start + timedelta(minutes=minutes),
        slot=SLOT,
        chairs=chairs,
        price_lek=price,
        source=source,  # type: ignore[arg-type]
        **extra,
    )


@pytest.fixture
def raw(store: Store, db_path: Path) -> Iterator[sqlite3.Connection]:
    """A second, plain connection to the same file: what any other program could do."""
    conn = sqlite3.connect(db_path, isolation_level=None)
    yield conn
    conn.close()


# --- patients ---------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_upsert_patient_creates_then_finds_by_phone(store: Store) -> None:
    first, created = await store.patients.upsert(phone=PHONE, name="Arta Hoxha")
    again, created_again = await store.patients.upsert(phone=PHONE, name="Someone Else")
    assert created is True
    assert created_again is False
    assert again.id == first.id
    # The first recorded name is kept: a caller cannot rename someone else's record.
    assert again.name == "Arta Hoxha"
    assert await store.patients.count() == 1
    assert await store.patients.get(phone=PHONE) == first


@pytest.mark.asyncio
async def test_different_phones_are_different_patients(store: Store) -> None:
    a, _ = await store.patients.upsert(phone=PHONE, name="Arta Hoxha")
    b, created = await store.patients.upsert(phone=OTHER, name="Arta Hoxha")
    assert created is True
    assert a.id != b.id
    assert await store.patients.count() == 2


@pytest.mark.asyncio
async def test_upsert_fills_a_missing_email_but_never_replaces_one(store: Store) -> None:
    await store.patients.upsert(phone=PHONE, name="Arta Hoxha")
    with_email, _ = await store.patients.upsert(phone=PHONE, name="X", email="arta@example.com")
    assert with_email.email == "arta@example.com"
    kept, _ = await store.patients.upsert(phone=PHONE, name="X", email="evil@example.com")
    assert kept.email == "arta@example.com"


@pytest.mark.asyncio
async def test_new_patient_fields(store: Store, clock: FixedClock) -> None:
    patient, _ = await store.patients.upsert(
        phone=PHONE, name="Ëndri Çela", email=None, language="en"
    )
    assert patient.phone == PHONE
    assert patient.name == "Ëndri Çela"
    assert patient.email is None
    assert patient.language == "en"
    assert patient.created_at == clock.now
    assert patient.created_at.tzinfo is not None


@pytest.mark.asyncio
async def test_unknown_phone_is_none(store: Store) -> None:
    assert await store.patients.get(phone=PHONE) is None


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "bad_phone",
    ["0691234567", "355691234567", "+0691234567", "+3556912345678901", "", "+"],
)
async def test_database_refuses_non_e164_phones(store: Store, bad_phone: str) -> None:
    # Validation normally stops these; the CHECK constraint is the last line.
    with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
        await store.patients.upsert(phone=bad_phone, name="Arta Hoxha")
    assert await store.patients.count() == 0


# --- booking ----------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_booking_fills_chairs_in_order_then_reports_slot_taken(store: Store) -> None:
    results = [await book(store, chairs=3, number=phone(i)) for i in range(4)]
    booked = results[:3]
    assert all(isinstance(r, Booked) for r in booked)
    assert [r.appointment.chair for r in booked] == [1, 2, 3]  # type: ignore[union-attr]
    assert results[3] == SlotTaken(starts_at=WED_10)
    assert await store.appointments.count(active_only=True) == 3
    # The loser left no trace: no fourth patient, no fourth appointment.
    assert await store.patients.count() == 3
    assert await store.appointments.count() == 3


@pytest.mark.asyncio
async def test_booked_result_carries_appointment_and_patient(
    store: Store, clock: FixedClock
) -> None:
    result = await book(store, price=5000, minutes=60, call_id="call-1", language="en")
    assert isinstance(result, Booked)
    a = result.appointment
    assert (a.service_id, a.chair, a.status, a.source, a.call_id) == (
        "checkup",
        1,
        "scheduled",
        "agent",
        "call-1",
    )
    assert a.price_lek == 5000
    assert type(a.price_lek) is int
    assert a.starts_at == WED_10
    assert a.ends_at == WED_10 + timedelta(minutes=60)
    assert a.created_at == clock.now
    assert a.patient_id == result.patient.id
    assert result.new_patient is True
    assert result.patient.language == "en"
    second = await book(store, start=at(11), name="Other Name")
    assert isinstance(second, Booked)
    assert second.new_patient is False
    assert second.patient.name == "Arta Hoxha"


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("first", "second", "collide"),
    [
        # (start, minutes) of the first and second booking on a one-chair clinic.
        pytest.param((at(10), 60), (at(10, 30), 30), True, id="inside-the-tail"),
        pytest.param((at(10, 30), 30), (at(10), 60), True, id="covers-an-existing-one"),
        pytest.param((at(10), 90), (at(11), 60), True, id="overlaps-the-end"),
        pytest.param((at(10), 30), (at(10), 90), True, id="same-start-longer"),
        pytest.param((at(10), 60), (at(11), 30), False, id="back-to-back-after"),
        pytest.param((at(10, 30), 30), (at(9, 30), 60), False, id="back-to-back-before"),
        pytest.param((at(10), 60), (at(10, 0, day=3), 60), False, id="same-time-next-day"),
    ],
)
async def test_overlap_of_different_lengths_on_one_chair(
    store: Store,
    first: tuple[datetime, int],
    second: tuple[datetime, int],
    collide: bool,
) -> None:
    a = await book(store, start=first[0], minutes=first[1], number=phone(1))
    b = await book(store, start=second[0], minutes=second[1], number=phone(2))
    assert isinstance(a, Booked)
    if collide:
        assert b == SlotTaken(starts_at=second[0])
        assert await store.appointments.count() == 1
    else:
        assert isinstance(b, Booked)
        assert b.appointment.chair == 1


@pytest.mark.asyncio
async def test_overlap_moves_to_a_chair_free_for_the_whole_appointment(store: Store) -> None:
    async def chair_of(start: datetime, minutes: int, n: int) -> int | None:
        result = await book(store, start=start, minutes=minutes, chairs=3, number=phone(n))
        return result.appointment.chair if isinstance(result, Booked) else None

    assert await chair_of(at(11), 30, 1) == 1
    assert await chair_of(at(11), 30, 2) == 2
    assert await chair_of(at(10, 30), 30, 3) == 1
    # 10:30-11:30: chair 1 is busy all along, chair 2 is free at 10:30 but not at 11:00.
    assert await chair_of(at(10, 30), 60, 4) == 3
    assert await chair_of(at(10, 30), 30, 5) == 2
    assert await chair_of(at(10, 30), 30, 6) is None


@pytest.mark.asyncio
async def test_booking_occupies_one_slot_row_per_grid_step(store: Store, raw) -> None:
    result = await book(store, start=at(10), minutes=90)
    assert isinstance(result, Booked)
    rows = raw.execute(
        "SELECT chair, slot_start FROM appointment_slots WHERE appointment_id = ?"
        " ORDER BY slot_start",
        (result.appointment.id,),
    ).fetchall()
    assert [tuple(r) for r in rows] == [
        (1, "2026-12-02T09:00:00Z"),
        (1, "2026-12-02T09:30:00Z"),
        (1, "2026-12-02T10:00:00Z"),
    ]
    occupancy = await store.appointments.occupancy(start=at(9), end=at(12))
    assert occupancy == {
        at(10).astimezone(UTC): frozenset({1}),
        at(10, 30).astimezone(UTC): frozenset({1}),
        at(11).astimezone(UTC): frozenset({1}),
    }


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("status", "frees"),
    [("cancelled", True), ("completed", True), ("no_show", True), ("confirmed", False)],
)
async def test_leaving_active_status_frees_the_slot(
    store: Store, raw, status: str, frees: bool
) -> None:
    first = await book(store, minutes=60, number=phone(1))
    assert isinstance(first, Booked)
    updated = await store.appointments.set_status(
        appointment_id=first.appointment.id, status=status
    )
    assert updated.status == status
    slots_left = raw.execute(
        "SELECT count(*) FROM appointment_slots WHERE appointment_id = ?",
        (first.appointment.id,),
    ).fetchone()[0]
    assert slots_left == (0 if frees else 2)
    again = await book(store, start=at(10, 30), number=phone(2))
    if frees:
        assert isinstance(again, Booked)
        assert again.appointment.chair == 1
        assert await store.appointments.count(active_only=True) == 1
        assert await store.appointments.count() == 2
    else:
        assert again == SlotTaken(starts_at=at(10, 30))


@pytest.mark.asyncio
async def test_cancelled_then_rebooked_at_identical_start(store: Store) -> None:
    first = await book(store, number=phone(1))
    assert isinstance(first, Booked)
    await store.appointments.set_status(appointment_id=first.appointment.id, status="cancelled")
    second = await book(store, number=phone(2))
    assert isinstance(second, Booked)
    # The partial unique index ignores the cancelled row at the same chair and start.
    assert (second.appointment.chair, second.appointment.starts_at) == (1, WED_10)
    listed = await store.appointments.list(start=at(0), end=at(23))
    assert [a.id for a in listed] == [second.appointment.id]
    everything = await store.appointments.list(start=at(0), end=at(23), active_only=False)
    assert {a.status for a in everything} == {"cancelled", "scheduled"}


@pytest.mark.asyncio
async def test_set_status_of_unknown_appointment(store: Store) -> None:
    with pytest.raises(NotFoundError):
        await store.appointments.set_status(appointment_id=12345, status="cancelled")


@pytest.mark.asyncio
async def test_set_status_refuses_unknown_status(store: Store) -> None:
    result = await book(store)
    assert isinstance(result, Booked)
    with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
        await store.appointments.set_status(appointment_id=result.appointment.id, status="gone")
    # Still active and still holding its slot.
    assert await book(store, number=OTHER) == SlotTaken(starts_at=WED_10)


@pytest.mark.asyncio
async def test_list_appointments_is_time_ordered_and_half_open(store: Store) -> None:
    for hour in (12, 9, 10):
        assert isinstance(await book(store, start=at(hour), number=phone(hour)), Booked)
    listed = await store.appointments.list(start=at(9), end=at(12))
    assert [a.starts_at for a in listed] == [at(9), at(10)]


# --- the backstop in the schema ---------------------------------------------------------------


def _insert_appointment(
    conn: sqlite3.Connection,
    patient_id: int,
    *,
    chair: int = 1,
    starts_at: str = "2026-12-02T09:00:00Z",
    ends_at: str = "2026-12-02T09:30:00Z",
    status: str = "scheduled",
) -> int:
    cur = conn.execute(
        "INSERT INTO appointments (patient_id, service_id, chair, starts_at, ends_at, status,"
        " price_lek, source, created_at) VALUES (?, 'checkup', ?, ?, ?, ?, 2000, 'cli',"
        " '2026-12-01T07:00:00Z')",
        (patient_id, chair, starts_at, ends_at, status),
    )
    return cur.lastrowid  # type: ignore[return-value]


@pytest.mark.asyncio
@pytest.mark.parametrize("status", ["scheduled", "confirmed"])
async def test_raw_sql_cannot_add_a_second_active_appointment_at_chair_and_start(
    store: Store, raw, status: str
) -> None:
    result = await book(store)  # 10:00 Tirane = 09:00Z on chair 1
    assert isinstance(result, Booked)
    with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
        _insert_appointment(raw, result.patient.id, status=status)
    # Other chairs, and inactive rows at the same chair and start, are allowed.
    _insert_appointment(raw, result.patient.id, chair=2, status=status)
    _insert_appointment(raw, result.patient.id, status="cancelled")
    assert await store.appointments.count(active_only=True) == 2


@pytest.mark.asyncio
async def test_raw_sql_cannot_add_an_overlapping_slot_row(store: Store, raw) -> None:
    result = await book(store, minutes=60)  # holds 09:00Z and 09:30Z on chair 1
    assert isinstance(result, Booked)
    # An appointment starting at 09:30Z passes the chair/start index but not the slot table.
    other = _insert_appointment(
        raw, result.patient.id, starts_at="2026-12-02T09:30:00Z", ends_at="2026-12-02T10:00:00Z"
    )
    with pytest.raises(sqlite3.IntegrityError, match="appointment_slots"):
        raw.execute(
            "INSERT INTO appointment_slots (chair, slot_start, appointment_id)"
            " VALUES (1, '2026-12-02T09:30:00Z', ?)",
            (other,),
        )


@pytest.mark.asyncio
async def test_booking_that_slips_past_the_recheck_hits_the_index(store: Store, raw) -> None:
    # A row written by another tool without slot rows: the re-check sees nothing, the unique
    # index refuses the insert, and the store reports SlotTaken and rolls everything back.
    patient, _ = await store.patients.upsert(phone=OTHER, name="Besa Krasniqi")
    _insert_appointment(raw, patient.id)
    assert await book(store) == SlotTaken(starts_at=WED_10)
    assert await store.patients.get(phone=PHONE) is None
    assert await store.appointments.count() == 1
    # The store's connection is usable afterwards (the transaction was closed).
    assert isinstance(await book(store, start=at(11)), Booked)


@pytest.mark.asyncio
async def test_duplicate_legacy_key_is_an_error_not_slot_taken(store: Store) -> None:
    assert isinstance(await book(store, legacy_key="old-1"), Booked)
    with pytest.raises(sqlite3.IntegrityError, match="legacy_key"):
        await book(store, start=at(11), number=OTHER, legacy_key="old-1")
    assert await store.patients.get(phone=OTHER) is None


@pytest.mark.asyncio
async def test_database_refuses_negative_price_and_empty_interval(store: Store) -> None:
    with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
        await book(store, price=-1)
    with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
        await store.appointments.import_past(
            phone=PHONE,
            name="Arta Hoxha",
            service_id="checkup",
            starts_at=at(10),
            ends_at=at(10),
            price_lek=2000,
            legacy_key="k",
        )
    assert await store.appointments.count() == 0
    assert await store.patients.count() == 0


# --- money and time ---------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_money_is_stored_and_returned_as_integers(store: Store, raw) -> None:
    result = await book(store, price=15000)
    assert isinstance(result, Booked)
    assert raw.execute("SELECT typeof(price_lek) FROM appointments").fetchone()[0] == "integer"
    assert raw.execute("SELECT typeof(revenue_generated) FROM call_analytics").fetchone()[0] == (
        "integer"
    )
    stats = await store.calls.stats()
    assert stats.revenue_generated == 15000
    assert type(stats.revenue_generated) is int
    (day,) = await store.calls.daily(first_day=date(2026, 12, 1), last_day=date(2026, 12, 1))
    assert type(day.revenue_generated) is int


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("local", "stored"),
    [
        pytest.param(datetime(2026, 12, 2, 10, 0, tzinfo=TIRANE), "2026-12-02T09:00:00Z", id="CET"),
        pytest.param(datetime(2027, 6, 2, 10, 0, tzinfo=TIRANE), "2027-06-02T08:00:00Z", id="CEST"),
        pytest.param(
            datetime(2026, 12, 2, 0, 30, tzinfo=TIRANE), "2026-12-01T23:30:00Z", id="day-before"
        ),
    ],
)
async def test_times_are_stored_as_utc_text_and_returned_aware(
    store: Store, raw, local: datetime, stored: str
) -> None:
    result = await book(store, start=local)
    assert isinstance(result, Booked)
    row = raw.execute("SELECT starts_at, created_at FROM appointments").fetchone()
    assert row[0] == stored
    assert row[1] == "2026-12-01T07:00:00Z"  # the fixed clock, 08:00 in Tirana
    (listed,) = await store.appointments.list(
        start=local - timedelta(hours=1), end=local + timedelta(hours=1)
    )
    assert listed.starts_at == local
    assert listed.starts_at.utcoffset() == timedelta(0)
    assert listed.ends_at.tzinfo is not None


@pytest.mark.asyncio
async def test_naive_times_are_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="naive"):
        await book(store, start=datetime(2026, 12, 2, 10, 0))
    assert await store.appointments.count() == 0


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


# --- follow-ups and imports -------------------------------------------------------------------


@pytest.mark.asyncio
async def test_follow_ups_create_and_list_soonest_first(store: Store, clock: FixedClock) -> None:
    later, patient = await store.follow_ups.create(
        phone=PHONE,
        name="Arta Hoxha",
        due_at=at(15, 0, day=4),
        reason="wants a price for whitening",
        source="agent",
        call_id="call-1",
    )
    sooner, same_patient = await store.follow_ups.create(
        phone=PHONE, name="Ignored Name", due_at=at(9, 30, day=3), reason=None, source="cli"
    )
    assert same_patient.id == patient.id
    assert same_patient.name == "Arta Hoxha"
    assert await store.patients.count() == 1
    assert later.status == "pending"
    assert (later.reason, later.source, later.call_id) == (
        "wants a price for whitening",
        "agent",
        "call-1",
    )
    assert later.due_at == at(15, 0, day=4)
    assert later.created_at == clock.now
    assert [f.id for f in await store.follow_ups.list()] == [sooner.id, later.id]
    assert await store.follow_ups.list(status="done") == []


@pytest.mark.asyncio
async def test_legacy_keys_cover_appointments_and_follow_ups(store: Store) -> None:
    assert await store.appointments.legacy_keys() == set()
    await store.appointments.import_past(
        phone=PHONE,
        name="Arta Hoxha",
        service_id="checkup",
        starts_at=datetime(2025, 1, 10, 10, 0, tzinfo=TIRANE),
        ends_at=datetime(2025, 1, 10, 10, 30, tzinfo=TIRANE),
        price_lek=2000,
        legacy_key="appt-7",
    )
    await store.follow_ups.create(
        phone=PHONE,
        name="Arta Hoxha",
        due_at=at(10, 0, day=3),
        reason=None,
        source="import",
        legacy_key="fu-3",
    )
    await book(store, source="import", legacy_key="appt-8")
    await book(store, start=at(11), number=OTHER)  # no key
    assert await store.appointments.legacy_keys() == {"appt-7", "fu-3", "appt-8"}
    with pytest.raises(sqlite3.IntegrityError):
        await store.follow_ups.create(
            phone=PHONE,
            name="Arta Hoxha",
            due_at=at(10, 0, day=3),
            reason=None,
            source="import",
            legacy_key="fu-3",
        )


# --- parameterised SQL ------------------------------------------------------------------------

INJECTIONS = [
    "Robert'); DROP TABLE patients;--",
    "x' OR '1'='1",
    '"; DELETE FROM appointments; --',
    "name`) VALUES (1); --",
]


@pytest.mark.asyncio
@pytest.mark.parametrize("payload", INJECTIONS)
async def test_injection_strings_are_stored_verbatim(store: Store, raw, payload: str) -> None:
    result = await book(store, name=payload, call_id=payload)
    assert isinstance(result, Booked)
    assert result.patient.name == payload
    assert result.appointment.call_id == payload
    follow_up, _ = await store.follow_ups.create(
        phone=OTHER, name=payload, due_at=at(10, 0, day=3), reason=payload, source="agent"
    )
    assert follow_up.reason == payload
    await store.calls.start(call_id=payload)
    await store.calls.save_progress(
        call_id=payload,
        transcript=[{"text": payload}],
        counters={payload: 1},
        turns=1,
        tool_calls=0,
    )
    call = await store.calls.get(call_id=payload)
    assert call is not None
    assert call.transcript == [{"text": payload}]
    assert call.counters == {payload: 1}
    # Nothing was executed: every table is intact and holds exactly what was written.
    tables = {r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"patients", "appointments", "follow_ups", "calls"} <= tables
    assert raw.execute("SELECT name FROM patients ORDER BY id").fetchall() == [
        (payload,),
        (payload,),
    ]
    assert await store.appointments.count() == 1


@pytest.mark.asyncio
@pytest.mark.parametrize("payload", INJECTIONS)
async def test_injection_strings_as_lookup_keys_match_nothing(store: Store, payload: str) -> None:
    await store.patients.upsert(phone=PHONE, name="Arta Hoxha")
    assert await store.patients.get(phone=payload) is None
    assert await store.calls.get(call_id=payload) is None
    assert await store.follow_ups.list(status=payload) == []


@pytest.mark.asyncio
async def test_non_integer_money_is_refused_and_nothing_is_written(store: Store) -> None:
    with pytest.raises(sqlite3.IntegrityError):
        await store.appointments.book(
            phone="+355691234567",
            name="Arbër Çela",
            service_id="checkup",
            starts_at=WED_10,
            ends_at=WED_10 + SLOT,
            slot=SLOT,
            chairs=1,
            price_lek=2000.5,  # type: ignore[arg-type]
            source="agent",
        )
    assert await store.appointments.count() == 0
    assert await store.patients.count() == 0
    assert (await store.calls.stats()).revenue_generated == 0


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
async def test_patient_name_words_ignore_case_and_accents_but_not_word_edges(store: Store) -> None:
    await store.patients.upsert(phone="+355691234567", name="Arbër Çela")
    await store.patients.upsert(phone="+355682223344", name="Anna-Maria O'Neil")
    await store.patients.upsert(phone="+355672223344", name="Anastasia Lika")
    found = await store.patients.name_words(
        ["ARBER", "çela", "Cela", "maria", "Neil", "ana", "Anna", "lik", "root", "canal", "x2"]
    )
    assert found == {"arber", "cela", "maria", "neil", "anna"}
    assert await store.patients.name_words([]) == set()


@pytest.mark.asyncio
async def test_patient_name_words_see_patients_added_later_by_any_connection(
    store: Store, db_path: Path
) -> None:
    assert await store.patients.name_words(["drita"]) == set()
    other = await Store.open(db_path, tz=TIRANE)
    try:
        await other.patients.upsert(phone="+355682223344", name="Drita Kola")
    finally:
        await other.close()
    assert await store.patients.name_words(["Drita", "kolá"]) == {"drita", "kola"}
    await store.patients.upsert(phone="+355691234567", name="Arbër Çela")
    assert await store.patients.name_words(["arber", "drita"]) == {"arber", "drita"}
