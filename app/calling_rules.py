"""Lawful calling rules: the weekly calling window and the per-patient attempt policy.

Together they are the rules a campaign runs under (:class:`CampaignRules`). Pure functions
over timezone-aware datetimes; no storage and no clock of their own. All arithmetic and
comparisons happen in UTC, and results are UTC, because Python compares and subtracts two
datetimes that share a tzinfo by wall clock (wrong across a daylight-saving change) and never
finds a time in a repeated hour equal to one in another zone.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo

import holidays

from config.settings import AppSettings
from config.settings_campaign import WEEKDAY_NAMES, CallingSettings, parse_intervals
from storage import Campaign

# How far ahead next_allowed looks before giving up; two years covers any real holiday run.
MAX_SEARCH_DAYS = 2 * 366
# The span examined for daylight-saving changes around one local date, in hours.
_SPAN_BEFORE = timedelta(hours=3)
_SPAN = timedelta(hours=30)


class NoCallingTimeError(ValueError):
    """Raised when no allowed calling time exists within :data:`MAX_SEARCH_DAYS`."""


@functools.lru_cache(maxsize=512)
def holiday_dates(country: str, year: int) -> frozenset[date]:
    """The public holidays (including observed days) of a country in one year.

    Args:
        country: ISO 3166 alpha-2 code, e.g. "AL".
        year: The calendar year.

    Returns:
        The holiday dates.

    Raises:
        ValueError: The ``holidays`` package does not know the country.
    """
    try:
        return frozenset(holidays.country_holidays(country.upper(), years=year))
    except NotImplementedError:
        raise ValueError(f"no public holiday calendar for country {country!r}") from None


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("datetimes must be timezone-aware")
    return moment.astimezone(UTC)


@dataclass(frozen=True)
class CallingWindow:
    """When calls may happen, judged in the contact's own time zone.

    Attributes:
        days: Allowed weekdays (0 = Monday ... 6 = Sunday).
        intervals: Allowed ``(start, end)`` times of day in minutes after midnight; the start is
            included and the end excluded.
        skip_public_holidays: Whether public holidays of the contact's country are excluded.
    """

    days: frozenset[int]
    intervals: tuple[tuple[int, int], ...]
    skip_public_holidays: bool = True

    @classmethod
    def from_settings(cls, settings: CallingSettings) -> CallingWindow:
        """Build the window from the ``calling`` settings group.

        Args:
            settings: The validated calling settings.

        Returns:
            The calling window.
        """
        return cls(
            days=frozenset(WEEKDAY_NAMES.index(day) for day in settings.window_days),
            intervals=parse_intervals(settings.window_intervals),
            skip_public_holidays=settings.skip_public_holidays,
        )

    def callable_day(self, day: date, *, country: str) -> bool:
        """Whether calls may happen at some time on a local date.

        Args:
            day: A date in the contact's time zone.
            country: The contact's ISO country code, for public holidays.

        Returns:
            True when the weekday is allowed and the day is not a skipped holiday.
        """
        if day.weekday() not in self.days:
            return False
        return not (self.skip_public_holidays and day in holiday_dates(country, day.year))

    def allowed(self, at: datetime, *, tz: tzinfo, country: str) -> bool:
        """Whether a call may happen at an instant.

        Args:
            at: The instant (timezone-aware, any zone).
            tz: The contact's time zone.
            country: The contact's ISO country code, for public holidays.

        Returns:
            True when the contact's local time is inside the window.
        """
        local = _utc(at).astimezone(tz)
        if not self.callable_day(local.date(), country=country):
            return False
        # Flooring to whole seconds is exact because interval bounds are whole minutes.
        second = local.hour * 3600 + local.minute * 60 + local.second
        return any(start * 60 <= second < end * 60 for start, end in self.intervals)

    def next_allowed(self, after: datetime, *, tz: tzinfo, country: str) -> datetime:
        """The earliest instant at or after ``after`` at which a call may happen.

        Args:
            after: The instant to start from (timezone-aware, any zone).
            tz: The contact's time zone.
            country: The contact's ISO country code, for public holidays.

        Returns:
            That instant, in UTC.

        Raises:
            NoCallingTimeError: Nothing is allowed within :data:`MAX_SEARCH_DAYS` days.
        """
        start = _utc(after)
        if self.allowed(start, tz=tz, country=country):
            return start
        # Every allowed stretch begins where the local clock reaches an interval start or where
        # it jumps into an interval at a daylight-saving change; those are the only candidates.
        # Local dates are not monotonic in time (a clock set back over midnight revisits the
        # previous date), so look one date back and, once something is found, one date ahead.
        first_day = start.astimezone(tz).date() - timedelta(days=1)
        best: datetime | None = None
        found_at: int | None = None
        for offset in range(MAX_SEARCH_DAYS + 2):
            if found_at is not None and offset > found_at + 1:
                break
            day = first_day + timedelta(days=offset)
            if not self.callable_day(day, country=country):
                continue
            for candidate in self._candidates(day, tz):
                if candidate >= start and self.allowed(candidate, tz=tz, country=country):
                    best = candidate if best is None else min(best, candidate)
            if best is not None and found_at is None:
                found_at = offset
        if best is not None:
            return best
        raise NoCallingTimeError(f"no allowed calling time within {MAX_SEARCH_DAYS} days")

    def _candidates(self, day: date, tz: tzinfo) -> Iterable[datetime]:
        """UTC instants where an allowed stretch on local date ``day`` may begin."""
        for start, _end in self.intervals:
            hour, minute = divmod(start, 60)
            for fold in (0, 1):
                wall = datetime(day.year, day.month, day.day, hour, minute, tzinfo=tz, fold=fold)
                yield wall.astimezone(UTC)
        midnight = datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)
        yield from _offset_changes(midnight - _SPAN_BEFORE, midnight - _SPAN_BEFORE + _SPAN, tz)


def _offset_changes(lo: datetime, hi: datetime, tz: tzinfo) -> list[datetime]:
    """The first instants (whole seconds, UTC) in ``(lo, hi]`` at which ``tz`` changes offset."""

    def offset(moment: datetime) -> timedelta | None:
        return moment.astimezone(tz).utcoffset()

    if offset(lo) == offset(hi):
        # Real zones never change twice and back within a day and a bit.
        return []
    changes = []
    step = timedelta(hours=1)
    left = lo
    while left < hi:
        right = min(left + step, hi)
        if offset(left) != offset(right):
            low, high = int(left.timestamp()), int(right.timestamp())
            before = offset(left)
            # Binary search for the first whole second with the new offset.
            while high - low > 1:
                middle = (low + high) // 2
                if offset(datetime.fromtimestamp(middle, UTC)) == before:
                    low = middle
                else:
                    high = middle
            changes.append(datetime.fromtimestamp(high, UTC))
        left = right
    return changes


@dataclass(frozen=True)
class AttemptPolicy:
    """How often one patient may be called.

    Attributes:
        max_attempts: Most attempts within any stretch of ``window``.
        window: Length of the rolling window.
        refusal_pause: Time without any call after a refusal.
    """

    max_attempts: int
    window: timedelta
    refusal_pause: timedelta

    @classmethod
    def from_settings(cls, settings: CallingSettings) -> AttemptPolicy:
        """Build the policy from the ``calling`` settings group.

        Args:
            settings: The validated calling settings.

        Returns:
            The attempt policy.
        """
        return cls(
            max_attempts=settings.max_attempts,
            window=timedelta(days=settings.attempts_window_days),
            refusal_pause=timedelta(days=settings.refusal_pause_days),
        )

    def next_attempt_allowed(
        self, attempts: Sequence[datetime], refusals: Sequence[datetime], now: datetime
    ) -> datetime | None:
        """The earliest time a new attempt may happen, or None when it may happen now.

        A new attempt at ``t`` is allowed when fewer than ``max_attempts`` earlier attempts lie
        in ``(t - window, t]`` and ``t`` is at least ``refusal_pause`` after the latest refusal.
        Attempts later than ``now`` (clock skew) are counted as if they were in the past, which
        only makes the answer stricter.

        Args:
            attempts: When earlier attempts happened (timezone-aware), in any order.
            refusals: When the patient declined (timezone-aware), in any order.
            now: The current time (timezone-aware).

        Returns:
            A time later than ``now`` (in UTC), or None when nothing blocks a call now.
        """
        current = _utc(now)
        earliest = current
        recent = sorted((_utc(moment) for moment in attempts), reverse=True)
        if len(recent) >= self.max_attempts:
            earliest = max(earliest, recent[self.max_attempts - 1] + self.window)
        if refusals:
            earliest = max(earliest, max(_utc(moment) for moment in refusals) + self.refusal_pause)
        return None if earliest == current else earliest


def earliest_call(
    window: CallingWindow,
    policy: AttemptPolicy,
    *,
    attempts: Sequence[datetime],
    refusals: Sequence[datetime],
    now: datetime,
    tz: tzinfo,
    country: str,
) -> datetime:
    """The earliest instant at or after ``now`` that both the policy and the window allow.

    Args:
        window: The calling window.
        policy: The attempt policy.
        attempts: Earlier attempts for the contact.
        refusals: Earlier refusals by the contact.
        now: The current time (timezone-aware).
        tz: The contact's time zone.
        country: The contact's ISO country code.

    Returns:
        That instant in UTC; equal to ``now`` when a call may happen right away.
    """
    not_before = policy.next_attempt_allowed(attempts, refusals, now) or now
    # The window only moves the time later, and later never breaks the policy.
    return window.next_allowed(not_before, tz=tz, country=country)


@dataclass(frozen=True)
class CampaignRules:
    """The calling window and attempt policy a campaign runs under."""

    window: CallingWindow
    policy: AttemptPolicy

    @classmethod
    def for_campaign(cls, campaign: Campaign, settings: AppSettings) -> CampaignRules:
        """The settings' rules with the campaign's own window (if it has one) on top.

        Raises:
            ValueError: The campaign's stored window is malformed.
        """
        calling: CallingSettings = settings.calling
        updates = {}
        if campaign.window_days:
            updates["window_days"] = campaign.window_days
        if campaign.window_intervals:
            updates["window_intervals"] = campaign.window_intervals
        if updates:
            calling = CallingSettings.model_validate(calling.model_dump() | updates)
        return cls.from_settings(calling)

    @classmethod
    def from_settings(cls, calling: CallingSettings) -> CampaignRules:
        """The rules of the ``calling`` settings group alone (calls outside a campaign)."""
        return cls(
            window=CallingWindow.from_settings(calling),
            policy=AttemptPolicy.from_settings(calling),
        )

    @property
    def history(self) -> timedelta:
        """How far back attempts and refusals matter to the policy."""
        return max(self.policy.window, self.policy.refusal_pause)
