"""Calls, their daily analytics roll-up, and what Elo wrote in them.

The roll-up (``call_analytics``) is written by :func:`add_daily` inside the transaction that
finishes a call or books an appointment, so the counters never disagree with the rows.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

import aiosqlite

from storage.database import Database
from storage.do_not_call import is_listed
from storage.errors import NotFoundError
from storage.models import CallDirection, CallFacts, CallRecord, DailyAnalytics, Stats
from storage.patients import count_patients
from storage.privacy_keys import PrivacyKeys
from storage.records import WriteCount
from storage.rows import to_call
from storage.timefmt import from_db, to_db

# A record counts for a number when it is that number's patient's, or was made in a call bound
# to that number. ``{t}`` is the table (appointments or follow_ups).
_FOR_NUMBER = (
    "SELECT count(*) FROM {t} r WHERE r.source = 'agent' AND r.created_at >= ?"
    " AND (r.patient_id IN (SELECT id FROM patients WHERE phone = ?)"
    " OR r.call_id IN (SELECT id FROM calls WHERE phone = ?))"
)
# A record of an unbound call: its call has no number, or there is no call row for it at all
# (counted too, so a record can never escape both caps).
_UNBOUND = (
    "SELECT count(*) FROM {t} r WHERE r.source = 'agent' AND r.created_at >= ?"
    " AND NOT EXISTS (SELECT 1 FROM calls c WHERE c.id = r.call_id AND c.phone IS NOT NULL)"
)
# One statement, so the call, its bookings and its callback are read from one snapshot.
_FACTS_SQL = """
SELECT c.id IS NOT NULL AS recorded, c.ended_at IS NOT NULL AS ended, c.outcome,
    (SELECT count(*) FROM appointments WHERE call_id = q.id AND status != 'cancelled')
        AS bookings,
    (SELECT min(due_at) FROM follow_ups WHERE call_id = q.id AND status = 'pending')
        AS follow_up_due,
    -- Appointments the patient confirmed or moved in the call (its tools audit them with the
    -- actor agent:CALL_ID); the audit's time index bounds the read to the call's own minutes.
    (SELECT count(*) FROM audit_log WHERE at >= c.started_at AND actor = 'agent:' || q.id
        AND action IN ('appointment.confirm', 'appointment.move')) AS kept
