"""Reading requested dates and times against the fixed clinic clock (Tue 2026-12-01 08:00)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from scheduling.when import RequestedTime, parse_requested_time
from tests.conftest import DEFAULT_NOW
from validation.errors import InputError

TIRANE = ZoneInfo("Europe/Tirane")


def parse(raw: str, now: datetime = DEFAULT_NOW) -> RequestedTime:
    return parse_requested_time(raw, tz=TIRANE, now=now)


def local(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=TIRANE)  # type: ignore[misc]


# --- ISO 8601 ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "day", "at"),
    [
        ("2026-12-03", date(2026, 12, 3), None),
        ("2026-1-5", date(2026, 1, 5), None),
        ("2028-02-29", date(2028, 2, 29), None),  # leap year
        ("2026-12-03T10:30", date(2026, 12, 3), local(2026, 12, 3, 10, 30)),
        ("2026-12-03 10:30", date(2026, 12, 3), local(2026, 12, 3, 10, 30)),
        ("2026-12-03T9:30", date(2026, 12, 3), local(2026, 12, 3, 9, 30)),
        ("2026-12-03T10:30:45", date(2026, 12, 3), local(2026, 12, 3, 10, 30, 45)),
        ("2026-12-03T10:30:45.123", date(2026, 12, 3), local(2026, 12, 3, 10, 30, 45)),
        ("  2026-12-03T10:30  ", date(2026, 12, 3), local(2026, 12, 3, 10, 30)),
        # Offsets are converted to clinic time (CET +01:00 in winter, CEST +02:00 in summer).
        ("2026-12-03T09:30Z", date(2026, 12, 3), local(2026, 12, 3, 10, 30)),
        ("2026-12-03T10:30+01:00", date(2026, 12, 3), local(2026, 12, 3, 10, 30)),
        ("2026-12-03T10:30+02:00", date(2026, 12, 3), local(2026, 12, 3, 9, 30)),
        ("2026-12-03T10:30-0500", date(2026, 12, 3), local(2026, 12, 3, 16, 30)),
        ("2026-07-03T08:30Z", date(2026, 7, 3), local(2026, 7, 3, 10, 30)),
        # The local day is the clinic's, not the one written with the offset.
        ("2026-12-03T23:30Z", date(2026, 12, 4), local(2026, 12, 4, 0, 30)),
        ("2026-12-04T00:30+05:00", date(2026, 12, 3), local(2026, 12, 3, 20, 30)),
    ],
)
def test_iso(raw: str, day: date, at: datetime | None) -> None:
    result = parse(raw)
    assert result.day == day
    assert result.at == at
    assert result.has_time is (at is not None)
    if at is not None:
        assert result.at is not None
        assert result.at.tzinfo == TIRANE  # in the clinic zone, not just the same instant
        assert result.at.utcoffset() == at.utcoffset()


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("2026-02-30", "2026-02-30 is not a date (February 2026 has 28 days)"),
        ("2027-02-29", "2027-02-29 is not a date (February 2027 has 28 days)"),
        ("2026-04-31", "2026-04-31 is not a date (April 2026 has 30 days)"),
        ("2026-12-00", "2026-12-00 is not a date (December 2026 has 31 days)"),
        ("2026-13-01", "month 13 does not exist"),
        ("2026-00-10", "month 0 does not exist"),
        ("2026-12-03T25:00", "25:00 is not a time of day"),
        ("2026-12-03T24:00", "24:00 is not a time of day"),
        ("2026-12-03T10:60", "10:60 is not a time of day"),
        ("2026-12-03T10:30+15:00", "offset +15:00 is not valid"),
        ("0000-01-01", "year 0 is out of range"),
        ("0001-01-01T00:30", "year 1 is out of range"),
        ("9999-12-31T23:59-14:00", "year 9999 is out of range"),
    ],
)
def test_impossible_dates_are_named(raw: str, message: str) -> None:
    with pytest.raises(InputError) as info:
        parse(raw)
    assert info.value.field == "preferred_date"
    assert info.value.message == message
    assert info.value.hint


@pytest.mark.parametrize("raw", ["2027-03-28T02:30", "2027-03-28T02:00", "2026-03-29 02:59"])
def test_wall_time_skipped_by_dst_is_rejected(raw: str) -> None:
    with pytest.raises(InputError) as info:
        parse(raw)
    assert "does not exist in Europe/Tirane" in info.value.message


def test_dst_edges() -> None:
    spring = parse("2027-03-28T03:00").at
    assert spring is not None and spring.utcoffset() == timedelta(hours=2)
    before = parse("2027-03-28T01:59").at
    assert before is not None and before.utcoffset() == timedelta(hours=1)
    # The repeated hour in autumn exists (twice); the first occurrence is taken.
    autumn = parse("2027-10-31T02:30").at
    assert autumn is not None and autumn.astimezone(UTC) == datetime(
        2027, 10, 31, 0, 30, tzinfo=UTC
    )


# --- relative words ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "day", "hm"),
    [
        ("today", date(2026, 12, 1), None),
        ("sot", date(2026, 12, 1), None),
        ("Sot", date(2026, 12, 1), None),
        ("tomorrow", date(2026, 12, 2), None),
        ("nesër", date(2026, 12, 2), None),
        ("neser", date(2026, 12, 2), None),
        ("NESËR", date(2026, 12, 2), None),
        ("pasnesër", date(2026, 12, 3), None),
        ("day after tomorrow", date(2026, 12, 3), None),
        ("the day after tomorrow", date(2026, 12, 3), None),
        # Weekdays: the next one on or after today (today is Tuesday).
        ("tuesday", date(2026, 12, 1), None),
        ("e martë", date(2026, 12, 1), None),
        ("wednesday", date(2026, 12, 2), None),
        ("friday", date(2026, 12, 4), None),
        ("next friday", date(2026, 12, 4), None),
        ("e premte", date(2026, 12, 4), None),
        ("e shtunë", date(2026, 12, 5), None),
        ("sunday", date(2026, 12, 6), None),
        ("e diel", date(2026, 12, 6), None),
        ("monday", date(2026, 12, 7), None),
        ("hënë", date(2026, 12, 7), None),
        ("e hënë", date(2026, 12, 7), None),
        ("javen e ardhshme e hene", date(2026, 12, 7), None),
        # With a time of day.
        ("e hënë 15:00", date(2026, 12, 7), (15, 0)),
        ("E Hënë 15:00", date(2026, 12, 7), (15, 0)),
        ("e shtunë 10:00", date(2026, 12, 5), (10, 0)),
        ("e enjte 9", date(2026, 12, 3), (9, 0)),
        ("tomorrow at 10:30", date(2026, 12, 2), (10, 30)),
        ("tomorrow 10:30", date(2026, 12, 2), (10, 30)),
        ("Tomorrow,   10:30", date(2026, 12, 2), (10, 30)),
        ("tomorrow @ 10", date(2026, 12, 2), (10, 0)),
        ("nesër në orën 10:30", date(2026, 12, 2), (10, 30)),
        ("nesër ora 10", date(2026, 12, 2), (10, 0)),
        ("e hënë në 15:00", date(2026, 12, 7), (15, 0)),
        ("monday at 9", date(2026, 12, 7), (9, 0)),
        ("sot 14:30", date(2026, 12, 1), (14, 30)),
    ],
)
def test_relative_words(raw: str, day: date, hm: tuple[int, int] | None) -> None:
    result = parse(raw)
    assert result.day == day
    if hm is None:
        assert result.at is None
    else:
        assert result.at == datetime(day.year, day.month, day.day, *hm, tzinfo=TIRANE)


def test_relative_words_follow_the_clock_in_clinic_time() -> None:
    # 23:30 UTC on Sunday is already Monday in Tirana, so "tomorrow" is Tuesday.
    now = datetime(2026, 12, 6, 23, 30, tzinfo=UTC)
    assert parse("tomorrow", now=now).day == date(2026, 12, 8)
    assert parse("today", now=now).day == date(2026, 12, 7)
    assert parse("monday", now=now).day == date(2026, 12, 7)


def test_relative_time_in_a_dst_gap_is_rejected() -> None:
    now = local(2027, 3, 27, 12, 0)
    with pytest.raises(InputError, match="does not exist"):
        parse("tomorrow 02:30", now=now)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "is not a date"),
        ("   ", "is not a date"),
        ("x" * 41, "is not a date"),
        ("garbage", "is not a date I can read"),
        ("yesterday", "is not a date I can read"),
        ("12/03/2026", "is not a date I can read"),
        ("3 dhjetor", "is not a date I can read"),
        ("10:30", "is not a date I can read"),
        ("2026-12-03T10", "is not a date I can read"),
        ("tomorrow; DROP TABLE appointments", "is not a date I can read"),
        ("<script>alert(1)</script>", "is not a date I can read"),
        ("tomorrow 25:00", "25:00 is not a time of day"),
        ("tomorrow 10:75", "10:75 is not a time of day"),
    ],
)
def test_garbage_is_rejected(raw: str, message: str) -> None:
    with pytest.raises(InputError) as info:
        parse(raw)
    assert info.value.message == message
    assert "2026-12-03T10:30" in info.value.hint or "HH:MM" in info.value.hint


def test_error_uses_the_given_field() -> None:
    with pytest.raises(InputError) as info:
        parse_requested_time("nope", tz=TIRANE, now=DEFAULT_NOW, field="preferred_time")
    assert info.value.field == "preferred_time"


# --- properties ----------------------------------------------------------------------------

_offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
_naive = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2030, 12, 31, 23, 59, 59)
).map(lambda moment: moment.replace(microsecond=0))


@given(_naive, _offsets, st.sampled_from(["T", " "]))
@example(datetime(2027, 3, 28, 2, 30), UTC, "T")  # in the DST gap locally, but aware
def test_aware_iso_is_the_same_instant(moment: datetime, zone: timezone, sep: str) -> None:
    aware = moment.replace(tzinfo=zone)
    result = parse(aware.isoformat(sep=sep))
    # Compare in UTC: PEP 495 makes inter-zone == False for a wall time in a DST fold.
    assert result.at is not None and result.at.astimezone(UTC) == aware.astimezone(UTC)
    assert result.at is not None and result.day == result.at.date()
    assert result.at.tzinfo == TIRANE


def _exists_in_tirane(moment: datetime) -> bool:
    aware = moment.replace(tzinfo=TIRANE)
    return aware.astimezone(UTC).astimezone(TIRANE).replace(tzinfo=None) == moment


@given(_naive, st.sampled_from(["T", " "]))
@example(datetime(2027, 10, 31, 2, 30), "T")  # repeated hour
def test_naive_iso_keeps_its_wall_clock(moment: datetime, sep: str) -> None:
    assume(_exists_in_tirane(moment))
    result = parse(moment.isoformat(sep=sep))
    assert result.at is not None
    assert result.at.replace(tzinfo=None) == moment
    assert result.day == moment.date()


@given(st.text(max_size=60))
@example("0000-01-01")
@example("0001-01-01T00:00+14:00")
@example("9999-12-31T23:59-14:00")
def test_parse_only_raises_input_errors(raw: str) -> None:
    try:
        result = parse(raw)
    except InputError:
        return
    assert isinstance(result.day, date)
    assert result.at is None or (result.at.tzinfo == TIRANE and result.at.date() == result.day)


@given(st.from_regex(r"\A\d{4}-\d{1,2}-\d{1,2}(T\d{1,2}:\d{2}(:\d{2})?(Z|[+-]\d{2}:?\d{2})?)?\Z"))
def test_iso_shaped_text_only_raises_input_errors(raw: str) -> None:
    try:
        parse(raw)
    except InputError:
        pass


@pytest.mark.parametrize(
    ("raw", "day", "at"),
    [
        ("oggi", date(2026, 12, 1), None),
        ("domani 10:00", date(2026, 12, 2), local(2026, 12, 2, 10, 0)),
        ("domani alle 10", date(2026, 12, 2), local(2026, 12, 2, 10, 0)),
        ("dopodomani alle ore 15:30", date(2026, 12, 3), local(2026, 12, 3, 15, 30)),
        ("lunedì", date(2026, 12, 7), None),
        ("lunedì prossimo alle 9", date(2026, 12, 7), local(2026, 12, 7, 9, 0)),
        ("il prossimo venerdì", date(2026, 12, 4), None),
        ("Sabato 11:00", date(2026, 12, 5), local(2026, 12, 5, 11, 0)),
    ],
)
def test_italian_relative_words(raw: str, day: date, at: datetime | None) -> None:
    # What an Italian patient says, as the Italian prompt tells the model to pass it.
    assert parse(raw) == RequestedTime(day=day, at=at)
