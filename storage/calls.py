"""Calls and their daily analytics roll-up.

A mixin of :class:`storage.store.Store`, like :mod:`storage.dnc`; the methods appear on ``Store``
itself, so callers see one flat API.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import aiosqlite

from storage.models import CallRecord, DailyAnalytics, Stats
from storage.timefmt import from_db, to_db


class CallsMixin:
    """Call and analytics methods; the host class provides the connection, clock and transactions.

    ``stats`` also reads the host's ``_scalar`` and ``count_patients``.
    """

    _conn: aiosqlite.Connection
    _clock: Callable[[], datetime]
    _tz: ZoneInfo
    _transaction: Callable[[], AbstractAsyncContextManager[aiosqlite.Connection]]
    _scalar: Callable[..., Awaitable[Any]]
    count_patients: Callable[[], Awaitable[int]]

    async def start_call(
        self, *, call_id: str, patient_id: int | None = None, phone: str | None = None
    ) -> CallRecord:
        """Create the row for a call that is starting.

        Args:
            call_id: The call's id.
            patient_id: The patient called, when known.
            phone: The E.164 number dialled (or calling), when known.
        """
        async with self._transaction() as conn:
            async with conn.execute(
                "INSERT INTO calls (id, patient_id, phone, started_at) VALUES (?, ?, ?, ?)"
                " RETURNING *",
                (call_id, patient_id, phone, to_db(self._clock())),
            ) as cur:
                row = await cur.fetchone()
        return _call(row)

    async def count_recent_calls(self, *, phone: str, since: datetime) -> int:
        """Calls with this number that started at or after ``since`` (for per-number caps)."""
        return await self._scalar(
            "SELECT count(*) FROM calls WHERE phone = ? AND started_at >= ?", (phone, to_db(since))
        )

    async def save_call_progress(
        self,
        *,
        call_id: str,
        transcript: list[dict[str, Any]],
        counters: dict[str, Any],
        turns: int,
        tool_calls: int,
    ) -> None:
        """Overwrite a running call's transcript and counters (called incrementally)."""
        async with self._transaction() as conn:
            await conn.execute(
                "UPDATE calls SET transcript = ?, counters = ?, turns = ?, tool_calls = ?"
                " WHERE id = ?",
                (
                    json.dumps(transcript, ensure_ascii=False),
                    json.dumps(counters, ensure_ascii=False),
                    turns,
                    tool_calls,
                    call_id,
                ),
            )

    async def finish_call(
        self,
        *,
        call_id: str,
        outcome: str,
        outcome_reason: str | None = None,
        appointments_booked: int = 0,
        revenue_booked: int = 0,
    ) -> CallRecord:
        """Close a call and count it in the daily roll-up (once, even if called twice).

        Raises:
            NotFoundError: No such call.
        """
        from storage.store import NotFoundError  # the store module imports this one

        now = self._clock()
        async with self._transaction() as conn:
            async with conn.execute(
                "UPDATE calls SET ended_at = ?, outcome = ?, outcome_reason = ?,"
                " appointments_booked = ?, revenue_booked = ?"
                " WHERE id = ? AND ended_at IS NULL RETURNING *",
                (to_db(now), outcome, outcome_reason, appointments_booked, revenue_booked, call_id),
            ) as cur:
                row = await cur.fetchone()
            # A dial nobody answered is no conversation: it stays out of the daily call counts.
            if row is not None and outcome != "not_answered":
                await self._add_daily(
                    conn,
                    from_db(row["started_at"]),
                    calls=1,
                    converted=1 if appointments_booked else 0,
                )
        if row is None:
            record = await self.get_call(call_id=call_id)
            if record is None:
                raise NotFoundError(f"no call {call_id}")
            return record
        return _call(row)

    async def get_call(self, *, call_id: str) -> CallRecord | None:
        """One call's row."""
        async with self._conn.execute("SELECT * FROM calls WHERE id = ?", (call_id,)) as cur:
            row = await cur.fetchone()
        return _call(row) if row else None

    async def _add_daily(
        self,
        conn: aiosqlite.Connection,
        moment: datetime,
        *,
        calls: int = 0,
        converted: int = 0,
        booked: int = 0,
        revenue: int = 0,
    ) -> None:
        day = moment.astimezone(self._tz).date().isoformat()
        await conn.execute(
            "INSERT INTO call_analytics (day, total_calls, appointments_booked, revenue_generated)"
            " VALUES (?, ?, ?, ?) ON CONFLICT(day) DO UPDATE SET"
            " total_calls = total_calls + excluded.total_calls,"
            " appointments_booked = appointments_booked + excluded.appointments_booked,"
            " revenue_generated = revenue_generated + excluded.revenue_generated",
            (day, calls, booked, revenue),
        )
        if converted:
            await conn.execute(
                "UPDATE call_analytics SET converted_calls = converted_calls + ? WHERE day = ?",
                (converted, day),
            )
        await conn.execute(
            "UPDATE call_analytics SET conversion_rate = CASE WHEN total_calls > 0"
            " THEN round(CAST(converted_calls AS REAL) / total_calls, 4) ELSE 0 END WHERE day = ?",
            (day,),
        )

    async def daily_analytics(self, *, first_day: date, last_day: date) -> list[DailyAnalytics]:
        """The roll-up rows between two local dates, inclusive."""
        async with self._conn.execute(
            "SELECT day, total_calls, appointments_booked, revenue_generated, conversion_rate"
            " FROM call_analytics WHERE day >= ? AND day <= ? ORDER BY day",
            (first_day.isoformat(), last_day.isoformat()),
        ) as cur:
            return [DailyAnalytics.model_validate(dict(row)) async for row in cur]

    async def stats(self, *, first_day: date | None = None, last_day: date | None = None) -> Stats:
        """Aggregates only: calls, bookings, revenue, conversion, and open work counts."""
        low = first_day.isoformat() if first_day else "0000-01-01"
        high = last_day.isoformat() if last_day else "9999-12-31"
        async with self._conn.execute(
            "SELECT min(day), max(day), coalesce(sum(total_calls), 0),"
            " coalesce(sum(converted_calls), 0), coalesce(sum(appointments_booked), 0),"
            " coalesce(sum(revenue_generated), 0) FROM call_analytics WHERE day BETWEEN ? AND ?",
            (low, high),
        ) as cur:
            row = await cur.fetchone()
        now = to_db(self._clock())
        upcoming = await self._scalar(
            "SELECT count(*) FROM appointments WHERE starts_at >= ?"
            " AND status IN ('scheduled', 'confirmed')",
            (now,),
        )
        pending = await self._scalar("SELECT count(*) FROM follow_ups WHERE status = 'pending'")
        calls, converted = row[2], row[3]
        return Stats(
            first_day=date.fromisoformat(row[0]) if row[0] else None,
            last_day=date.fromisoformat(row[1]) if row[1] else None,
            total_calls=calls,
            appointments_booked=row[4],
            revenue_generated=row[5],
            conversion_rate=round(converted / calls, 4) if calls else 0.0,
            upcoming_appointments=upcoming,
            pending_follow_ups=pending,
            patients=await self.count_patients(),
        )


def _call(row: sqlite3.Row) -> CallRecord:
    data = dict(row)
    data["started_at"] = from_db(data["started_at"])
    data["ended_at"] = from_db(data["ended_at"]) if data["ended_at"] else None
    data["transcript"] = json.loads(data["transcript"])
    data["counters"] = json.loads(data["counters"])
    return CallRecord.model_validate(data)
