"""Appointments against a real SQLite file: booking, the double-booking backstop, money, time."""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime, timedelta

import pytest

from storage import Booked, SlotTaken, Store
from storage.errors import NotFoundError
from tests.conftest import TIRANE, FixedClock
from tests.storage.booking import OTHER, PHONE, WED_10, at, book, phone

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


@pytest.mark.asyncio
async def test_active_at_finds_only_this_numbers_active_booking(store: Store) -> None:
    booked = await book(store, chairs=2)
    assert isinstance(booked, Booked)
    assert isinstance(await book(store, number=OTHER, chairs=2), Booked)
    found = await store.appointments.active_at(phone=PHONE, service_id="checkup", starts_at=WED_10)
    assert found is not None and found.id == booked.appointment.id
    # Another service, another start, another number: not the same booking.
    assert (
        await store.appointments.active_at(phone=PHONE, service_id="cleaning", starts_at=WED_10)
        is None
    )
    assert (
        await store.appointments.active_at(phone=PHONE, service_id="checkup", starts_at=at(11))
        is None
    )
    assert (
        await store.appointments.active_at(phone=phone(9), service_id="checkup", starts_at=WED_10)
        is None
    )
    await store.appointments.set_status(appointment_id=booked.appointment.id, status="cancelled")
    assert (
        await store.appointments.active_at(phone=PHONE, service_id="checkup", starts_at=WED_10)
        is None
    )


# SQLite's trace callback and EXPLAIN QUERY PLAN (PostgreSQL's planner chooses by statistics).
@pytest.mark.sqlite_only
@pytest.mark.asyncio
async def test_reads_before_a_booking_use_their_indexes(store: Store) -> None:
    """The look-ups a booking makes must not read every active appointment of the clinic.

    SQLite prefers an index on an equality (status) over one on a range (start) unless told
    otherwise; the benchmark found a booking's repeated-booking check read them all.
    """

    statements: list[str] = []
    await store.db.conn.set_trace_callback(statements.append)
    try:
        await store.appointments.list(start=at(0), end=at(23))
        await store.appointments.active_at(phone=PHONE, service_id="checkup", starts_at=WED_10)
    finally:
        await store.db.conn.set_trace_callback(None)
    (listed,) = [sql for sql in statements if sql.startswith("SELECT * FROM appointments")]
    (same,) = [sql for sql in statements if "JOIN patients" in sql]

    async def plan(sql: str) -> str:
        # The trace gives each statement with its parameters bound in.
        rows = await store.db.rows("EXPLAIN QUERY PLAN " + sql)
        return " | ".join(row["detail"] for row in rows)

    listed_plan = await plan(listed)
    assert "appointments_starts_at" in listed_plan
    assert "appointments_status" not in listed_plan
    same_plan = await plan(same)
    assert "appointments_patient" in same_plan
    assert "SCAN" not in same_plan


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
