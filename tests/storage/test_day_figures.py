"""The Today page's figures: per clinic-local day, DST-correct, every day present."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from storage import Booked, Store
from storage.dashboard_models import DayFigures
from tests.conftest import TIRANE, FixedClock
from tests.storage.booking import SLOT, phone
from tests.storage.dashboard_data import make_call

# Europe/Tirane: summer time starts Sunday 29 March 2026 at 02:00 local (01:00 UTC), so that
# local day runs from 28 March 23:00 UTC to 29 March 22:00 UTC: 23 hours.
SPRING = date(2026, 3, 29)
# It ends Sunday 25 October 2026 at 03:00 local (01:00 UTC): that day has 25 hours.
AUTUMN = date(2026, 10, 25)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


async def _book(store: Store, clock: FixedClock, *, n: int, at: datetime, price: int, call: str):
    clock.now = at
    start = datetime(2026, 12, 2, 9, 0, tzinfo=TIRANE) + timedelta(minutes=30 * n)
    booked = await store.appointments.book(
        phone=phone(n),
        name="Arta Hoxha",
        service_id="checkup",
        starts_at=start,
        ends_at=start + SLOT,
        slot=SLOT,
        chairs=1,
        price_lek=price,
        source="agent",
        call_id=call,
    )
    assert isinstance(booked, Booked)
    return booked.appointment


@pytest.mark.asyncio
async def test_a_day_counts_calls_answered_bookings_revenue_conversion_and_no_shows(
    store: Store, clock: FixedClock
) -> None:
    day = date(2026, 12, 1)
    morning = datetime(2026, 12, 1, 9, 0, tzinfo=TIRANE)
    outcomes = ["booked", "booked", "declined", "not_answered", "voicemail", "hung_up", "failed"]
    for i, outcome in enumerate(outcomes):
        await make_call(
            store, clock, call_id=f"c{i}", at=morning + timedelta(minutes=i), outcome=outcome
        )
    # Not finished yet: a call in progress counts as a call, not (yet) as answered.
    await make_call(store, clock, call_id="live", at=morning + timedelta(hours=1), outcome=None)
    # The day before and after: not counted.
    await make_call(store, clock, call_id="before", at=morning - timedelta(days=1))
    await make_call(store, clock, call_id="after", at=morning + timedelta(days=1))
    await _book(store, clock, n=1, at=morning, price=2000, call="c0")
    await _book(store, clock, n=2, at=morning, price=3500, call="c1")
    cancelled = await _book(store, clock, n=3, at=morning, price=9000, call="c1")
    await store.appointments.set_status(appointment_id=cancelled.id, status="cancelled")
    # A booking made at the command line is no call's booking.
    clock.now = morning
    start = datetime(2026, 12, 3, 9, 0, tzinfo=TIRANE)
    await store.appointments.book(
        phone=phone(9), name="Ben Leka", service_id="checkup", starts_at=start,
        ends_at=start + SLOT, slot=SLOT, chairs=1, price_lek=5000, source="cli",
    )  # fmt: skip
    # No-shows are appointments of the day (by start), whenever they were booked.
    no_show = await _book(store, clock, n=4, at=morning - timedelta(days=40), price=1, call="x")
    await store.db.conn.execute(
        "UPDATE appointments SET starts_at = '2026-12-01T10:00:00Z', status = 'no_show'"
        " WHERE id = ?",
        (no_show.id,),
    )
    figures = await store.figures.day(day=day)
    assert figures == DayFigures(
        day=day,
        calls=8,
        answered=4,  # booked, booked, declined, hung_up (not: not_answered, voicemail, failed)
        bookings=2,
        revenue_lek=5500,  # the cancelled booking and the command line's are not counted
        conversion=0.5,
        no_shows=1,
    )


@pytest.mark.asyncio
async def test_days_follow_the_clinic_clock_across_daylight_saving_changes(
    store: Store, clock: FixedClock
) -> None:
    starts = {
        "spring-before": utc(2026, 3, 28, 22, 59),  # 23:59 local on the 28th
        "spring-first": utc(2026, 3, 28, 23, 0),  # 00:00 local on the 29th (still +01:00)
        "spring-last": utc(2026, 3, 29, 21, 59),  # 23:59 local (+02:00) on the 29th
        "spring-after": utc(2026, 3, 29, 22, 0),  # 00:00 local on the 30th
        "autumn-first": utc(2026, 10, 24, 22, 0),  # 00:00 local (+02:00) on the 25th
        "autumn-last": utc(2026, 10, 25, 22, 59),  # 23:59 local (+01:00) on the 25th
        "autumn-after": utc(2026, 10, 25, 23, 0),  # 00:00 local on the 26th
    }
    for call_id, at in starts.items():
        await make_call(store, clock, call_id=call_id, at=at)
    spring = await store.figures.series(last_day=SPRING + timedelta(days=1), days=3)
    assert [(f.day, f.calls) for f in spring] == [
        (date(2026, 3, 28), 1),
        (SPRING, 2),
        (date(2026, 3, 30), 1),
    ]
    autumn = await store.figures.series(last_day=AUTUMN + timedelta(days=1), days=2)
    assert [(f.day, f.calls) for f in autumn] == [(AUTUMN, 2), (date(2026, 10, 26), 1)]
    # Aware datetimes of one zone subtract as wall times; the real length is in UTC.
    for day, hours in ((SPRING, 23), (AUTUMN, 25), (date(2026, 12, 1), 24)):
        start, end = store.figures.bounds(day)
        assert end.astimezone(UTC) - start.astimezone(UTC) == timedelta(hours=hours)


@pytest.mark.asyncio
async def test_the_series_has_every_day_with_zeros_oldest_first(
    store: Store, clock: FixedClock
) -> None:
    await make_call(store, clock, call_id="a", at=datetime(2026, 11, 20, 10, tzinfo=TIRANE))
    await make_call(store, clock, call_id="b", at=datetime(2026, 11, 20, 11, tzinfo=TIRANE))
    series = await store.figures.series(last_day=date(2026, 12, 1), days=30)
    assert len(series) == 30
    assert series[0].day == date(2026, 11, 2) and series[-1].day == date(2026, 12, 1)
    assert [f.day for f in series] == sorted(f.day for f in series)
    by_day = {f.day: f for f in series}
    assert by_day[date(2026, 11, 20)].calls == 2
    assert sum(f.calls for f in series) == 2
    empty = by_day[date(2026, 11, 21)]
    assert (empty.calls, empty.answered, empty.bookings, empty.revenue_lek) == (0, 0, 0, 0)
    assert empty.conversion == 0.0
    with pytest.raises(ValueError, match="days"):
        await store.figures.series(last_day=date(2026, 12, 1), days=0)
