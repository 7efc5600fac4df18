"""Planning the messages outbox inside the transaction of a booking, move or cancellation.

Each function here runs on the connection of the caller's open write transaction, so the
message rows commit or roll back with the change that calls for them (a transactional outbox):
a booking that fails leaves no message, and a booking that commits always has its messages.

Rows carry no text: the sender renders each one from the appointment's current data at send
time. Their ``idempotency_key`` (``appt:{id}:{kind}:{revision}:{offset}:{channel}``) makes every
planning idempotent (``ON CONFLICT DO NOTHING``): planning twice never makes two messages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

import aiosqlite

from storage.dialect import shifted_instant
from storage.timefmt import to_db

Channel = Literal["sms", "email"]
Kind = Literal["confirmation", "reminder", "moved", "cancelled"]
CHANNELS: tuple[Channel, ...] = ("sms", "email")

# The columns every planning statement writes, and the key it builds from the planned row.
_COLUMNS = (
    "patient_id, appointment_id, channel, kind, language, revision, due_at, status,"
    " next_attempt_at, idempotency_key, created_at"
)
_KEY = "'appt:' || id || ':' || ? || ':' || revision || ':' || secs || ':' || channel"


@dataclass(frozen=True)
class OutboxPlan:
    """What the outbox plans: the reminder offsets and the channels in use.

    Attributes:
        offsets: Reminders this long before each appointment (``ELO_MESSAGES__REMINDER_OFFSETS``).
        channels: Channels messages are planned for (the configured ones); none: no messages.
    """

    offsets: tuple[timedelta, ...] = (timedelta(days=2), timedelta(hours=2))
    channels: frozenset[Channel] = field(default_factory=lambda: frozenset(CHANNELS))


def _channels_sql(plan: OutboxPlan) -> str:
    # Constants from the Literal above, never user input: safe to write into the statement.
    chosen = [c for c in CHANNELS if c in plan.channels]
    return " UNION ALL ".join(f"SELECT '{c}' AS channel" for c in chosen)


def _offsets_sql(offsets: tuple[int, ...]) -> str:
    return " UNION ALL ".join(f"SELECT {int(s)} AS secs" for s in offsets) or "SELECT 0 WHERE 0"


# A patient gets a channel they have (every patient has a number; email only when known) and
# have not opted out of. The anonymous placeholder patient (erased people) never gets any.
_REACHABLE = (
    " AND p.phone != '+999' AND (c.channel = 'sms' OR p.email IS NOT NULL)"
    " AND NOT EXISTS (SELECT 1 FROM message_opt_outs x"
    "   WHERE x.patient_id = p.id AND x.channel = c.channel)"
)


async def insert_messages(
    conn: aiosqlite.Connection,
    plan: OutboxPlan,
    *,
    kind: Kind,
    where: str,
    params: tuple[object, ...],
    now: datetime,
    offsets: tuple[int, ...] = (0,),
) -> int:
    """Plan ``kind`` messages for the appointments ``where`` selects (``a`` = appointments).

    With offsets (seconds before the start) each is due at ``starts_at - offset``; an offset
    already past (due at or before ``now``) is skipped. Offset 0 (confirmation, moved,
    cancelled) is due ``now``.

    Returns:
        How many rows were written (existing keys are left alone).
    """
    if not any(c in plan.channels for c in CHANNELS):
        return 0
    stamp = to_db(now)
    if offsets == (0,):
        due, due_params = "?", (stamp,)
    else:
        due, due_params = shifted_instant(conn, "a.starts_at", "o.secs"), ()
    sql = (
        f"INSERT INTO messages ({_COLUMNS})"  # noqa: S608 - constants and placeholders only
        " SELECT patient_id, id, channel, ?, language, revision, due, 'pending', due,"
        f" {_KEY}, ?"
        " FROM (SELECT a.patient_id, a.id, c.channel, p.language, a.revision, o.secs,"
        f" {due} AS due FROM appointments a JOIN patients p ON p.id = a.patient_id"
        f" CROSS JOIN ({_offsets_sql(offsets)}) o CROSS JOIN ({_channels_sql(plan)}) c"
        f" WHERE {where}{_REACHABLE}) AS planned"
        " WHERE secs = 0 OR due > ?"
        " ON CONFLICT(idempotency_key) DO NOTHING"
    )
    cursor = await conn.execute(sql, (kind, kind, stamp, *due_params, *params, stamp))
    return cursor.rowcount


async def plan_booked(
    conn: aiosqlite.Connection,
    plan: OutboxPlan,
    *,
    appointment_id: int,
    now: datetime,
    confirm: bool = True,
) -> int:
    """A confirmation now (unless ``confirm`` is false) and the reminders of a new booking."""
    written = 0
    if confirm:
        written += await insert_messages(
            conn, plan, kind="confirmation", where="a.id = ?", params=(appointment_id,), now=now
        )
    return written + await _reminders(conn, plan, appointment_id=appointment_id, now=now)


async def plan_moved(
    conn: aiosqlite.Connection, plan: OutboxPlan, *, appointment_id: int, now: datetime
) -> int:
    """Skip what waits for the old time; a ``moved`` message now and the new time's reminders."""
    await skip_waiting(conn, appointment_id=appointment_id, reason="appointment moved")
    written = await insert_messages(
        conn, plan, kind="moved", where="a.id = ?", params=(appointment_id,), now=now
    )
    return written + await _reminders(conn, plan, appointment_id=appointment_id, now=now)


async def plan_cancelled(
    conn: aiosqlite.Connection, plan: OutboxPlan, *, appointment_id: int, now: datetime
) -> int:
    """Skip what waits for the appointment; a ``cancelled`` message now."""
    await skip_waiting(conn, appointment_id=appointment_id, reason="appointment cancelled")
    return await insert_messages(
        conn, plan, kind="cancelled", where="a.id = ?", params=(appointment_id,), now=now
    )


async def skip_waiting(conn: aiosqlite.Connection, *, appointment_id: int, reason: str) -> int:
    """Mark the appointment's messages that have not gone yet ``skipped`` with ``reason``."""
    cursor = await conn.execute(
        "UPDATE messages SET status = 'skipped', last_error = ?, claimed_at = NULL"
        " WHERE appointment_id = ? AND status IN ('pending', 'failed')",
        (reason, appointment_id),
    )
    return cursor.rowcount


async def _reminders(
    conn: aiosqlite.Connection, plan: OutboxPlan, *, appointment_id: int, now: datetime
) -> int:
    offsets = tuple(int(o.total_seconds()) for o in plan.offsets)
    if not offsets:
        return 0
    return await insert_messages(
        conn,
        plan,
        kind="reminder",
        where="a.id = ?",
        params=(appointment_id,),
        now=now,
        offsets=offsets,
    )
