"""Free-slot search: opening hours x chairs x service duration, minus what is taken.

The clock is Tue 2026-12-01 08:00 (a public holiday); Wed 2 to Sat 5 December are open, Sunday 6 is
closed, Tuesday 8 is a holiday. Booking needs 60 minutes' notice and is open 90 days ahead.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from config.clinic import ClinicProfile
from scheduling.calendar import ClinicCalendar
from scheduling.slots import BookingRules, Occupancy, Slot, SlotFinder
from storage import Store
from tests.conftest import DEFAULT_NOW, FixedClock

TIRANE = ZoneInfo("Europe/Tirane")
NOW = DEFAULT_NOW
RULES = BookingRules(min_notice=timedelta(minutes=60), horizon=timedelta(days=90))
MIN30, MIN60, MIN90 = (timedelta(minutes=m) for m in (30, 60, 90))
WED, THU, FRI, SAT, SUN, MON = (date(2026, 12, d) for d in (2, 3, 4, 5, 6, 7))


def at(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(day, time(hh, mm), tzinfo=TIRANE)


def hm(slots: Iterable[Slot | datetime]) -> list[str]:
    return [
        f"{(s.start if isinstance(s, Slot) else s):%a %H:%M}"  # e.g. "Wed 09:30"
        for s in slots
    ]


class Occupied:
    """The documented lookup interface over a plain dict: UTC slot start -> chairs taken."""

    def __init__(self) -> None:
        self.taken: dict[datetime, set[int]] = {}
        self.calls: list[tuple[datetime, datetime]] = []

    def take(self, start: datetime, duration: timedelta, *chairs: int) -> None:
        moment = start
        while moment < start + duration:
            self.taken.setdefault(moment.astimezone(UTC), set()).update(chairs)
            moment += timedelta(minutes=30)

    async def __call__(self, start: datetime, end: datetime) -> Occupancy:
        self.calls.append((start, end))
        return {k: frozenset(v) for k, v in self.taken.items() if start <= k < end}


@pytest.fixture
def occupied() -> Occupied:
    return Occupied()


@pytest.fixture
def finder(clinic: ClinicProfile, occupied: Occupied) -> SlotFinder:
    return SlotFinder(clinic, ClinicCalendar(clinic), RULES, occupied)


# --- candidate starts ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "duration", "first", "last", "count", "absent"),
    [
        (WED, MIN30, "09:00", "18:30", 18, ["13:00", "13:30"]),  # lunch break
        (WED, MIN60, "09:00", "18:00", 16, ["12:30", "18:30"]),  # no start across lunch
        (WED, MIN90, "09:00", "17:30", 14, ["12:00", "12:30", "18:00"]),
        (FRI, MIN60, "09:00", "17:00", 14, ["17:30"]),  # Friday closes at 18:00
        (SAT, MIN60, "09:00", "13:00", 9, []),  # Saturday: one interval, no lunch break
    ],
)
def test_candidate_starts_fit_the_service_inside_one_interval(
    finder: SlotFinder,
    day: date,
    duration: timedelta,
    first: str,
    last: str,
    count: int,
    absent: list[str],
) -> None:
    starts = finder.candidate_starts(day, duration)
    labels = [f"{s:%H:%M}" for s in starts]
    assert (labels[0], labels[-1], len(labels)) == (first, last, count)
    assert not set(absent) & set(labels)
    assert starts == sorted(starts)
    assert all(s.minute % 30 == 0 for s in starts)
    assert all(s.tzinfo == TIRANE for s in starts)


@pytest.mark.parametrize("day", [SUN, date(2026, 12, 1), date(2026, 12, 24), date(2026, 12, 25)])
def test_no_candidates_on_closed_days(finder: SlotFinder, day: date) -> None:
    assert finder.candidate_starts(day, MIN30) == []


def test_a_service_longer_than_any_interval_has_no_candidates(clinic: ClinicProfile) -> None:
    finder = SlotFinder(clinic, ClinicCalendar(clinic), RULES, Occupied())
    assert finder.candidate_starts(WED, timedelta(hours=5, minutes=30)) == []
    assert hm(finder.candidate_starts(WED, timedelta(hours=5))) == ["Wed 14:00"]


# --- rule violations -----------------------------------------------------------------------


WEEKDAY_HOURS = "outside opening hours (09:00-13:00, 14:00-19:00)"


@pytest.mark.parametrize(
    ("start", "duration", "reason"),
    [
        (at(date(2026, 11, 30), 10), MIN30, "that time is in the past"),
        (at(date(2026, 12, 1), 7, 30), MIN30, "that time is in the past"),
        (
            at(date(2026, 12, 1), 8, 30),
            MIN30,
            "that is too soon; bookings need at least 60 minutes' notice",
        ),
        (at(date(2027, 3, 10), 10), MIN30, "that is more than 90 days ahead"),
        (at(SUN, 10), MIN30, "the clinic is closed on Sundays"),
        (at(date(2026, 12, 8), 10), MIN30, "public holiday (Dita Kombëtare e Rinisë)"),
        (at(date(2026, 12, 25), 10), MIN30, "public holiday (Krishtlindjet)"),
        (at(date(2026, 12, 24), 10), MIN30, "the clinic is closed that day"),
        (at(WED, 10, 15), MIN30, "times must be on the 30-minute grid (e.g. 10:00, 10:30)"),
        (
            at(WED, 10, 0) + timedelta(seconds=30),
            MIN30,
            "times must be on the 30-minute grid (e.g. 10:00, 10:30)",
        ),
        (at(WED, 3), MIN30, f"that is {WEEKDAY_HOURS} for a 30-minute service"),
        (at(WED, 13), MIN30, f"that is {WEEKDAY_HOURS} for a 30-minute service"),
        (at(WED, 12, 30), MIN60, f"that is {WEEKDAY_HOURS} for a 60-minute service"),
        (at(WED, 18, 30), MIN60, f"that is {WEEKDAY_HOURS} for a 60-minute service"),
        (
            at(SAT, 13, 30),
            MIN60,
            "that is outside opening hours (09:00-14:00) for a 60-minute service",
        ),
    ],
)
def test_rule_violation_reasons(
    finder: SlotFinder, start: datetime, duration: timedelta, reason: str
) -> None:
    assert finder.rule_violation(start, duration, NOW) == reason


@pytest.mark.parametrize(
    ("start", "duration"),
    [
        (at(WED, 9), MIN30),
        (at(WED, 12, 30), MIN30),
        (at(WED, 12), MIN60),
        (at(WED, 18), MIN60),
        (at(SAT, 13), MIN60),
        (datetime(2026, 12, 2, 9, 0, tzinfo=UTC), MIN30),  # 10:00 in Tirana
        (at(date(2027, 2, 26), 17, 30), MIN30),  # Friday before the horizon ends (1 March 08:00)
    ],
)
def test_bookable_starts_have_no_violation(
    finder: SlotFinder, start: datetime, duration: timedelta
) -> None:
    assert finder.rule_violation(start, duration, NOW) is None


def test_notice_is_measured_from_now(finder: SlotFinder) -> None:
    now = at(WED, 9, 10)
    assert finder.rule_violation(at(WED, 10), MIN30, now) is not None
    assert finder.rule_violation(at(WED, 10, 30), MIN30, now) is None


def test_policy_off_skips_notice_and_horizon_only(finder: SlotFinder) -> None:
    now = at(WED, 9, 50)
    assert finder.rule_violation(at(WED, 10), MIN30, now, policy=False) is None
    assert finder.rule_violation(at(date(2027, 6, 2), 10), MIN30, now, policy=False) is None
    assert finder.rule_violation(at(WED, 9, 30), MIN30, now, policy=False) == (
        "that time is in the past"
    )
    assert finder.rule_violation(at(SUN, 10), MIN30, now, policy=False) == (
        "the clinic is closed on Sundays"
    )


# --- free slots with a fake occupancy lookup ------------------------------------------------


@pytest.mark.asyncio
async def test_empty_day_offers_every_candidate_with_all_chairs(
    finder: SlotFinder, occupied: Occupied
) -> None:
    slots = await finder.free_slots_on(WED, MIN60, NOW)
    assert [s.start for s in slots] == finder.candidate_starts(WED, MIN60)
    assert all(s.free_chairs == (1, 2, 3) and s.end - s.start == MIN60 for s in slots)
    # One look-up for the whole day, in UTC, covering every slot the day's services can touch.
    [(start, end)] = occupied.calls
    assert start.utcoffset() == timedelta(0) and start == at(WED, 9)
    assert end == at(WED, 19)


@pytest.mark.asyncio
async def test_a_slot_stays_while_one_chair_is_free(finder: SlotFinder, occupied: Occupied) -> None:
    occupied.take(at(WED, 10), MIN30, 1, 3)
    slots = {s.start: s for s in await finder.free_slots_on(WED, MIN30, NOW)}
    assert slots[at(WED, 10)].free_chairs == (2,)
    assert slots[at(WED, 9, 30)].free_chairs == (1, 2, 3)


@pytest.mark.asyncio
async def test_a_full_slot_removes_every_start_overlapping_it(
    finder: SlotFinder, occupied: Occupied
) -> None:
    occupied.take(at(WED, 10), MIN30, 1, 2, 3)
    short = hm(await finder.free_slots_on(WED, MIN30, NOW))
    assert "Wed 10:00" not in short and {"Wed 09:30", "Wed 10:30"} <= set(short)
    long = hm(await finder.free_slots_on(WED, MIN90, NOW))
    assert not {"Wed 09:00", "Wed 09:30", "Wed 10:00"} & set(long)
    assert {"Wed 10:30", "Wed 14:00"} <= set(long)


@pytest.mark.asyncio
async def test_one_chair_must_be_free_for_the_whole_service(
    finder: SlotFinder, occupied: Occupied
) -> None:
    # Each half hour has a free chair, but no chair is free for the full hour.
    occupied.take(at(WED, 10), MIN30, 1)
    occupied.take(at(WED, 10, 30), MIN30, 2, 3)
    short = {s.start: s.free_chairs for s in await finder.free_slots_on(WED, MIN30, NOW)}
    assert short[at(WED, 10)] == (2, 3)
    assert short[at(WED, 10, 30)] == (1,)
    long = {s.start: s.free_chairs for s in await finder.free_slots_on(WED, MIN60, NOW)}
    assert at(WED, 10) not in long
    assert long[at(WED, 9, 30)] == (2, 3)
    assert long[at(WED, 10, 30)] == (1,)


@pytest.mark.asyncio
async def test_free_slots_respect_notice_and_horizon(
    finder: SlotFinder, occupied: Occupied
) -> None:
    now = at(WED, 10, 10)
    assert hm(await finder.free_slots_on(WED, MIN30, now))[:2] == ["Wed 11:30", "Wed 12:00"]
    assert await finder.free_slots_on(date(2026, 11, 30), MIN30, now) == []
    beyond = date(2027, 3, 3)  # Wednesday, past the 90-day horizon
    assert await finder.free_slots_on(beyond, MIN30, now) == []
    last_day = await finder.free_slots_on(date(2027, 3, 2), MIN30, now)  # horizon ends 10:10
    assert hm(last_day) == ["Tue 09:00", "Tue 09:30", "Tue 10:00"]


@pytest.mark.asyncio
async def test_closed_day_needs_no_lookup(finder: SlotFinder, occupied: Occupied) -> None:
    assert await finder.free_slots_on(SUN, MIN30, NOW) == []
    assert await finder.free_slots_on(date(2026, 12, 25), MIN30, NOW) == []
    assert occupied.calls == []


def test_slot_to_result_is_json_ready() -> None:
    slot = Slot(start=at(WED, 9, 30), end=at(WED, 10, 30), free_chairs=(2,))
    assert slot.to_result() == {
        "start": "2026-12-02T09:30+01:00",
        "end": "2026-12-02T10:30+01:00",
        "weekday": "Wednesday",
    }


# --- nearest and next_free -----------------------------------------------------------------


@pytest.mark.asyncio
async def test_nearest_is_closest_first_then_chronological(finder: SlotFinder) -> None:
    slots = await finder.nearest(at(WED, 10), MIN30, NOW, count=3)
    assert hm(slots) == ["Wed 09:30", "Wed 10:00", "Wed 10:30"]


@pytest.mark.asyncio
async def test_nearest_skips_taken_slots(finder: SlotFinder, occupied: Occupied) -> None:
    occupied.take(at(WED, 10), MIN30, 1, 2, 3)
    assert hm(await finder.nearest(at(WED, 10), MIN30, NOW, count=2)) == [
        "Wed 09:30",
        "Wed 10:30",
    ]


@pytest.mark.asyncio
async def test_nearest_skips_closed_days_and_looks_both_ways(finder: SlotFinder) -> None:
    # Sunday 12:10: Monday morning is nearer than Saturday's last slots, except Sat 13:30.
    slots = await finder.nearest(at(SUN, 12, 10), MIN30, NOW, count=5)
    assert hm(slots) == ["Sat 13:30", "Mon 09:00", "Mon 09:30", "Mon 10:00", "Mon 10:30"]


@pytest.mark.asyncio
async def test_nearest_never_offers_the_past_or_a_holiday(finder: SlotFinder) -> None:
    # Today is a holiday and yesterday is past: the nearest are tomorrow's first slots.
    slots = await finder.nearest(NOW, MIN60, NOW, count=2)
    assert [s.start for s in slots] == [at(WED, 9), at(WED, 9, 30)]
    # Around the Tuesday 8 December holiday, Monday evening and Wednesday morning are nearest.
    slots = await finder.nearest(at(date(2026, 12, 8), 13, 40), MIN60, NOW, count=3)
    assert hm(slots) == ["Mon 18:00", "Wed 09:00", "Wed 09:30"]


@pytest.mark.asyncio
async def test_nearest_moves_past_a_fully_booked_day(
    finder: SlotFinder, occupied: Occupied
) -> None:
    for start in finder.candidate_starts(THU, MIN30):
        occupied.take(start, MIN30, 1, 2, 3)
    slots = await finder.nearest(at(THU, 14, 20), MIN30, NOW, count=4)
    assert hm(slots) == ["Wed 18:30", "Fri 09:00", "Fri 09:30", "Fri 10:00"]


@pytest.mark.asyncio
async def test_nearest_returns_fewer_when_little_is_free(clinic: ClinicProfile) -> None:
    occupied = Occupied()
    finder = SlotFinder(clinic, ClinicCalendar(clinic), RULES, occupied)
    for offset in range(40):
        day = WED + timedelta(days=offset)
        for start in finder.candidate_starts(day, MIN30):
            if start != at(FRI, 11):
                occupied.take(start, MIN30, 1, 2, 3)
    assert hm(await finder.nearest(at(THU, 10), MIN30, NOW, count=4)) == ["Fri 11:00"]


@pytest.mark.asyncio
async def test_next_free(finder: SlotFinder, occupied: Occupied) -> None:
    assert hm(await finder.next_free(at(WED, 12, 10), MIN30, NOW, count=3)) == [
        "Wed 12:30",
        "Wed 14:00",
        "Wed 14:30",
    ]
    assert hm(await finder.next_free(at(WED, 12, 10), MIN60, NOW, count=2)) == [
        "Wed 14:00",
        "Wed 14:30",
    ]
    # Saturday afternoon rolls over the closed Sunday to Monday.
    assert hm(await finder.next_free(at(SAT, 13, 40), MIN30, NOW, count=2)) == [
        "Mon 09:00",
        "Mon 09:30",
    ]
    # A time in the past means "from now": the holiday today is skipped too.
    assert hm(await finder.next_free(at(date(2026, 11, 1), 9), MIN30, NOW, count=1)) == [
        "Wed 09:00"
    ]
    occupied.take(at(WED, 14), MIN30, 1, 2, 3)
    assert hm(await finder.next_free(at(WED, 13, 50), MIN30, NOW, count=1)) == ["Wed 14:30"]


# --- against a brute-force search ----------------------------------------------------------


async def _all_free(finder: SlotFinder, duration: timedelta, first: date, days: int) -> list[Slot]:
    found: list[Slot] = []
    for offset in range(days):
        found.extend(await finder.free_slots_on(first + timedelta(days=offset), duration, NOW))
    return found


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    target=st.datetimes(min_value=datetime(2026, 11, 25), max_value=datetime(2027, 1, 10)).map(
        lambda d: d.replace(tzinfo=TIRANE)
    ),
    taken_days=st.sets(st.integers(min_value=0, max_value=40), max_size=20),
    duration=st.sampled_from([MIN30, MIN60, MIN90]),
    count=st.integers(min_value=1, max_value=8),
)
@pytest.mark.asyncio
async def test_nearest_matches_brute_force(
    clinic: ClinicProfile, target: datetime, taken_days: set[int], duration: timedelta, count: int
) -> None:
    occupied = Occupied()
    finder = SlotFinder(clinic, ClinicCalendar(clinic), RULES, occupied)
    for offset in taken_days:  # some whole days fully booked
        day = date(2026, 12, 1) + timedelta(days=offset)
        for start in finder.candidate_starts(day, MIN30):
            occupied.take(start, MIN30, 1, 2, 3)
    got = await finder.nearest(target, duration, NOW, count=count)
    # nearest() looks at most 21 days either side of the target.
    every = await _all_free(finder, duration, target.date() - timedelta(days=21), 43)
    assert got == sorted(got, key=lambda s: s.start)
    assert len(got) == min(count, len(every))
    distances = sorted(abs(s.start - target) for s in every)
    assert sorted(abs(s.start - target) for s in got) == distances[: len(got)]


# --- with the real store -------------------------------------------------------------------


async def _book(store: Store, clinic: ClinicProfile, start: datetime, service_id: str, n: int):
    service = clinic.services_by_id[service_id]
    results = []
    for i in range(n):
        results.append(
            await store.appointments.book(
                phone=f"+3556920000{i:02d}",
                name="Arbër Çela",
                service_id=service_id,
                starts_at=start,
                ends_at=start + timedelta(minutes=service.duration_minutes),
                slot=clinic.slot,
                chairs=clinic.chairs,
                price_lek=service.price_lek,
                source="cli",
            )
        )
    return results


def _store_finder(clinic: ClinicProfile, store: Store) -> SlotFinder:
    async def occupancy(start: datetime, end: datetime) -> Occupancy:
        return await store.appointments.occupancy(start=start, end=end)

    return SlotFinder(clinic, ClinicCalendar(clinic), RULES, occupancy)


@pytest.mark.asyncio
async def test_real_store_bookings_fill_chairs(
    clinic: ClinicProfile, store: Store, clock: FixedClock
) -> None:
    finder = _store_finder(clinic, store)
    await _book(store, clinic, at(WED, 10), "cleaning", 2)  # 10:00-11:00 on two chairs
    slots = {s.start: s.free_chairs for s in await finder.free_slots_on(WED, MIN60, clock())}
    assert slots[at(WED, 10)] == (3,)
    assert slots[at(WED, 9, 30)] == (3,)
    assert slots[at(WED, 9)] == (1, 2, 3)

    booked = await _book(store, clinic, at(WED, 10, 30), "checkup", 1)  # third chair, 10:30
    slots = {s.start: s.free_chairs for s in await finder.free_slots_on(WED, MIN60, clock())}
    assert at(WED, 10) not in slots and at(WED, 10, 30) not in slots
    assert slots[at(WED, 9, 30)] == (3,)  # 9:30-10:30 only needs chair 3 until 10:30
    assert slots[at(WED, 11)] == (1, 2, 3)  # the cleanings end at 11:00
    nearest = await finder.nearest(at(WED, 10, 30), MIN60, clock(), count=1)
    assert hm(nearest) == ["Wed 11:00"]

    # Cancelling releases the chair again.
    await store.appointments.set_status(appointment_id=booked[0].appointment.id, status="cancelled")
    slots = {s.start: s.free_chairs for s in await finder.free_slots_on(WED, MIN60, clock())}
    assert slots[at(WED, 10, 30)] == (3,)


@pytest.mark.asyncio
async def test_real_store_one_chair(one_chair_clinic: ClinicProfile, store: Store) -> None:
    finder = _store_finder(one_chair_clinic, store)
    await _book(store, one_chair_clinic, at(FRI, 17), "filling", 1)  # 17:00-18:00, closing time
    free = hm(await finder.free_slots_on(FRI, MIN30, NOW))
    assert free[-2:] == ["Fri 16:00", "Fri 16:30"]
    assert hm(await finder.next_free(at(FRI, 16, 40), MIN30, NOW, count=1)) == ["Sat 09:00"]
