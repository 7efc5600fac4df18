"""Calling rules: the weekly window in the contact's zone, holidays, DST, attempt caps, refusals."""

from __future__ import annotations

import functools
import random
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.calling_rules import AttemptPolicy, CallingWindow, earliest_call, holiday_dates
from config.settings import load_settings
from config.settings_campaign import CallingSettings, parse_intervals

TIRANE = ZoneInfo("Europe/Tirane")
ROME = ZoneInfo("Europe/Rome")
NEW_YORK = ZoneInfo("America/New_York")
WINDOW = CallingWindow.from_settings(CallingSettings())
POLICY = AttemptPolicy.from_settings(CallingSettings())

# Zones with DST, negative DST (Dublin), half-hour DST (Lord Howe), quarter-hour offsets
# (Kathmandu, Chatham), midnight changes (Santiago, Havana, Beirut), a +2 h change (Troll),
# Ramadan shifts (Casablanca) and the date line (Kiritimati, Pago Pago).
ZONES = [
    "Europe/Tirane",
    "Europe/Rome",
    "Europe/Dublin",
    "America/New_York",
    "America/St_Johns",
    "America/Santiago",
    "America/Havana",
    "America/Sao_Paulo",
    "Asia/Kathmandu",
    "Asia/Kolkata",
    "Asia/Tehran",
    "Asia/Beirut",
    "Africa/Casablanca",
    "Australia/Lord_Howe",
    "Australia/Adelaide",
    "Pacific/Chatham",
    "Pacific/Kiritimati",
    "Pacific/Pago_Pago",
    "Antarctica/Troll",
    "UTC",
]
COUNTRIES = ["AL", "US", "IT", "FR", "DE", "NP", "CL", "AU"]
START = datetime(2026, 1, 1, tzinfo=UTC)
END = datetime(2028, 12, 31, tzinfo=UTC)


def at(day: str, clock: str, tz: ZoneInfo = TIRANE) -> datetime:
    return datetime.fromisoformat(f"{day}T{clock}").replace(tzinfo=tz)


# --- settings


def test_defaults_are_the_strict_french_rule() -> None:
    calling = load_settings(env_file=None).calling
    assert calling.window_days == ["mon", "tue", "wed", "thu", "fri"]
    assert parse_intervals(calling.window_intervals) == ((600, 780), (840, 1200))
    assert calling.skip_public_holidays is True
    assert (calling.max_attempts, calling.attempts_window_days) == (4, 30)
    assert calling.refusal_pause_days == 60
    assert WINDOW.days == frozenset(range(5))


def test_window_is_configurable_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ELO_CALLING__WINDOW_DAYS", "Saturday, mon ,sat")
    monkeypatch.setenv("ELO_CALLING__WINDOW_INTERVALS", " 8:00-9:30 , 21:00-24:00")
    calling = load_settings(env_file=None).calling
    assert calling.window_days == ["mon", "sat"]
    assert calling.window_intervals == "08:00-09:30,21:00-24:00"
    window = CallingWindow.from_settings(calling)
    assert window.days == frozenset({0, 5})
    assert window.intervals == ((480, 570), (1260, 1440))
    assert window.allowed(at("2026-10-10", "23:59:59"), tz=TIRANE, country="AL")
    assert not window.allowed(at("2026-10-11", "00:00"), tz=TIRANE, country="AL")


# --- the window, table-driven


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        # Monday 5 October 2026, an ordinary working day in Albania.
        (at("2026-10-05", "09:59:59"), False),
        (at("2026-10-05", "10:00"), True),
        (at("2026-10-05", "12:59:59"), True),
        (at("2026-10-05", "13:00"), False),
        (at("2026-10-05", "13:30"), False),
        (at("2026-10-05", "14:00"), True),
        (at("2026-10-05", "19:59"), True),
        (at("2026-10-05", "20:00"), False),
        (at("2026-10-05", "23:00"), False),
        (at("2026-10-05", "03:00"), False),
        (at("2026-10-09", "11:00"), True),  # Friday
        (at("2026-10-10", "11:00"), False),  # Saturday
        (at("2026-10-11", "15:00"), False),  # Sunday
        (at("2026-11-28", "11:00"), False),  # Flag and Independence Day (a Saturday)
        (at("2026-11-30", "11:00"), False),  # ... observed on Monday
        (at("2026-12-08", "11:00"), False),  # National Youth Day, a Tuesday
        (at("2026-12-09", "11:00"), True),
        # The same instant written in another zone is judged in the contact's zone.
        (at("2026-10-05", "09:30", UTC), True),  # 11:30 in Tirana
        (at("2026-10-05", "18:30", UTC), False),  # 20:30 in Tirana
    ],
)
def test_allowed_in_tirana(moment: datetime, expected: bool) -> None:
    assert WINDOW.allowed(moment, tz=TIRANE, country="AL") is expected


