"""What Elo wrote, for the caps that span calls and for staff repairing damage.

A mixin of :class:`storage.store.Store`. The counts feed :class:`pipeline.limits.CallLimiter`
(bookings and callbacks per number per day, and the shared budget of calls without a bound
number); the searches and the follow-up status change back ``elo appointments`` and
``elo follow-ups``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any, NamedTuple

import aiosqlite

from storage.models import Appointment, FollowUp, FollowUpStatus, Source
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


class WriteCount(NamedTuple):
    """Elo's bookings and callbacks in a period."""

    bookings: int
    follow_ups: int


class PatientRef(NamedTuple):
    """Whose record it is: the patient's E.164 number and name (personal data: mask it)."""

    phone: str
    name: str


class RecordFilter(NamedTuple):
    """Which appointments or follow-ups to list; every field is optional (None: any).

    Attributes:
        start: Only records at or after this time (appointment start, follow-up due time).
        end: Only records before this time.
        status: Only records with this status, or with one of these statuses.
        phone: Only this patient's records (E.164).
        source: Only records made by ``agent``, ``cli`` or ``import``.
        call_id: Only records made in this call.
        ids: Only the records with these ids.
        limit: At most this many records, in time order.
    """

    start: datetime | None = None
    end: datetime | None = None
    status: str | tuple[str, ...] | None = None
    phone: str | None = None
    source: Source | None = None
    call_id: str | None = None
    ids: tuple[int, ...] | None = None
    limit: int = 500


class RecordsMixin:
    """Counting and finding Elo's records; the host provides the connection and transactions."""

    _conn: aiosqlite.Connection
    _clock: Callable[[], datetime]
    _transaction: Callable[[], AbstractAsyncContextManager[aiosqlite.Connection]]

    async def count_agent_writes_for_number(self, *, phone: str, since: datetime) -> WriteCount:
        """Elo's appointments and follow-ups for a number created at or after ``since``.

        Records count whatever their status now: a booking staff cancelled was still made.

        Args:
            phone: The E.164 number (the patient's, or the number a call was bound to).
            since: The start of the period.
        """
        counts = []
        for table in ("appointments", "follow_ups"):
            async with self._conn.execute(
                _FOR_NUMBER.format(t=table), (to_db(since), phone, phone)
            ) as cur:
                counts.append(int((await cur.fetchone())[0]))
        return WriteCount(*counts)

    async def count_unbound_agent_writes(self, *, since: datetime) -> int:
        """Elo's appointments plus follow-ups made in calls without a bound number since ``since``.

        Args:
            since: The start of the period.
        """
        total = 0
        for table in ("appointments", "follow_ups"):
            async with self._conn.execute(_UNBOUND.format(t=table), (to_db(since),)) as cur:
                total += int((await cur.fetchone())[0])
        return total

    async def find_appointments(
        self, filters: RecordFilter | None = None
    ) -> list[tuple[Appointment, PatientRef]]:
        """Appointments matching ``filters``, by start time, with their patient."""
        rows = await self._find_with_patient("appointments", "starts_at", filters)
        return [(_appointment(row), patient) for row, patient in rows]

    async def find_follow_ups(
        self, filters: RecordFilter | None = None
    ) -> list[tuple[FollowUp, PatientRef]]:
        """Follow-ups matching ``filters``, by due time, with their patient."""
        rows = await self._find_with_patient("follow_ups", "due_at", filters)
        return [(_follow_up(row), patient) for row, patient in rows]

    async def _find_with_patient(
        self, table: str, time_column: str, filters: RecordFilter | None
    ) -> list[tuple[sqlite3.Row, PatientRef]]:
        """Rows of ``table`` matching ``filters``, in ``time_column`` order, with their patient.

        ``table`` and ``time_column`` are fixed names from this module, never input.
        """
        filters = filters or RecordFilter()
        sql, params = _where(filters, time_column=f"r.{time_column}")
        # The clause holds fixed column names and placeholders only; values are parameters.
        rows = await self._conn.execute_fetchall(
            f"SELECT r.*, p.phone AS p_phone, p.name AS p_name FROM {table} r"  # noqa: S608
            f" JOIN patients p ON p.id = r.patient_id{sql} ORDER BY r.{time_column}, r.id LIMIT ?",
            (*params, filters.limit),
        )
        return [(row, PatientRef(row["p_phone"], row["p_name"])) for row in rows]

    async def set_follow_up_status(
        self, *, follow_up_id: int, status: FollowUpStatus
    ) -> FollowUp | None:
        """Change a follow-up's status.

        Returns:
            The updated follow-up, or None when there is no such follow-up.
        """
        row = await self._set_status("follow_ups", follow_up_id, status)
        return _follow_up(row) if row is not None else None

    async def _set_status(self, table: str, record_id: int, status: str) -> sqlite3.Row | None:
        """Set the status of row ``record_id`` of ``table`` (a fixed name, never input).

        Returns:
            The updated row, or None when there is no such row.
        """
        async with self._transaction() as conn:
            async with conn.execute(
                f"UPDATE {table} SET status = ? WHERE id = ? RETURNING *",  # noqa: S608
                (status, record_id),
            ) as cur:
                return await cur.fetchone()


def _where(filters: RecordFilter, *, time_column: str) -> tuple[str, list[Any]]:
    """The WHERE clause (parameterised) for a :class:`RecordFilter`."""
    clauses: list[str] = []
    params: list[Any] = []
    if filters.start is not None:
        clauses.append(f"{time_column} >= ?")
        params.append(to_db(filters.start))
    if filters.end is not None:
        clauses.append(f"{time_column} < ?")
        params.append(to_db(filters.end))
    for column, values in (("r.status", filters.status), ("r.id", filters.ids)):
        if isinstance(values, tuple):
            clauses.append(f"{column} IN ({', '.join('?' * len(values))})")
            params.extend(values)
    for column, value in (
        ("r.status", filters.status if isinstance(filters.status, str) else None),
        ("p.phone", filters.phone),
        ("r.source", filters.source),
        ("r.call_id", filters.call_id),
    ):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def _record_data(row: sqlite3.Row, *times: str) -> dict[str, Any]:
    data = {key: row[key] for key in row.keys() if key not in ("legacy_key", "p_phone", "p_name")}
    for key in times:
        data[key] = from_db(data[key])
    return data


def _appointment(row: sqlite3.Row) -> Appointment:
    return Appointment.model_validate(_record_data(row, "starts_at", "ends_at", "created_at"))


def _follow_up(row: sqlite3.Row) -> FollowUp:
    return FollowUp.model_validate(_record_data(row, "due_at", "created_at"))
