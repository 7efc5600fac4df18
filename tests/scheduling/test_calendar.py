"""When the sample clinic opens: weekly hours minus Sundays, closed dates and Albanian holidays."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from config.clinic import ClinicProfile
from scheduling.calendar import ClinicCalendar

TIRANE = ZoneInfo("Europe/Tirane")


def at(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(day, time(hh, mm), tzinfo=TIRANE)


@pytest.fixture
def calendar(clinic: ClinicProfile) -> ClinicCalendar:
    return ClinicCalendar(clinic)


def variant(clinic: ClinicProfile, **changes: object) -> ClinicProfile:
    return ClinicProfile.model_validate({**clinic.model_dump(), **changes})


@pytest.mark.parametrize(
    ("day", "reason"),
    [
        (date(2026, 12, 6), "the clinic is closed on Sundays"),
        (date(2026, 12, 13), "the clinic is closed on Sundays"),
        (date(2026, 11, 28), "public holiday (Dita Flamurit dhe e Pavarësisë)"),  # a Saturday
        (
            date(2026, 11, 30),
            "public holiday (Dita Flamurit dhe e Pavarësisë (ditë pushimi e shtyrë))",
        ),
        (date(2026, 12, 1), "public holiday (Dita e Çlirimit (ditë pushimi e shtyrë))"),
        (date(2026, 12, 8), "public holiday (Dita Kombëtare e Rinisë)"),
        (date(2026, 12, 25), "public holiday (Krishtlindjet)"),
        (date(2027, 1, 1), "public holiday (Festat e Vitit të Ri)"),
        (date(2026, 12, 24), "the clinic is closed that day"),  # closed_dates in the profile
        (date(2026, 12, 31), "the clinic is closed that day"),
        (date(2027, 8, 16), "the clinic is closed that day"),
    ],
)
def test_closed_days_say_why(calendar: ClinicCalendar, day: date, reason: str) -> None:
    assert calendar.closure_reason(day) == reason
    assert calendar.open_intervals(day) == []


def test_holiday_names_follow_the_language(clinic: ClinicProfile) -> None:
    english = ClinicCalendar(clinic, language="en-US")
    assert english.closure_reason(date(2026, 12, 25)) == "public holiday (Christmas Day)"
    assert (
        english.closure_reason(date(2026, 11, 28)) == "public holiday (Flag and Independence Day)"
    )


def test_holidays_can_be_ignored_but_closed_dates_cannot(clinic: ClinicProfile) -> None:
    calendar = ClinicCalendar(variant(clinic, observe_public_holidays=False))
    assert calendar.closure_reason(date(2026, 12, 25)) is None
    assert calendar.open_intervals(date(2026, 12, 25)) == [
        (at(date(2026, 12, 25), 9), at(date(2026, 12, 25), 13)),
        (at(date(2026, 12, 25), 14), at(date(2026, 12, 25), 18)),
    ]
    assert calendar.closure_reason(date(2026, 12, 24)) == "the clinic is closed that day"
    assert calendar.closure_reason(date(2026, 12, 6)) == "the clinic is closed on Sundays"


@pytest.mark.parametrize(
    ("day", "hours"),
    [
        (date(2026, 12, 2), [(9, 13), (14, 19)]),  # Wednesday
        (date(2026, 12, 3), [(9, 13), (14, 19)]),  # Thursday
        (date(2026, 12, 4), [(9, 13), (14, 18)]),  # Friday closes earlier
        (date(2026, 12, 5), [(9, 14)]),  # Saturday, no lunch break
        (date(2026, 12, 7), [(9, 13), (14, 19)]),  # Monday
    ],
)
def test_open_intervals_on_working_days(
    calendar: ClinicCalendar, day: date, hours: list[tuple[int, int]]
) -> None:
    assert calendar.closure_reason(day) is None
    intervals = calendar.open_intervals(day)
    assert intervals == [(at(day, start), at(day, end)) for start, end in hours]
    assert all(start.tzinfo == TIRANE and end.tzinfo == TIRANE for start, end in intervals)


def test_describe_hours(calendar: ClinicCalendar) -> None:
    assert calendar.describe_hours(date(2026, 12, 2)) == "09:00-13:00, 14:00-19:00"
    assert calendar.describe_hours(date(2026, 12, 5)) == "09:00-14:00"
    assert calendar.describe_hours(date(2026, 12, 6)) == "closed"


@pytest.mark.parametrize(
    ("day", "offset"),
    [
        (date(2026, 3, 28), timedelta(hours=1)),  # Saturday before the spring change
        (date(2026, 3, 30), timedelta(hours=2)),  # Monday after it
        (date(2026, 10, 24), timedelta(hours=2)),  # Saturday before the autumn change
        (date(2026, 10, 26), timedelta(hours=1)),  # Monday after it
    ],
)
def test_days_around_dst_keep_their_wall_clock_hours(
    calendar: ClinicCalendar, day: date, offset: timedelta
) -> None:
    intervals = calendar.open_intervals(day)
    assert intervals
    first_start = intervals[0][0]
    assert (first_start.hour, first_start.minute) == (9, 0)
    assert first_start.utcoffset() == offset


@pytest.mark.parametrize(
    ("day", "offsets"),
    [
        (
            date(2026, 3, 29),
            (timedelta(hours=2), timedelta(hours=2)),
        ),  # clocks went forward at 02:00
        (date(2026, 10, 25), (timedelta(hours=1), timedelta(hours=1))),  # and back at 03:00
    ],
)
def test_dst_sundays_open_normally_for_a_sunday_clinic(
    clinic: ClinicProfile, day: date, offsets: tuple[timedelta, timedelta]
) -> None:
    # Both changes fall on Sundays, when the sample clinic is closed; a clinic open on Sundays
    # still gets its ordinary wall-clock hours, lasting their real length.
    sunday_clinic = variant(
        clinic, opening_hours={**clinic.opening_hours, "sun": [{"start": "09:00", "end": "13:00"}]}
    )
    calendar = ClinicCalendar(sunday_clinic)
    assert calendar.closure_reason(day) is None
    [(start, end)] = calendar.open_intervals(day)
    assert (start.hour, end.hour) == (9, 13)
    assert (start.utcoffset(), end.utcoffset()) == offsets
    assert end.timestamp() - start.timestamp() == 4 * 3600


def test_a_year_of_days_matches_the_rules(calendar: ClinicCalendar, clinic: ClinicProfile) -> None:
    import holidays

    albanian = holidays.country_holidays("AL", years=[2026, 2027])
    day = date(2026, 12, 1)
    while day < date(2027, 12, 1):
        reason = calendar.closure_reason(day)
        expected_closed = day.weekday() == 6 or day in albanian or day in set(clinic.closed_dates)
        assert (reason is not None) == expected_closed, day
        assert bool(calendar.open_intervals(day)) == (not expected_closed), day
        day += timedelta(days=1)


@pytest.mark.parametrize(
    ("moment", "open_now"),
    [
        (datetime(2026, 12, 2, 8, 59, tzinfo=TIRANE), False),
        (datetime(2026, 12, 2, 9, 0, tzinfo=TIRANE), True),
        (datetime(2026, 12, 2, 13, 30, tzinfo=TIRANE), False),  # lunch break
        (datetime(2026, 12, 2, 18, 59, tzinfo=TIRANE), True),
        (datetime(2026, 12, 2, 19, 0, tzinfo=TIRANE), False),
        (datetime(2026, 12, 1, 10, 0, tzinfo=TIRANE), False),  # a public holiday
        (datetime(2026, 12, 6, 10, 0, tzinfo=TIRANE), False),  # Sunday
        # Any zone: 08:30 UTC is 09:30 in Tirana.
        (datetime(2026, 12, 2, 8, 30, tzinfo=ZoneInfo("UTC")), True),
    ],
)
def test_is_open_at_an_instant(calendar: ClinicCalendar, moment: datetime, open_now: bool) -> None:
    assert calendar.is_open(moment) is open_now


@pytest.mark.parametrize(
    ("language", "name"),
    [("sq", "Krishtlindjet"), ("en", "Christmas Day"), ("it", "Christmas Day")],
)
def test_holiday_names_in_the_call_language_italian_reads_english_in_albania(
    clinic: ClinicProfile, language: str, name: str
) -> None:
    # Albania's holidays come in sq, en_US and uk only (the holidays package).
    reason = ClinicCalendar(clinic, language=language).closure_reason(date(2026, 12, 25))
    assert reason is not None and f"({name})" in reason


def test_holiday_names_are_italian_where_the_country_has_them(clinic: ClinicProfile) -> None:
    italy = variant(clinic, country="IT")
    reason = ClinicCalendar(italy, language="it-IT").closure_reason(date(2026, 12, 25))
    assert reason is not None and "(Natale)" in reason