@pytest.mark.parametrize(
    ("moment", "tz", "country", "expected"),
    [
        # 15:00 UTC is 17:00 in Tirana and Rome but 11:00 in New York.
        (at("2026-10-05", "15:00", UTC), NEW_YORK, "US", True),
        (at("2026-10-05", "15:00", UTC), TIRANE, "AL", True),
        (at("2026-10-05", "18:30", UTC), TIRANE, "AL", False),  # 20:30 in Tirana
        (at("2026-10-05", "18:30", UTC), NEW_YORK, "US", True),  # 14:30 in New York
        (at("2026-10-06", "15:00", UTC), NEW_YORK, "US", True),
        (at("2026-10-06", "12:00", UTC), NEW_YORK, "US", False),  # 08:00 in New York
        (at("2026-10-06", "12:00", UTC), TIRANE, "AL", True),  # 14:00 in Tirana
        (at("2026-10-06", "23:30", UTC), NEW_YORK, "US", True),  # 19:30 in New York
        (at("2026-10-12", "11:00", NEW_YORK), NEW_YORK, "US", False),  # Columbus Day
        (at("2026-11-26", "11:00", NEW_YORK), NEW_YORK, "US", False),  # Thanksgiving
        (at("2026-07-03", "11:00", NEW_YORK), NEW_YORK, "US", False),  # 4 July observed
        (at("2026-11-26", "11:00", NEW_YORK), NEW_YORK, "AL", True),  # not an Albanian holiday
        (at("2026-06-02", "11:00", ROME), ROME, "IT", False),  # Festa della Repubblica
        (at("2026-06-02", "11:00", ROME), ROME, "AL", True),
        (at("2026-06-02", "11:00", TIRANE), TIRANE, "IT", False),  # the country decides
        (at("2026-06-02", "09:30", UTC), ROME, "AL", True),  # 11:30 in Rome (CEST)
        (at("2026-01-13", "09:30", UTC), ROME, "AL", True),  # 10:30 in Rome (CET)
        (at("2026-01-13", "08:30", UTC), ROME, "AL", False),  # 09:30 in Rome (CET)
    ],
)
def test_allowed_in_the_contacts_own_zone_and_country(
    moment: datetime, tz: ZoneInfo, country: str, expected: bool
) -> None:
    assert WINDOW.allowed(moment, tz=tz, country=country) is expected


def test_holidays_can_be_ignored() -> None:
    window = CallingWindow(WINDOW.days, WINDOW.intervals, skip_public_holidays=False)
    assert window.allowed(at("2026-12-08", "11:00"), tz=TIRANE, country="AL")
    assert not window.allowed(at("2026-12-12", "11:00"), tz=TIRANE, country="AL")  # Saturday
    # No holiday calendar is consulted, so any country code is accepted.
    assert window.allowed(at("2026-12-08", "11:00"), tz=TIRANE, country="ZZ")


def test_unknown_country_is_refused() -> None:
    with pytest.raises(ValueError, match="ZZ"):
        WINDOW.allowed(at("2026-12-08", "11:00"), tz=TIRANE, country="ZZ")


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        WINDOW.allowed(datetime(2026, 10, 5, 11), tz=TIRANE, country="AL")
    with pytest.raises(ValueError, match="timezone-aware"):
        POLICY.next_attempt_allowed([], [], datetime(2026, 10, 5, 11))


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        (at("2026-10-05", "11:00"), at("2026-10-05", "11:00")),  # already allowed
        (at("2026-10-05", "11:00:30.5"), at("2026-10-05", "11:00:30.5")),
        (at("2026-10-05", "09:00"), at("2026-10-05", "10:00")),
        (at("2026-10-05", "12:59:59.999"), at("2026-10-05", "12:59:59.999")),
        (at("2026-10-05", "13:00"), at("2026-10-05", "14:00")),
        (at("2026-10-05", "20:00"), at("2026-10-06", "10:00")),
        (at("2026-10-09", "20:00"), at("2026-10-12", "10:00")),  # Friday evening -> Monday
        (at("2026-10-10", "11:00"), at("2026-10-12", "10:00")),
        # Friday 27 November: Sat, Sun and two observed holidays follow.
        (at("2026-11-27", "20:00"), at("2026-12-02", "10:00")),
        (at("2026-12-07", "19:59:59"), at("2026-12-07", "19:59:59")),
        (at("2026-12-07", "20:00"), at("2026-12-09", "10:00")),
        # The Sunday of the spring change and the Monday after.
        (at("2026-03-28", "12:00"), at("2026-03-30", "10:00")),
        (at("2026-10-05", "23:00", UTC), at("2026-10-06", "10:00")),
    ],
)
def test_next_allowed_in_tirana(after: datetime, expected: datetime) -> None:
    found = WINDOW.next_allowed(after, tz=TIRANE, country="AL")
    assert found == expected
    assert found.tzinfo is UTC


