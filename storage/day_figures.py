"""The Today page's figures: one clinic-local day, and a run of days for the chart.

Counted from the rows themselves (calls, appointments), not the ``call_analytics`` roll-up, so a
figure always agrees with the calls list and the calendar. Day boundaries are the clinic's local
midnights converted to UTC, so the days around a daylight-saving change are 23 and 25 hours long
and a call at 00:30 local time counts on its own local day.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from storage.dashboard_models import DayFigures
from storage.database import Database
from storage.models import CallOutcome
from storage.timefmt import to_db

# Outcomes of a call a person answered (or picked up and then said nothing or hung up): not a
# dial nobody took, an answering machine, a failure of the system, or a call staff cancelled.
ANSWERED: tuple[str, ...] = tuple(
    str(o)
    for o in (
        CallOutcome.COMPLETED,
        CallOutcome.BOOKED,
        CallOutcome.DECLINED,
        CallOutcome.OPTED_OUT,
        CallOutcome.FOLLOW_UP,
        CallOutcome.WRONG_PERSON,
        CallOutcome.TRANSFERRED,
        CallOutcome.HUNG_UP,
        CallOutcome.NO_RESPONSE,
    )
)
_ANSWERED_SQL = ", ".join(f"'{o}'" for o in ANSWERED)  # fixed values, never input
_MAX_DAYS = 366

# Per day (lo <= t < hi, UTC text): every figure is one index range (migration 12's indexes).
_FIGURES_SQL = f"""
SELECT d.day,
    (SELECT count(*) FROM calls WHERE started_at >= d.lo AND started_at < d.hi) AS calls,
    (SELECT count(*) FROM calls WHERE started_at >= d.lo AND started_at < d.hi
        AND outcome IN ({_ANSWERED_SQL})) AS answered,
    (SELECT count(*) FROM appointments WHERE call_id IS NOT NULL
        AND created_at >= d.lo AND created_at < d.hi AND status != 'cancelled') AS bookings,
    (SELECT coalesce(sum(price_lek), 0) FROM appointments WHERE call_id IS NOT NULL
        AND created_at >= d.lo AND created_at < d.hi AND status != 'cancelled') AS revenue,
    (SELECT count(*) FROM appointments WHERE status = 'no_show'
        AND starts_at >= d.lo AND starts_at < d.hi) AS no_shows
FROM days d
"""  # noqa: S608


class DayFiguresRepository:
    """Counts per clinic-local day for the Today page (aggregates only, no patient data).

    Args:
        db: The open database (its time zone is the clinic's).
    """

    def __init__(self, db: Database) -> None:
        self._db = db

    def bounds(self, day: date) -> tuple[datetime, datetime]:
        """The aware start of ``day`` and of the next day, at local midnight."""
        tz = self._db.tz
        start = datetime.combine(day, time(0), tzinfo=tz)
        end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)
        return start, end

    def today(self) -> date:
        """The clinic's local date now."""
        return self._db.clock().astimezone(self._db.tz).date()

    async def day(self, *, day: date) -> DayFigures:
        """The figures of one local day."""
        (figures,) = await self.series(last_day=day, days=1)
        return figures

    async def series(self, *, last_day: date, days: int = 30) -> list[DayFigures]:
        """The figures of ``days`` local days ending with ``last_day``, oldest first.

        Every day is present; a day with nothing has zeros.

        Args:
            last_day: The last local day (e.g. today).
            days: How many days, 1 to 366.

        Raises:
            ValueError: ``days`` out of range.
        """
        if not 1 <= days <= _MAX_DAYS:
            raise ValueError(f"days must be 1 to {_MAX_DAYS}, not {days}")
        params: list[str] = []
        for offset in range(days - 1, -1, -1):
            day = last_day - timedelta(days=offset)
            start, end = self.bounds(day)
            params += [day.isoformat(), to_db(start), to_db(end)]
        values = ", ".join(["(?, ?, ?)"] * days)
        rows = await self._db.rows(
            f"WITH days(day, lo, hi) AS (VALUES {values}) {_FIGURES_SQL}",
            params,
        )
        # No ORDER BY (a sort SQLite would run on a temporary b-tree): the days, sorted here.
        return sorted(
            (
                DayFigures(
                    day=date.fromisoformat(row["day"]),
                    calls=row["calls"],
                    answered=row["answered"],
                    bookings=row["bookings"],
                    revenue_lek=row["revenue"],
                    conversion=round(row["bookings"] / row["answered"], 4)
                    if row["answered"]
                    else 0.0,
                    no_shows=row["no_shows"],
                )
                for row in rows
            ),
            key=lambda figures: figures.day,
        )
