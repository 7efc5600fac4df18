"""When the clinic is open: weekly hours minus closed dates and public holidays."""

from __future__ import annotations

from datetime import date, datetime

import holidays

from config.clinic import ClinicProfile
from validation.languages import language_of


class ClinicCalendar:
    """Answers whether and when the clinic is open on a given local date.

    Args:
        clinic: The clinic profile.
        language: Language for holiday names (sq, en or it; ``validation.languages``).
    """

    def __init__(self, clinic: ClinicProfile, *, language: str = "sq") -> None:
        self._clinic = clinic
        self._closed = set(clinic.closed_dates)
        self._holidays = (
            holidays.country_holidays(
                clinic.country, language=_holiday_language(clinic.country, language)
            )
            if clinic.observe_public_holidays
            else None
        )

    def closure_reason(self, day: date) -> str | None:
        """Why the clinic is closed on ``day``, or None when it opens.

        Args:
            day: A date in the clinic's time zone.

        Returns:
            A short reason such as "public holiday (Dita e Pavarësisë)" or "closed on Sundays".
        """
        if day in self._closed:
            return "the clinic is closed that day"
        # An empty HolidayBase is falsy until a year is looked up, so test for None.
        name = self._holidays.get(day) if self._holidays is not None else None
        if name:
            return f"public holiday ({name})"
        if not self._clinic.intervals_on(day):
            return f"the clinic is closed on {day.strftime('%A')}s"
        return None

    def open_intervals(self, day: date) -> list[tuple[datetime, datetime]]:
        """Opening intervals of ``day`` as aware datetimes in the clinic zone; empty if closed."""
        if self.closure_reason(day) is not None:
            return []
        tz = self._clinic.tz
        return [
            (datetime.combine(day, i.start, tzinfo=tz), datetime.combine(day, i.end, tzinfo=tz))
            for i in self._clinic.intervals_on(day)
        ]

    def is_open(self, at: datetime) -> bool:
        """Whether the clinic is open at the aware instant ``at`` (start included, end not)."""
        local = at.astimezone(self._clinic.tz)
        return any(start <= local < end for start, end in self.open_intervals(local.date()))

    def describe_hours(self, day: date) -> str:
        """Opening hours of ``day`` as text, e.g. "09:00-13:00, 14:00-19:00"."""
        intervals = self._clinic.intervals_on(day)
        return ", ".join(f"{i.start:%H:%M}-{i.end:%H:%M}" for i in intervals) or "closed"


def _holiday_language(country: str, language: str) -> str:
    """The ``holidays`` language for a call's language: Italian names where the country has them.

    Albania's holidays come in sq, en_US and uk only; an Italian patient then hears the English
    names (Italian patients read English better than Albanian, like the clinic profile's texts).
    """
    lang = language_of(language)
    if lang == "sq":
        return "sq"
    if lang == "it":
        supported = holidays.country_holidays(country).supported_languages
        for code in ("it", "it_IT"):
            if code in supported:
                return code
    return "en_US"