def test_next_allowed_in_new_york_across_thanksgiving() -> None:
    found = WINDOW.next_allowed(at("2026-11-25", "20:00", NEW_YORK), tz=NEW_YORK, country="US")
    assert found == at("2026-11-27", "10:00", NEW_YORK)


def hours(start: str, end: str, days: range = range(7)) -> CallingWindow:
    return CallingWindow(frozenset(days), parse_intervals(f"{start}-{end}"), False)


def test_next_allowed_when_the_start_falls_in_a_spring_gap() -> None:
    # New York skips 02:00-03:00 on 8 March 2026: the window opens when the clock jumps.
    window = hours("02:30", "03:30")
    found = window.next_allowed(at("2026-03-08", "01:59", NEW_YORK), tz=NEW_YORK, country="US")
    assert found == datetime(2026, 3, 8, 7, 0, tzinfo=UTC)  # 03:00 EDT


def test_next_allowed_when_the_clock_falls_back_into_the_window() -> None:
    # New York repeats 01:00-02:00 on 1 November 2026.
    window = hours("00:30", "01:30")
    first_pass_end = datetime(2026, 11, 1, 5, 30, tzinfo=UTC)  # 01:30 EDT
    assert not window.allowed(first_pass_end, tz=NEW_YORK, country="US")
    found = window.next_allowed(first_pass_end, tz=NEW_YORK, country="US")
    assert found == datetime(2026, 11, 1, 6, 0, tzinfo=UTC)  # 01:00 EST, the repeated hour
    repeated = hours("01:30", "02:00")
    assert repeated.allowed(first_pass_end, tz=NEW_YORK, country="US")
    second_pass_start = datetime(2026, 11, 1, 6, 0, tzinfo=UTC)  # 01:00 EST
    found = repeated.next_allowed(second_pass_start, tz=NEW_YORK, country="US")
    assert found == datetime(2026, 11, 1, 6, 30, tzinfo=UTC)  # 01:30 EST


def test_next_allowed_when_midnight_does_not_exist() -> None:
    # Santiago moves from 24:00 to 01:00 on 6 September 2026.
    santiago = ZoneInfo("America/Santiago")
    window = hours("00:00", "00:30")
    found = window.next_allowed(at("2026-09-05", "23:00", santiago), tz=santiago, country="CL")
    assert found.astimezone(santiago).date() == date(2026, 9, 7)


# --- the window, properties


@functools.cache
def offset_change_days(zone: str) -> list[datetime]:
    """Midnights (UTC) of days in 2026-2028 on which ``zone`` changes its UTC offset."""
    tz = ZoneInfo(zone)
    found = []
    day = START
    while day < END:
        nxt = day + timedelta(days=1)
        if day.astimezone(tz).utcoffset() != nxt.astimezone(tz).utcoffset():
            found.append(day)
        day = nxt
    return found


@st.composite
def instants(draw: st.DrawFn, zone: str) -> datetime:
    """Instants across 2026-2028, half of them within two days of an offset change."""
    changes = offset_change_days(zone)
    if changes and draw(st.booleans()):
        base = draw(st.sampled_from(changes))
        return base + timedelta(seconds=draw(st.integers(-2 * 86400, 3 * 86400)))
    seconds = int((END - START).total_seconds())
    return START + timedelta(seconds=draw(st.integers(0, seconds)))


