"""Attendance figures (issue 13 §3): confirmations, no-shows by reminder path, revenue kept.

Over the appointments that start in a range of clinic-local days (``appointments_starts_at``),
each looked at once: its final status, whether it was confirmed before it started, and which
messages were **sent** for it before its start (``messages_appointment``: sent rows of that
appointment). Cancellation notices are not reminders and do not count as a path.

Confirmation: before migration 16 the only trace is the status ``confirmed``, which marking the
appointment attended or no-show overwrites; so until then the rate counts appointments still
``confirmed`` (a lower bound for past days). Once ``appointments.confirmed_at`` and
``confirmed_via`` exist (read from ``PRAGMA table_info``), an appointment confirmed at or before
its start counts whatever its status now, and the confirmations are counted per channel.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict

from storage.database import Database
from storage.dialect import columns_sql
from storage.timefmt import to_db

ReminderPath = Literal["none", "sms", "email", "sms+email"]
PATHS: tuple[ReminderPath, ...] = ("none", "sms", "email", "sms+email")
_MAX_DAYS = 366

# {confirmed} and {via} depend on whether migration 16's columns exist (see the module doc).
_SQL = """
WITH seen AS MATERIALIZED (
    SELECT a.status, a.price_lek, {confirmed} AS confirmed, {via} AS via,
        EXISTS (SELECT 1 FROM messages m WHERE m.appointment_id = a.id AND m.status = 'sent'
            AND m.channel = 'sms' AND m.kind != 'cancelled' AND m.sent_at < a.starts_at) AS sms,
        EXISTS (SELECT 1 FROM messages m WHERE m.appointment_id = a.id AND m.status = 'sent'
            AND m.channel = 'email' AND m.kind != 'cancelled' AND m.sent_at < a.starts_at)
            AS email,
        EXISTS (SELECT 1 FROM messages m WHERE m.appointment_id = a.id AND m.status = 'sent'
            AND m.kind = 'reminder' AND m.sent_at < a.starts_at) AS reminded
    FROM appointments a WHERE a.starts_at >= ? AND a.starts_at < ?
)
SELECT status, confirmed, via, sms, email, reminded, count(*) AS n,
    coalesce(sum(price_lek), 0) AS lek
FROM seen GROUP BY status, confirmed, via, sms, email, reminded
"""


class _View(BaseModel):
    model_config = ConfigDict(frozen=True)


class PathFigures(_View):
    """No-shows of the appointments reached by one reminder path.

    Attributes:
        path: Which channels had sent a message before the start: none, sms, email, sms+email.
        appointments: Appointments of this path that were marked (attended or no-show).
        no_shows: Of those, marked no-show.
        no_show_rate: no_shows / appointments (4 places); None when there are none.
    """

    path: ReminderPath
    appointments: int
    no_shows: int
    no_show_rate: float | None


class AttendanceFigures(_View):
    """Attendance over the appointments starting from ``first_day`` to ``last_day`` (inclusive).

    Attributes:
        first_day: First clinic-local day.
        last_day: Last clinic-local day.
        appointments: Every appointment starting in the range (any status).
        attended: Marked attended (status ``completed``).
        no_shows: Marked no-show.
        cancelled: Cancelled.
        confirmed: Confirmed before the start (see the module doc for before migration 16).
        confirmation_rate: confirmed / appointments (4 places); None without appointments.
        confirmed_by_channel: Confirmations per ``confirmed_via`` (call, sms, email, staff);
            None before migration 16.
        no_show_rate: no_shows / (attended + no_shows); None when none was marked.
        by_reminder_path: One entry per path, always all four, in the order of ``PATHS``.
        revenue_kept_lek: Prices of attended appointments that had a reminder sent before
            they started, in whole lek.
    """

    first_day: date
    last_day: date
    appointments: int
    attended: int
    no_shows: int
    cancelled: int
    confirmed: int
    confirmation_rate: float | None
    confirmed_by_channel: dict[str, int] | None
    no_show_rate: float | None
    by_reminder_path: list[PathFigures]
    revenue_kept_lek: int


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


class Attendance:
    """The attendance read model (``store.attendance``).

    Args:
        db: The open database.
    """

    def __init__(self, db: Database) -> None:
        self._db = db

    async def _has_confirmed_columns(self) -> bool:
        rows = await self._db.rows(columns_sql(self._db.conn), ("appointments",))
        names = {row[0] for row in rows}
        return {"confirmed_at", "confirmed_via"} <= names

    async def figures(self, *, first_day: date, last_day: date) -> AttendanceFigures:
        """The figures of the appointments starting on ``first_day`` .. ``last_day``.

        Raises:
            ValueError: ``last_day`` before ``first_day``, or more than 366 days.
        """
        if last_day < first_day:
            raise ValueError("the last day is before the first day")
        if (last_day - first_day).days >= _MAX_DAYS:
            raise ValueError(f"at most {_MAX_DAYS} days at once")
        tz = self._db.tz
        lo = datetime.combine(first_day, time(0), tzinfo=tz)
        hi = datetime.combine(last_day + timedelta(days=1), time(0), tzinfo=tz)
        if await self._has_confirmed_columns():
            confirmed = (
                "(a.status = 'confirmed' OR (a.confirmed_at IS NOT NULL"
                " AND a.confirmed_at <= a.starts_at))"
            )
            via = "CASE WHEN a.confirmed_at <= a.starts_at THEN a.confirmed_via END"
            by_channel: dict[str, int] | None = {}
        else:
            confirmed, via, by_channel = "a.status = 'confirmed'", "NULL", None
        sql = _SQL.format(confirmed=confirmed, via=via)
        rows = await self._db.rows(sql, (to_db(lo), to_db(hi)))
        counts = {"completed": 0, "no_show": 0, "cancelled": 0}
        paths = {path: [0, 0] for path in PATHS}  # marked, no-shows
        total = confirmed_n = kept = 0
        for row in rows:
            status, n = row["status"], int(row["n"])
            total += n
            counts[status] = counts.get(status, 0) + n
            if row["confirmed"]:
                confirmed_n += n
                if by_channel is not None and row["via"] is not None:
                    by_channel[row["via"]] = by_channel.get(row["via"], 0) + n
            if status in ("completed", "no_show"):
                path = _path(bool(row["sms"]), bool(row["email"]))
                paths[path][0] += n
                paths[path][1] += n if status == "no_show" else 0
            if status == "completed" and row["reminded"]:
                kept += int(row["lek"])
        marked = counts["completed"] + counts["no_show"]
        return AttendanceFigures(
            first_day=first_day,
            last_day=last_day,
            appointments=total,
            attended=counts["completed"],
            no_shows=counts["no_show"],
            cancelled=counts["cancelled"],
            confirmed=confirmed_n,
            confirmation_rate=_rate(confirmed_n, total),
            confirmed_by_channel=by_channel,
            no_show_rate=_rate(counts["no_show"], marked),
            by_reminder_path=[
                PathFigures(
                    path=path,
                    appointments=paths[path][0],
                    no_shows=paths[path][1],
                    no_show_rate=_rate(paths[path][1], paths[path][0]),
                )
                for path in PATHS
            ],
            revenue_kept_lek=kept,
        )


def _path(sms: bool, email: bool) -> ReminderPath:
    if sms and email:
        return "sms+email"
    if sms:
        return "sms"
    return "email" if email else "none"
