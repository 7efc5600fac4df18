"""Free-slot search: opening hours x chairs x service duration minus what is booked."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from config.clinic import ClinicProfile
from scheduling.calendar import ClinicCalendar

# Maps each occupied grid slot start (UTC) to the chairs taken in it.
Occupancy = Mapping[datetime, frozenset[int]]
OccupancyLookup = Callable[[datetime, datetime], Awaitable[Occupancy]]


@dataclass(frozen=True)
class Slot:
    """A bookable start time for a service and how many chairs are free for all of it."""

    start: datetime
    end: datetime
    free_chairs: tuple[int, ...]

    def to_result(self) -> dict[str, str | int]:
        """JSON-ready form for the model."""
        return {
            "start": self.start.isoformat(timespec="minutes"),
            "end": self.end.isoformat(timespec="minutes"),
            "weekday": self.start.strftime("%A"),
        }


@dataclass(frozen=True)
class BookingRules:
    """How near and how far ahead appointments may be booked."""

    min_notice: timedelta
    horizon: timedelta

    def window(self, now: datetime) -> tuple[datetime, datetime]:
        """Earliest and latest bookable start for a given moment."""
        return now + self.min_notice, now + self.horizon


@dataclass(frozen=True)
class RuleProblem:
    """Which booking rule refuses a time: a stable code and a one-line English message.

    Codes: ``in_past``, ``too_soon`` (notice), ``too_far`` (horizon), ``closed``, ``off_grid``,
    ``outside_hours`` (the service does not fit in an opening interval).
    """

    code: str
    message: str


class SlotFinder:
    """Finds free slots for a service, given a way to read the chairs already taken.

    Args:
        clinic: The clinic profile.
        calendar: Its opening calendar.
        rules: Notice and horizon limits.
        occupancy: Async callable returning taken chairs per slot between two UTC instants.
    """

    def __init__(
        self,
        clinic: ClinicProfile,
        calendar: ClinicCalendar,
        rules: BookingRules,
        occupancy: OccupancyLookup,
    ) -> None:
        self._clinic = clinic
        self._calendar = calendar
        self._rules = rules
        self._occupancy = occupancy

    def candidate_starts(self, day: date, duration: timedelta) -> list[datetime]:
        """Every grid start on ``day`` where the service fits inside one opening interval."""
        step = self._clinic.slot
        starts: list[datetime] = []
        for open_at, close_at in self._calendar.open_intervals(day):
            start = open_at
            while start + duration <= close_at:
                starts.append(start)
                start += step
        return starts

    def rule_violation(
        self, start: datetime, duration: timedelta, now: datetime, *, policy: bool = True
    ) -> str | None:
        """Why ``start`` cannot be booked regardless of other bookings, or None.

        Args:
            start: The requested start.
            duration: The service length.
            now: The current time.
            policy: Also apply the notice and horizon limits (off for imported records that were
                agreed under an older policy).
        """
        problem = self.rule_problem(start, duration, now, policy=policy)
        return problem.message if problem else None

    def rule_problem(
        self, start: datetime, duration: timedelta, now: datetime, *, policy: bool = True
    ) -> RuleProblem | None:
        """Like :meth:`rule_violation`, with the rule's code (for a page that translates it)."""
        local = start.astimezone(self._clinic.tz)
        earliest, latest = self._rules.window(now)
        if local < now:
            return RuleProblem("in_past", "that time is in the past")
        if policy and local < earliest:
            minutes = int(self._rules.min_notice.total_seconds() // 60)
            return RuleProblem(
                "too_soon", f"that is too soon; bookings need at least {minutes} minutes' notice"
            )
        if policy and local > latest:
            return RuleProblem(
                "too_far", f"that is more than {self._rules.horizon.days} days ahead"
            )
        reason = self._calendar.closure_reason(local.date())
        if reason:
            return RuleProblem("closed", reason)
        if local not in self.candidate_starts(local.date(), duration):
            hours = self._calendar.describe_hours(local.date())
            if (local.minute % self._clinic.slot_minutes) or local.second:
                step = self._clinic.slot_minutes
                return RuleProblem(
                    "off_grid",
                    f"times must be on the {step}-minute grid (e.g. 10:00, 10:{step:02d})",
                )
            return RuleProblem(
                "outside_hours",
                f"that is outside opening hours ({hours}) for a {_minutes(duration)} service",
            )
        return None

    def with_rules(self, rules: BookingRules) -> SlotFinder:
        """The same finder (clinic, calendar, bookings) under other notice and horizon limits."""
        return SlotFinder(self._clinic, self._calendar, rules, self._occupancy)

    async def free_slots_on(self, day: date, duration: timedelta, now: datetime) -> list[Slot]:
        """All free slots for a service on one local day, respecting notice and horizon."""
        starts = self.candidate_starts(day, duration)
        earliest, latest = self._rules.window(now)
        starts = [s for s in starts if earliest <= s <= latest]
        if not starts:
            return []
        taken = await self._occupancy(
            starts[0].astimezone(UTC), (starts[-1] + duration).astimezone(UTC)
        )
        return [slot for s in starts if (slot := self._slot_if_free(s, duration, taken))]

    def _slot_if_free(self, start: datetime, duration: timedelta, taken: Occupancy) -> Slot | None:
        busy: set[int] = set()
        step = self._clinic.slot
        moment = start
        while moment < start + duration:
            busy |= taken.get(moment.astimezone(UTC), frozenset())
            moment += step
        free = tuple(c for c in range(1, self._clinic.chairs + 1) if c not in busy)
        return Slot(start=start, end=start + duration, free_chairs=free) if free else None

    async def nearest(
        self,
        target: datetime,
        duration: timedelta,
        now: datetime,
        *,
        count: int,
        max_days: int = 21,
    ) -> list[Slot]:
        """The ``count`` free slots closest in time to ``target``, in chronological order.

        Searches outward day by day (the target day, then later and earlier days) and stops once
        no unsearched day can hold a closer slot.
        """
        target = target.astimezone(self._clinic.tz)
        earliest, latest = self._rules.window(now)
        found: list[Slot] = []
        for offset in range(max_days + 1):
            for day in _days_at(target.date(), offset):
                if day < earliest.date() or day > latest.date():
                    continue
                found.extend(await self.free_slots_on(day, duration, now))
            if len(found) >= count:
                found.sort(key=lambda s: abs(s.start - target))
                worst = abs(found[count - 1].start - target)
                # Any day further out starts at least `offset` whole days from the target.
                if worst <= timedelta(days=offset):
                    break
        found.sort(key=lambda s: abs(s.start - target))
        return sorted(found[:count], key=lambda s: s.start)

    async def next_free(
        self, after: datetime, duration: timedelta, now: datetime, *, count: int, max_days: int = 30
    ) -> list[Slot]:
        """The first ``count`` free slots at or after ``after``."""
        after = max(after.astimezone(self._clinic.tz), now)
        found: list[Slot] = []
        for offset in range(max_days + 1):
            day = after.date() + timedelta(days=offset)
            found.extend(
                s for s in await self.free_slots_on(day, duration, now) if s.start >= after
            )
            if len(found) >= count:
                break
        return found[:count]


def _days_at(center: date, offset: int) -> list[date]:
    if offset == 0:
        return [center]
    return [center + timedelta(days=offset), center - timedelta(days=offset)]


def _minutes(duration: timedelta) -> str:
    return f"{int(duration.total_seconds() // 60)}-minute"
