"""Reading the dates and times patients ask for, in the clinic's time zone.

The model passes what the patient said as ISO 8601 or a few relative words; the arithmetic happens
here against the clinic clock, never in the model.
"""

from __future__ import annotations

import calendar as _calendar
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from validation.errors import InputError
from validation.text import fold

_ISO = re.compile(
    r"^(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})"
    r"(?:[T ](?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:\.\d{1,6})?)?"
    r"(?P<tz>Z|[+-]\d{2}:?\d{2})?)?$"
)

_RELATIVE_DAYS = {
    "today": 0,
    "sot": 0,
    "tomorrow": 1,
    "neser": 1,
    "day after tomorrow": 2,
    "the day after tomorrow": 2,
    "pasneser": 2,
    "oggi": 0,
    "domani": 1,
    "dopodomani": 2,
}
_WEEKDAYS = {
    "monday": 0,
    "hene": 0,
    "e hene": 0,
    "tuesday": 1,
    "marte": 1,
    "e marte": 1,
    "wednesday": 2,
    "merkure": 2,
    "e merkure": 2,
    "thursday": 3,
    "enjte": 3,
    "e enjte": 3,
    "friday": 4,
    "premte": 4,
    "e premte": 4,
    "saturday": 5,
    "shtune": 5,
    "e shtune": 5,
    "sunday": 6,
    "diel": 6,
    "e diel": 6,
    # Italian (folded: lunedì -> lunedi).
    "lunedi": 0,
    "martedi": 1,
    "mercoledi": 2,
    "giovedi": 3,
    "venerdi": 4,
    "sabato": 5,
    "domenica": 6,
}
_MIN_YEAR, _MAX_YEAR = 1900, 2199
_EXAMPLE = "2026-12-03T10:30, 2026-12-03, 'tomorrow 10:00', 'e hënë 15:00' or 'domani 10:00'"


@dataclass(frozen=True)
class RequestedTime:
    """A parsed request: a local date and, when given, a local time of day."""

    day: date
    at: datetime | None  # aware, in the clinic zone

    @property
    def has_time(self) -> bool:
        """Whether a time of day was given."""
        return self.at is not None


def parse_requested_time(
    raw: str, *, tz: ZoneInfo, now: datetime, field: str = "preferred_date"
) -> RequestedTime:
    """Parse an ISO 8601 date/time or a relative phrase into clinic-local terms.

    Naive times are clinic time; times with an offset are converted to it.

    Args:
        raw: The text, e.g. "2026-12-03T10:30", "2026-12-03", "nesër 10:00", "next monday".
        tz: The clinic time zone.
        now: The current time (aware).
        field: The argument name, for error messages.

    Returns:
        The requested day and optional time.

    Raises:
        InputError: The text is not a date, names an impossible date, or a local time that does
            not exist (daylight-saving gap).
    """
    text = raw.strip()
    if not text or len(text) > 40:
        raise InputError(field, "is not a date", f"Use a date like {_EXAMPLE}.")
    match = _ISO.match(text)
    if match:
        return _from_iso(match, tz=tz, field=field)
    return _from_words(fold(text), tz=tz, now=now.astimezone(tz), field=field)


def _from_iso(match: re.Match[str], *, tz: ZoneInfo, field: str) -> RequestedTime:
    year, month, day_ = int(match["y"]), int(match["m"]), int(match["d"])
    if not _MIN_YEAR <= year <= _MAX_YEAR:
        # Also keeps datetime arithmetic (offsets, UTC round trips) away from year 1 and 9999.
        raise InputError(field, f"year {year} is out of range", f"Use a date like {_EXAMPLE}.")
    if not 1 <= month <= 12:
        raise InputError(field, f"month {month} does not exist", f"Use a date like {_EXAMPLE}.")
    days_in_month = _calendar.monthrange(year, month)[1]
    if not 1 <= day_ <= days_in_month:
        month_name = _calendar.month_name[month]
        raise InputError(
            field,
            f"{year}-{month:02d}-{day_:02d} is not a date ({month_name} {year} has"
            f" {days_in_month} days)",
            "Ask the patient which day they mean.",
        )
    day = date(year, month, day_)
    if match["H"] is None:
        return RequestedTime(day=day, at=None)
    hour, minute, second = int(match["H"]), int(match["M"]), int(match["S"] or 0)
    if hour > 23 or minute > 59 or second > 59:
        raise InputError(
            field, f"{hour:02d}:{minute:02d} is not a time of day", "Use 24-hour HH:MM."
        )
    offset = match["tz"]
    if offset:
        if offset == "Z":
            zone = UTC
        else:
            sign = 1 if offset[0] == "+" else -1
            digits = offset[1:].replace(":", "")
            hours_off, minutes_off = int(digits[:2]), int(digits[2:])
            if hours_off > 14 or minutes_off > 59:
                raise InputError(field, f"offset {offset} is not valid", "Omit the offset.")
            zone = timezone(sign * timedelta(hours=hours_off, minutes=minutes_off))
        at = datetime(year, month, day_, hour, minute, second, tzinfo=zone).astimezone(tz)
        return RequestedTime(day=at.date(), at=at)
    return RequestedTime(day=day, at=_local(day, time(hour, minute, second), tz=tz, field=field))


def _local(day: date, at: time, *, tz: ZoneInfo, field: str) -> datetime:
    local = datetime.combine(day, at, tzinfo=tz)
    # A wall time skipped by a daylight-saving change does not survive a round trip through UTC.
    if local.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != local.replace(tzinfo=None):
        raise InputError(
            field,
            f"{day} {at:%H:%M} does not exist in {tz.key} (clocks change that night)",
            "Pick another time.",
        )
    return local


def _from_words(text: str, *, tz: ZoneInfo, now: datetime, field: str) -> RequestedTime:
    text = re.sub(r"\s+", " ", text.replace(",", " ")).strip()
    at_text = None
    # The connective must be a whole word: "e hene 15:00" ends in "ne 15:00" but "ne" is not one.
    time_match = re.search(r"(?:(?<!\S)(?:at|ne|ora|oren|alle|ore|@) )?(\d{1,2}(?::\d{2})?)$", text)
    if time_match and time_match.start() > 0:
        at_text = time_match.group(1)
        text = text[: time_match.start()].strip()
        text = re.sub(r" (?:at|ne|ora|ne oren|ne ora|alle|alle ore)$", "", text).strip()
    text = re.sub(r"^(?:next|this|coming|te|kete|javen e ardhshme|il prossimo|prossimo) ", "", text)
    text = re.sub(r" (?:prossimo|prossima)$", "", text)
    today = now.date()
    if text in _RELATIVE_DAYS:
        day = today + timedelta(days=_RELATIVE_DAYS[text])
    elif text in _WEEKDAYS:
        ahead = (_WEEKDAYS[text] - today.weekday()) % 7
        day = today + timedelta(days=ahead)
    else:
        raise InputError(field, "is not a date I can read", f"Use a date like {_EXAMPLE}.")
    if at_text is None:
        return RequestedTime(day=day, at=None)
    hour_text, _, minute_text = at_text.partition(":")
    hour, minute = int(hour_text), int(minute_text or 0)
    if hour > 23 or minute > 59:
        raise InputError(field, f"{at_text} is not a time of day", "Use 24-hour HH:MM.")
    return RequestedTime(day=day, at=_local(day, time(hour, minute), tz=tz, field=field))
