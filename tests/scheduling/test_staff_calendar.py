"""StaffCalendar: the day and week per chair, and staff changes checked against the profile.

Real SQLite files; the clock is Tue 2026-12-01 08:00 (a holiday), the sample clinic has three
chairs open 09:00-13:00 and 14:00-19:00 on weekdays.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest

from config.clinic import ClinicProfile
from config.clock import Clock
from scheduling.calendar import ClinicCalendar
from scheduling.slots import BookingRules, SlotFinder
from scheduling.staff_calendar import SlotUnavailable, StaffCalendar
from storage import Appointment, Booked, Store
from storage.calendar_models import BookingRefused
from tests.conftest import TIRANE, FixedClock

pytestmark = pytest.mark.asyncio
ACTOR = "web:arta"
WED = date(2026, 12, 2)
RULES = BookingRules(min_notice=timedelta(minutes=60), horizon=timedelta(days=400))


def at(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(day, time(hh, mm), tzinfo=TIRANE)


def desk_for(store: Store, clinic: ClinicProfile, clock: Clock) -> StaffCalendar:
    calendar = ClinicCalendar(clinic)

    async def occupancy(start: datetime, end: datetime):
        return await store.appointments.occupancy(start=start, end=end)

    return StaffCalendar(
        store=store,
        clinic=clinic,
        calendar=calendar,
        slots=SlotFinder(clinic, calendar, RULES, occupancy),
        clock=clock,
        max_alternatives=4,
    )


@pytest.fixture
def desk(store: Store, clinic: ClinicProfile, clock: FixedClock) -> StaffCalendar:
    return desk_for(store, clinic, clock)


async def test_day_view_per_chair_with_appointments_and_free_times(desk: StaffCalendar) -> None:
    booked = await desk.book(
        phone="069 123 4567",
        name="Arta Hoxha",
        service_id="cleaning",
        starts_at=at(WED, 10),
        actor=ACTOR,
        chair=2,
    )
    assert isinstance(booked, Booked)
    view = await desk.day(day=WED)
    assert (view.starts_at, view.ends_at - view.starts_at) == (at(WED, 0), timedelta(hours=24))
    assert [(r.start, r.end) for r in view.open_intervals] == [
        (at(WED, 9), at(WED, 13)),
        (at(WED, 14), at(WED, 19)),
    ]
    assert [c.chair for c in view.chairs] == [1, 2, 3]
    chair2 = view.chairs[1]
    (entry,) = chair2.appointments
    assert (entry.id, entry.service_id, entry.status) == (
        booked.appointment.id,
        "cleaning",
        "scheduled",
    )
    assert (entry.starts_at, entry.ends_at) == (at(WED, 10), at(WED, 11))
    assert (entry.patient_name, entry.patient_phone_masked) == ("Arta Hoxha", "+355*******67")
    assert [(r.start, r.end) for r in chair2.free] == [
        (at(WED, 9), at(WED, 10)),
        (at(WED, 11), at(WED, 13)),
        (at(WED, 14), at(WED, 19)),
    ]
    assert view.chairs[0].appointments == [] and len(view.chairs[0].free) == 2


async def test_free_times_before_now_are_not_offered(
    desk: StaffCalendar, clock: FixedClock
) -> None:
    clock.now = at(WED, 11, 10)
    chair1 = (await desk.day(day=WED)).chairs[0]
    assert [(r.start, r.end) for r in chair1.free] == [
        (at(WED, 11, 30), at(WED, 13)),
        (at(WED, 14), at(WED, 19)),
    ]


async def test_the_clinic_rules_refuse_before_anything_is_written(
    desk: StaffCalendar, store: Store
) -> None:
    # Each refusal's code is what the dashboard translates for the person at the desk.
    cases = {
        "closed": (at(date(2026, 12, 6), 10), None, "checkup", "closed"),  # a Sunday
        "outside hours": (at(WED, 12, 30), None, "cleaning", "outside_hours"),  # past 13:00
        "off the grid": (at(WED, 10, 15), None, "checkup", "off_grid"),
        "in the past": (at(date(2026, 11, 30), 10), None, "checkup", "in_past"),
        "no chair 4": (at(WED, 10), 4, "checkup", "unknown_chair"),
        "no such service": (at(WED, 10), None, "tattoo", "unknown_service"),
        "time zone": (datetime(2026, 12, 2, 10), None, "checkup", "no_time_zone"),
    }
    for label, (start, chair, service, code) in cases.items():
        with pytest.raises(BookingRefused, match=label.split()[-1]) as refused:
            await desk.book(
                phone="069 123 4567", name="Arta Hoxha", service_id=service, starts_at=start,
                actor=ACTOR, chair=chair,
            )  # fmt: skip
        assert refused.value.code == code, label
        assert await store.appointments.count() == 0, label
    with pytest.raises(BookingRefused, match="phone") as refused:
        await desk.book(
            phone="12", name="Arta Hoxha", service_id="checkup", starts_at=at(WED, 10), actor=ACTOR
        )
    assert refused.value.code == "bad_phone"
    with pytest.raises(BookingRefused) as refused:
        await desk.book(
            phone="069 123 4567", name="<b>", service_id="checkup", starts_at=at(WED, 10),
            actor=ACTOR,
        )  # fmt: skip
    assert refused.value.code == "bad_name"
    assert await store.patients.count() == 0
    # Staff are not held to the patients' notice: a walk-in ten minutes from now is fine.
    soon = await desk.book(
        phone="069 123 4567", name="Arta Hoxha", service_id="checkup",
        starts_at=at(WED, 9), actor=ACTOR,
    )  # fmt: skip
    assert isinstance(soon, Booked)
    assert await store.patients.count() == 1


async def test_staff_are_offered_free_times_within_the_patients_notice(
    desk: StaffCalendar, clock: FixedClock
) -> None:
    # 09:40 on Wednesday: every chair is taken at 10:00, so a walk-in asking for 10:00 is
    # offered what is free soonest. Patients need 60 minutes' notice (RULES); staff do not.
    clock.now = at(WED, 9, 40)
    for n, chair in enumerate((1, 2, 3)):
        seeded = await desk.book(
            phone=f"+35569000000{n}", name="Drita Hoxha", service_id="checkup",
            starts_at=at(WED, 10), actor=ACTOR, chair=chair,
        )  # fmt: skip
        assert isinstance(seeded, Booked)
    lost = await desk.book(
        phone="069 123 4567", name="Arta Hoxha", service_id="checkup",
        starts_at=at(WED, 10), actor=ACTOR, chair=1,
    )  # fmt: skip
    assert isinstance(lost, SlotUnavailable)
    starts = [option.start for option in lost.alternatives]
    assert starts[0] == at(WED, 10, 30)  # 50 minutes away: within the patients' notice
    assert all(start >= clock.now for start in starts)
    walk_in = await desk.book(
        phone="069 123 4567", name="Arta Hoxha", service_id="checkup",
        starts_at=starts[0], actor=ACTOR,
    )  # fmt: skip
    assert isinstance(walk_in, Booked)
    # A patient's own reschedule keeps the notice, for the refusal and for the offers.
    mine = walk_in.appointment.id
    with pytest.raises(BookingRefused) as refused:
        await desk.move(
            appointment_id=mine, starts_at=at(WED, 10, 30), chair=3, actor=ACTOR,
            apply_booking_policy=True,
        )  # fmt: skip
    assert refused.value.code == "too_soon"
    for n, chair in enumerate((1, 2, 3)):
        await desk.book(
            phone=f"+35568222334{n}", name="Besa Lika", service_id="checkup",
            starts_at=at(WED, 11), actor=ACTOR, chair=chair,
        )  # fmt: skip
    by_patient = await desk.move(
        appointment_id=mine, starts_at=at(WED, 11), actor=ACTOR, apply_booking_policy=True
    )
    by_staff = await desk.move(appointment_id=mine, starts_at=at(WED, 11), actor=ACTOR)
    assert isinstance(by_patient, SlotUnavailable) and isinstance(by_staff, SlotUnavailable)
    assert at(WED, 10, 30) in [option.start for option in by_staff.alternatives]
    assert min(option.start for option in by_patient.alternatives) == at(WED, 11, 30)
    with pytest.raises(BookingRefused) as refused:
        await desk.move(
            appointment_id=mine, starts_at=at(date(2028, 3, 1), 10), actor=ACTOR,
            apply_booking_policy=True,
        )  # fmt: skip
    assert refused.value.code == "too_far"


async def _really_free(store: Store, clinic: ClinicProfile, start: datetime, end: datetime) -> bool:
    """Whether one chair is free for all of [start, end), read straight from the held slots."""
    taken = await store.appointments.occupancy(start=start, end=end)
    busy = set().union(*taken.values()) if taken else set()
    return len(busy) < clinic.chairs


async def test_two_desks_booking_one_chair_one_wins_the_other_gets_free_alternatives(
    db_path: Path, clinic: ClinicProfile
) -> None:
    clock = FixedClock()
    first = await Store.open(db_path, tz=TIRANE, clock=clock)
    second = await Store.open(db_path, tz=TIRANE, clock=clock)
    try:
        # Fill chair 2 and 3 at 10:00 so the alternatives must look elsewhere than 10:00.
        seed = desk_for(first, clinic, clock)
        for n, chair in enumerate((2, 3)):
            await seed.book(
                phone=f"+35569000000{n}", name="Drita Hoxha", service_id="checkup",
                starts_at=at(WED, 10), actor=ACTOR, chair=chair,
            )  # fmt: skip
        outcomes = await asyncio.gather(
            *(
                desk_for(s, clinic, clock).book(
                    phone=number,
                    name="Arta Hoxha",
                    service_id="cleaning",
                    starts_at=at(WED, 10),
                    actor=ACTOR,
                    chair=1,
                )
                for s, number in ((first, "+355691234567"), (second, "+355682223344"))
            )
        )
        winners = [o for o in outcomes if isinstance(o, Booked)]
        losers = [o for o in outcomes if isinstance(o, SlotUnavailable)]
        assert len(winners) == 1 and len(losers) == 1
        lost = losers[0]
        assert lost.message == "2026-12-02 10:00 on chair 1 is taken; pick another time"
        assert len(lost.alternatives) == 4
        for option in lost.alternatives:
            assert option.end - option.start == timedelta(minutes=60)  # the cleaning's length
            assert option.start != at(WED, 10)
            assert await _really_free(first, clinic, option.start.astimezone(UTC), option.end)
        # And one of them can be booked at once.
        retry = await desk_for(second, clinic, clock).book(
            phone="+355682223344", name="Ben Lika", service_id="cleaning",
            starts_at=lost.alternatives[0].start, actor=ACTOR,
        )  # fmt: skip
        assert isinstance(retry, Booked)
    finally:
        await first.close()
        await second.close()


async def test_move_keeps_the_identity_and_a_lost_move_keeps_the_old_slot(
    desk: StaffCalendar, store: Store
) -> None:
    mine = await desk.book(
        phone="069 123 4567", name="Arta Hoxha", service_id="cleaning",
        starts_at=at(WED, 10), actor=ACTOR,
    )  # fmt: skip
    other = await desk.book(
        phone="068 222 3344", name="Ben Lika", service_id="checkup",
        starts_at=at(WED, 15), actor=ACTOR, chair=1,
    )  # fmt: skip
    assert isinstance(mine, Booked) and isinstance(other, Booked)
    lost = await desk.move(
        appointment_id=mine.appointment.id, starts_at=at(WED, 15), actor=ACTOR, chair=1
    )
    assert isinstance(lost, SlotUnavailable) and lost.alternatives
    assert await store.calendar.get(appointment_id=mine.appointment.id) == mine.appointment
    moved = await desk.move(appointment_id=mine.appointment.id, starts_at=at(WED, 16), actor=ACTOR)
    assert isinstance(moved, Appointment)
    assert (moved.id, moved.starts_at, moved.ends_at, moved.revision) == (
        mine.appointment.id,
        at(WED, 16),
        at(WED, 17),
        1,
    )
    with pytest.raises(BookingRefused, match="outside opening hours"):
        await desk.move(appointment_id=moved.id, starts_at=at(WED, 18, 30), actor=ACTOR)
    # A patient's own reschedule (issue 13) is held to the notice and horizon too.
    with pytest.raises(BookingRefused, match="too soon"):
        await desk.move(
            appointment_id=moved.id, starts_at=at(date(2026, 12, 1), 8, 30), actor=ACTOR,
            apply_booking_policy=True,
        )  # fmt: skip


async def test_cancel_keeps_a_clean_reason(desk: StaffCalendar) -> None:
    booked = await desk.book(
        phone="069 123 4567", name="Arta Hoxha", service_id="checkup",
        starts_at=at(WED, 10), actor=ACTOR,
    )  # fmt: skip
    assert isinstance(booked, Booked)
    with pytest.raises(BookingRefused):
        await desk.cancel(appointment_id=booked.appointment.id, reason="x" * 501, actor=ACTOR)
    done = await desk.cancel(
        appointment_id=booked.appointment.id, reason="  called to cancel \u200b", actor=ACTOR
    )
    assert (done.status, done.cancel_reason) == ("cancelled", "called to cancel")
    assert (await desk.day(day=WED)).chairs[0].appointments == []
    shown = await desk.day(day=WED, include_cancelled=True)
    assert shown.chairs[0].appointments[0].cancel_reason == "called to cancel"


# --------------------------------------------------------------------------- clocks changing


@pytest.fixture
def sunday_clinic(clinic: ClinicProfile) -> ClinicProfile:
    """Open on Sundays 09:00-13:00 and without holidays (Easter 2027 is 28 March)."""
    hours = clinic.model_dump()["opening_hours"]
    hours["sun"] = [{"start": "09:00", "end": "13:00"}]
    data = {**clinic.model_dump(), "opening_hours": hours, "observe_public_holidays": False}
    return ClinicProfile.model_validate(data)


@pytest.mark.parametrize(
    ("sunday", "hours", "offset_before", "offset_after"),
    [
        (date(2027, 3, 28), 23, timedelta(hours=1), timedelta(hours=2)),
        (date(2027, 10, 31), 25, timedelta(hours=2), timedelta(hours=1)),
    ],
)
async def test_clock_change_days_and_their_weeks(
    store: Store,
    sunday_clinic: ClinicProfile,
    clock: FixedClock,
    sunday: date,
    hours: int,
    offset_before: timedelta,
    offset_after: timedelta,
) -> None:
    desk = desk_for(store, sunday_clinic, clock)
    saturday = sunday - timedelta(days=1)
    late = await store.appointments.book(  # booked late on Saturday night (storage allows it)
        phone="+355691234567", name="Arta Hoxha", service_id="checkup",
        starts_at=at(saturday, 23, 30), ends_at=at(sunday, 0), slot=sunday_clinic.slot,
        chairs=3, price_lek=2000, source="cli",
    )  # fmt: skip
    morning = await desk.book(
        phone="068 222 3344", name="Ben Lika", service_id="checkup",
        starts_at=at(sunday, 9), actor=ACTOR, chair=1,
    )  # fmt: skip
    assert isinstance(late, Booked) and isinstance(morning, Booked)

    view = await desk.day(day=sunday)
    assert view.ends_at.astimezone(UTC) - view.starts_at.astimezone(UTC) == timedelta(hours=hours)
    assert view.starts_at.utcoffset() == offset_before
    (entry,) = view.chairs[0].appointments  # the Saturday-night one is not Sunday's
    assert entry.id == morning.appointment.id
    assert entry.starts_at.utcoffset() == offset_after
    assert (
        entry.starts_at.astimezone(UTC)
        == datetime.combine(sunday, time(9), tzinfo=UTC) - offset_after
    )
    free = view.chairs[0].free
    assert [(r.start.hour, r.start.minute, r.end.hour) for r in free] == [(9, 30, 13)]
    assert all(r.start.utcoffset() == offset_after for r in free)

    week = await desk.week(day=sunday)
    assert [d.day for d in week.days] == [sunday - timedelta(days=6 - i) for i in range(7)]
    by_day = {d.day: [e.id for c in d.chairs for e in c.appointments] for d in week.days}
    assert by_day[sunday] == [morning.appointment.id]
    assert by_day[saturday] == [late.appointment.id]
    assert week.days[-1] == view