FROM (SELECT ? AS id) q LEFT JOIN calls c ON c.id = q.id
"""


async def add_daily(
    conn: aiosqlite.Connection,
    *,
    day: date,
    calls: int = 0,
    converted: int = 0,
    booked: int = 0,
    revenue: int = 0,
) -> None:
    """Add to one local day's analytics counters, inside the caller's transaction.

    Args:
        conn: The connection of an open write transaction.
        day: The clinic-local day.
        calls: Finished calls to count.
        converted: Of those, calls that booked.
        booked: Bookings to count.
        revenue: Their price in whole lek.
    """
    # One statement (one round trip): the day's row is every booking's, so it is held briefly.
    await conn.execute(
        "INSERT INTO call_analytics (day, total_calls, converted_calls, appointments_booked,"
        " revenue_generated, conversion_rate) VALUES (?, ?, ?, ?, ?, CASE WHEN ? > 0"
        " THEN round(CAST(? AS REAL) / ?, 4) ELSE 0 END) ON CONFLICT(day) DO UPDATE SET"
        " total_calls = call_analytics.total_calls + excluded.total_calls,"
        " converted_calls = call_analytics.converted_calls + excluded.converted_calls,"
        " appointments_booked = call_analytics.appointments_booked + excluded.appointments_booked,"
        " revenue_generated = call_analytics.revenue_generated + excluded.revenue_generated,"
        " conversion_rate = CASE WHEN call_analytics.total_calls + excluded.total_calls > 0"
        " THEN round(CAST(call_analytics.converted_calls + excluded.converted_calls AS REAL)"
        " / (call_analytics.total_calls + excluded.total_calls), 4) ELSE 0 END",
        (day.isoformat(), calls, converted, booked, revenue, calls, converted, calls),
    )


class CallRepository:
    """The ``calls`` table and the ``call_analytics`` roll-up.

    Args:
        db: The open database.
        keys: The privacy hash key (the do-not-call check of :meth:`facts`).
    """

    def __init__(self, db: Database, keys: PrivacyKeys) -> None:
        self._db = db
        self._keys = keys

    async def start(
        self,
        *,
        call_id: str,
        patient_id: int | None = None,
        phone: str | None = None,
        direction: CallDirection = CallDirection.OUTBOUND,
    ) -> CallRecord:
        """Create the row for a call that is starting.

        Args:
            call_id: The call's id.
            patient_id: The patient called (or calling), when known.
            phone: The E.164 number dialled (or calling), when known.
            direction: Who placed the call: Elo (outbound) or the caller (inbound).
        """
        async with self._db.transaction() as conn:
            async with conn.execute(
                "INSERT INTO calls (id, patient_id, phone, direction, started_at)"
                " VALUES (?, ?, ?, ?, ?) RETURNING *",
                (call_id, patient_id, phone, str(direction), to_db(self._db.clock())),
            ) as cur:
                row = await cur.fetchone()
        return to_call(row)

    async def count_recent(self, *, phone: str, since: datetime) -> int:
        """Calls with this number that started at or after ``since`` (for per-number caps)."""
        return await self._db.scalar(
            "SELECT count(*) FROM calls WHERE phone = ? AND started_at >= ?", (phone, to_db(since))
        )

    async def save_progress(
        self,
        *,
        call_id: str,
        transcript: list[dict[str, Any]],
        counters: dict[str, Any],
        turns: int,
        tool_calls: int,
    ) -> None:
        """Overwrite a running call's transcript and counters (called incrementally)."""
        async with self._db.transaction() as conn:
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

    async def finish(
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
        now = self._db.clock()
        async with self._db.transaction() as conn:
            async with conn.execute(
                "UPDATE calls SET ended_at = ?, outcome = ?, outcome_reason = ?,"
                " appointments_booked = ?, revenue_booked = ?"
                " WHERE id = ? AND ended_at IS NULL RETURNING *",
                (to_db(now), outcome, outcome_reason, appointments_booked, revenue_booked, call_id),
            ) as cur:
                row = await cur.fetchone()
            # A dial nobody answered is no conversation: it stays out of the daily call counts.
            if row is not None and outcome != "not_answered":
                await add_daily(
                    conn,
                    day=self._local_day(from_db(row["started_at"])),
                    calls=1,
                    converted=1 if appointments_booked else 0,
                )
        if row is None:
            record = await self.get(call_id=call_id)
            if record is None:
                raise NotFoundError(f"no call {call_id}")
            return record
        return to_call(row)

    def _local_day(self, moment: datetime) -> date:
        return moment.astimezone(self._db.tz).date()

    async def get(self, *, call_id: str) -> CallRecord | None:
        """One call's row."""
        row = await self._db.row("SELECT * FROM calls WHERE id = ?", (call_id,))
        return to_call(row) if row else None

    async def facts(self, *, call_id: str, phone: str | None) -> CallFacts:
        """What a call left behind, for its campaign attempt's outcome, in one read.

        Args:
            call_id: The call.
            phone: The number called; None or empty: no do-not-call check (``opted_out`` is
                False).

        Returns:
            The call's end and outcome, its standing bookings, its earliest pending callback
            and whether the number is on the do-not-call list now.
        """
        (row,) = await self._db.rows(_FACTS_SQL, (call_id,))
        opted_out = bool(phone) and await is_listed(self._db.conn, self._keys, phone or "")
        return CallFacts(
            call_id=call_id,
            recorded=bool(row["recorded"]),
            ended=bool(row["ended"]),
            outcome=row["outcome"] if row["ended"] else None,
            bookings=int(row["bookings"]),
            follow_up_due=from_db(row["follow_up_due"]) if row["follow_up_due"] else None,
            opted_out=opted_out,
            kept=int(row["kept"] or 0),
        )

    async def daily(self, *, first_day: date, last_day: date) -> list[DailyAnalytics]:
        """The roll-up rows between two local dates, inclusive."""
        rows = await self._db.rows(
            "SELECT day, total_calls, appointments_booked, revenue_generated, conversion_rate"
            " FROM call_analytics WHERE day >= ? AND day <= ? ORDER BY day",
            (first_day.isoformat(), last_day.isoformat()),
        )
        return [DailyAnalytics.model_validate(dict(row)) for row in rows]

    async def stats(self, *, first_day: date | None = None, last_day: date | None = None) -> Stats:
        """Aggregates only: calls, bookings, revenue, conversion, and open work counts."""
        low = first_day.isoformat() if first_day else "0000-01-01"
        high = last_day.isoformat() if last_day else "9999-12-31"
        (row,) = await self._db.rows(
            "SELECT min(day), max(day), coalesce(sum(total_calls), 0),"
            " coalesce(sum(converted_calls), 0), coalesce(sum(appointments_booked), 0),"
            " coalesce(sum(revenue_generated), 0) FROM call_analytics WHERE day BETWEEN ? AND ?",
            (low, high),
        )
        now = to_db(self._db.clock())
        upcoming = await self._db.scalar(
            "SELECT count(*) FROM appointments WHERE starts_at >= ?"
            " AND status IN ('scheduled', 'confirmed')",
            (now,),
        )
        pending = await self._db.scalar("SELECT count(*) FROM follow_ups WHERE status = 'pending'")
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
            patients=await count_patients(self._db),
        )

    async def writes_for_number(self, *, phone: str, since: datetime) -> WriteCount:
        """Elo's appointments and follow-ups for a number created at or after ``since``.

        Records count whatever their status now: a booking staff cancelled was still made.

        Args:
            phone: The E.164 number (the patient's, or the number a call was bound to).
            since: The start of the period.
        """
        counts = [
            int(await self._db.scalar(_FOR_NUMBER.format(t=table), (to_db(since), phone, phone)))
            for table in ("appointments", "follow_ups")
        ]
        return WriteCount(*counts)

    async def unbound_writes(self, *, since: datetime) -> int:
        """Elo's appointments plus follow-ups made in calls without a bound number since ``since``.

        Args:
            since: The start of the period.
        """
        total = 0
        for table in ("appointments", "follow_ups"):
            total += int(await self._db.scalar(_UNBOUND.format(t=table), (to_db(since),)))
        return total