@st.composite
def windows(draw: st.DrawFn) -> CallingWindow:
    """The default window, or random days and intervals (bounds on quarter hours)."""
    if draw(st.booleans()):
        return WINDOW
    days = draw(st.sets(st.integers(0, 6), min_size=2))
    count = draw(st.sampled_from([2, 4]))
    bounds = sorted(draw(st.sets(st.integers(0, 96), min_size=count, max_size=count)))
    intervals = tuple((bounds[i] * 15, bounds[i + 1] * 15) for i in range(0, count, 2))
    return CallingWindow(frozenset(days), intervals, draw(st.booleans()))


cases = st.sampled_from(ZONES).flatmap(
    lambda zone: st.tuples(st.just(zone), instants(zone), st.sampled_from(COUNTRIES), windows())
)
FULL_SCAN_MINUTES = 12_000


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases, seed=st.integers(0, 2**32))
def test_next_allowed_is_the_first_allowed_instant(
    case: tuple[str, datetime, str, CallingWindow], seed: int
) -> None:
    zone, after, country, window = case
    tz = ZoneInfo(zone)
    # UTC throughout: arithmetic on datetimes in a DST zone is wall-clock arithmetic.
    found = window.next_allowed(after, tz=tz, country=country).astimezone(UTC)
    assert found >= after
    assert window.allowed(found, tz=tz, country=country)
    if found == after:
        return
    assert not window.allowed(after, tz=tz, country=country)
    assert not window.allowed(found - timedelta(seconds=1), tz=tz, country=country)
    # Every whole minute in between is outside the window (sampled beyond FULL_SCAN_MINUTES).
    first = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
    gap = int((found - first).total_seconds() // 60)
    steps = range(gap) if gap <= FULL_SCAN_MINUTES else random.Random(seed).sample(range(gap), 3000)
    for step in steps:
        moment = first + timedelta(minutes=step)
        assert not window.allowed(moment, tz=tz, country=country), moment


@settings(max_examples=300, deadline=None)
@given(case=cases)
def test_allowed_matches_an_independent_reading_of_the_rule(
    case: tuple[str, datetime, str, CallingWindow],
) -> None:
    zone, moment, country, _window = case
    local = moment.astimezone(ZoneInfo(zone))
    weekend = local.weekday() >= 5
    holiday = local.date() in holidays.country_holidays(country, years=local.year)
    in_hours = 10 <= local.hour < 13 or 14 <= local.hour < 20
    expected = not weekend and not holiday and in_hours
    assert WINDOW.allowed(moment, tz=ZoneInfo(zone), country=country) is expected


def test_holiday_lookups_are_cached() -> None:
    holiday_dates.cache_clear()
    for _ in range(3):
        WINDOW.allowed(at("2026-12-08", "11:00"), tz=TIRANE, country="AL")
    info = holiday_dates.cache_info()
    assert (info.misses, info.hits) == (1, 2)


# --- attempt policy


def days_after(start: datetime, *offsets: float) -> list[datetime]:
    return [start + timedelta(days=offset) for offset in offsets]


# Policy arithmetic is in real (UTC) time, so the test's expectations are too.
T0 = at("2026-10-05", "11:00").astimezone(UTC)


@pytest.mark.parametrize(
    ("attempts", "refusals", "now", "expected"),
    [
        ([], [], T0, None),
        (days_after(T0, 0, 1, 2), [], T0 + timedelta(days=3), None),
        (days_after(T0, 0, 1, 2, 3), [], T0 + timedelta(days=4), T0 + timedelta(days=30)),
        (days_after(T0, 3, 0, 2, 1), [], T0 + timedelta(days=4), T0 + timedelta(days=30)),
        (days_after(T0, 0, 1, 2, 3), [], T0 + timedelta(days=30), None),
        # A fifth attempt exactly 30 days after the first; the next must clear the second.
        (days_after(T0, 0, 1, 2, 3, 30), [], T0 + timedelta(days=30.5), T0 + timedelta(days=31)),
        (days_after(T0, 0, 1, 2, 3, 31), [], T0 + timedelta(days=32), None),
        (days_after(T0, 0), days_after(T0, 0), T0 + timedelta(days=1), T0 + timedelta(days=60)),
        (days_after(T0, 0), days_after(T0, 0), T0 + timedelta(days=60), None),
        # The latest refusal counts.
        ([], days_after(T0, 10, 0), T0 + timedelta(days=61), T0 + timedelta(days=70)),
    ],
)
def test_attempt_policy_table(
    attempts: list[datetime],
    refusals: list[datetime],
    now: datetime,
    expected: datetime | None,
) -> None:
    assert POLICY.next_attempt_allowed(attempts, refusals, now) == expected


def test_attempt_policy_counts_real_time_across_a_dst_change() -> None:
    # Tirana falls back on 25 October 2026: 30 days after 1 October 11:00 CEST is 10:00 CET.
    attempts = days_after(at("2026-10-01", "11:00"), 0, 0.1, 0.2, 0.3)
    found = POLICY.next_attempt_allowed(attempts, [], at("2026-10-02", "11:00"))
    assert found == at("2026-10-31", "10:00")


@settings(max_examples=200, deadline=None)
@given(
    attempts=st.lists(st.integers(0, 90 * 24 * 60), max_size=10),
    refusals=st.lists(st.integers(0, 90 * 24 * 60), max_size=2),
    now=st.integers(0, 120 * 24 * 60),
    max_attempts=st.integers(1, 5),
    window_days=st.integers(1, 40),
    pause_days=st.integers(0, 70),
)
def test_next_attempt_allowed_is_tight(
    attempts: list[int],
    refusals: list[int],
    now: int,
    max_attempts: int,
    window_days: int,
    pause_days: int,
) -> None:
    policy = AttemptPolicy(max_attempts, timedelta(days=window_days), timedelta(days=pause_days))
    past = [START + timedelta(minutes=m) for m in attempts if m <= now]
    refused = [START + timedelta(minutes=m) for m in refusals if m <= now]
    clock = START + timedelta(minutes=now)
    found = policy.next_attempt_allowed(past, refused, clock)
    if found is None:
        return
    assert found > clock
    assert policy.next_attempt_allowed(past, refused, found) is None
    assert policy.next_attempt_allowed(past, refused, found - timedelta(seconds=1)) is not None


@settings(max_examples=60, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    country=st.sampled_from(COUNTRIES),
    start=st.integers(0, 700),
    steps=st.lists(
        st.tuples(st.integers(0, 72 * 60), st.booleans(), st.integers(0, 6)),
        min_size=1,
        max_size=40,
    ),
    max_attempts=st.integers(1, 5),
    window_days=st.integers(1, 30),
    pause_days=st.integers(0, 60),
)
def test_a_simulated_dialler_never_breaks_the_rules(
    zone: str,
    country: str,
    start: int,
    steps: list[tuple[int, bool, int]],
    max_attempts: int,
    window_days: int,
    pause_days: int,
) -> None:
    """A fake clock dials whenever the rules allow, with random retry delays and refusals."""
    tz = ZoneInfo(zone)
    policy = AttemptPolicy(max_attempts, timedelta(days=window_days), timedelta(days=pause_days))
    now = START + timedelta(days=start)
    stop = now + timedelta(days=31)
    attempts: list[datetime] = []
    refusals: list[datetime] = []
    for delay_minutes, refused, refusal_roll in steps:
        now += timedelta(minutes=delay_minutes)
        when = earliest_call(
            WINDOW, policy, attempts=attempts, refusals=refusals, now=now, tz=tz, country=country
        )
        if when > stop:
            break
        assert when >= now
        assert WINDOW.allowed(when, tz=tz, country=country)
        assert policy.next_attempt_allowed(attempts, refusals, when) is None
        now = when.astimezone(UTC)
        attempts.append(now)
        # Roughly one call in seven ends with a refusal when the flag is set.
        if refused and refusal_roll == 0:
            refusals.append(now)
    window = timedelta(days=window_days)
    for first in attempts:
        inside = [a for a in attempts if first <= a < first + window]
        assert len(inside) <= max_attempts
    for refusal in refusals:
        pause_end = refusal + timedelta(days=pause_days)
        assert not [a for a in attempts if refusal < a < pause_end]


def test_a_month_of_daily_retries_stops_at_four() -> None:
    now = T0
    attempts: list[datetime] = []
    while now < T0 + timedelta(days=31):
        if POLICY.next_attempt_allowed(attempts, [], now) is None and WINDOW.allowed(
            now, tz=TIRANE, country="AL"
        ):
            attempts.append(now)
        now += timedelta(days=1)
    assert len(attempts) == 5  # four, then the fifth exactly 30 days after the first
    assert attempts[3] - attempts[0] < timedelta(days=30)
    assert attempts[4] == attempts[0] + timedelta(days=30)
