"""What appointments and follow-ups share: the staff search filter and the status change.

Both are *records* a patient has (a booked time, an owed callback); ``elo appointments`` and
``elo follow-ups`` search them with the same :class:`RecordFilter`, and the call limiter counts
both (:class:`WriteCount`).
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any, NamedTuple

from storage.database import Database
from storage.models import Source
from storage.timefmt import to_db


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


async def find_with_patient(
    db: Database, table: str, time_column: str, filters: RecordFilter | None
) -> list[tuple[sqlite3.Row, PatientRef]]:
    """Rows of ``table`` matching ``filters``, in ``time_column`` order, with their patient.

    Args:
        db: The database.
        table: ``appointments`` or ``follow_ups`` (a fixed name from the caller, never input).
        time_column: The column to order and filter by time (fixed, never input).
        filters: What to match; None matches everything (up to the default limit).
    """
    filters = filters or RecordFilter()
    sql, params = _where(filters, time_column=f"r.{time_column}")
    # The clause holds fixed column names and placeholders only; values are parameters.
    rows = await db.rows(
        f"SELECT r.*, p.phone AS p_phone, p.name AS p_name FROM {table} r"  # noqa: S608
        f" JOIN patients p ON p.id = r.patient_id{sql} ORDER BY r.{time_column}, r.id LIMIT ?",
        (*params, filters.limit),
    )
    return [(row, PatientRef(row["p_phone"], row["p_name"])) for row in rows]


async def set_status(db: Database, table: str, record_id: int, status: str) -> sqlite3.Row | None:
    """Set the status of row ``record_id`` of ``table`` (a fixed name, never input).

    Returns:
        The updated row, or None when there is no such row.
    """
    async with db.transaction() as conn:
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
