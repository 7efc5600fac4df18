"""The staff calendar's day and week: per chair, its appointments and its free times.

Days are the clinic's local days (Europe/Tirane): a day runs from local midnight to the next
local midnight, 23 hours on the last Sunday of March and 25 on the last Sunday of October. A
week is read with two indexed range queries (appointments by start, held slots by start),
however many appointments the clinic holds.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, tzinfo

from pydantic import BaseModel, ConfigDict

from config.clinic import ClinicProfile
from scheduling.calendar import ClinicCalendar
from scheduling.slots import Occupancy, Slot, SlotFinder
from storage.calendar_models import CalendarEntry


class _View(BaseModel):
    model_config = ConfigDict(frozen=True)


class TimeRange(_View):
    """A span of local time, start included, end excluded (aware, clinic zone)."""

    start: datetime
    end: datetime


class SlotOption(_View):
    """A free time offered instead of a taken one: start, end and the chairs free for all of it."""

    start: datetime
    end: datetime
    free_chairs: tuple[int, ...]

    @classmethod
    def from_slot(cls, slot: Slot) -> SlotOption:
        """The slot finder's :class:`Slot` as a view model."""
        return cls(start=slot.start, end=slot.end, free_chairs=slot.free_chairs)


class ChairDay(_View):
    """One chair on one day.

    Attributes:
        chair: The chair (1-based).
        appointments: Its appointments starting that day, by start (cancelled ones only when
            asked for).
        free: Its free times that can still be booked (not before now), as runs of free grid
            slots inside opening hours; each run is free on this chair for all of it.
    """

    chair: int
    appointments: list[CalendarEntry]
    free: list[TimeRange]


class DayView(_View):
    """One local day of the calendar.

    Attributes:
        day: The local date.
        starts_at: Its first instant (local midnight, aware).
        ends_at: The next day's first instant (23 or 25 hours later on a clock-change day).
        closed_reason: Why the clinic is closed that day (holiday, closed date, weekday), or None.
        open_intervals: The opening hours, aware.
        chairs: Every chair of the clinic, in order.
    """

    day: date
    starts_at: datetime
    ends_at: datetime
    closed_reason: str | None
    open_intervals: list[TimeRange]
    chairs: list[ChairDay]


class WeekView(_View):
    """Seven local days from a Monday."""

    first_day: date
    days: list[DayView]


def day_bounds(day: date, tz: tzinfo) -> tuple[datetime, datetime]:
    """Local midnight of ``day`` and of the next day, aware (DST-correct)."""
    return (
        datetime.combine(day, time.min, tzinfo=tz),
        datetime.combine(day + timedelta(days=1), time.min, tzinfo=tz),
    )


def build_day(
    day: date,
    *,
    clinic: ClinicProfile,
    calendar: ClinicCalendar,
    slots: SlotFinder,
    entries: list[CalendarEntry],
    taken: Occupancy,
    now: datetime,
) -> DayView:
    """Assemble one day from what was read for it (or for its whole week).

    Args:
        day: The local date.
        clinic: The clinic profile (chairs, grid).
        calendar: Its opening calendar.
        slots: The slot finder, for the grid starts inside opening hours.
        entries: The appointments starting that day.
        taken: Chairs held per UTC grid slot (at least for that day).
        now: The current time; earlier slots are not offered as free.
    """
    start, end = day_bounds(day, clinic.tz)
    step = clinic.slot
    grid = [s for s in slots.candidate_starts(day, step) if s >= now]
    chairs = []
    for chair in range(1, clinic.chairs + 1):
        free_starts = [s for s in grid if chair not in taken.get(s.astimezone(UTC), frozenset())]
        chairs.append(
            ChairDay(
                chair=chair,
                appointments=[e for e in entries if e.chair == chair],
                free=_runs(free_starts, step),
            )
        )
    return DayView(
        day=day,
        starts_at=start,
        ends_at=end,
        closed_reason=calendar.closure_reason(day),
        open_intervals=[TimeRange(start=a, end=b) for a, b in calendar.open_intervals(day)],
        chairs=chairs,
    )


def _runs(starts: list[datetime], step: timedelta) -> list[TimeRange]:
    """Consecutive grid starts merged into ranges (compared in UTC, so a clock change splits)."""
    runs: list[TimeRange] = []
    for start in starts:
        if runs and runs[-1].end.astimezone(UTC) == start.astimezone(UTC):
            runs[-1] = TimeRange(start=runs[-1].start, end=start + step)
        else:
            runs.append(TimeRange(start=start, end=start + step))
    return runs
