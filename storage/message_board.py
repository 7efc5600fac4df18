"""The dashboard's read model of the messages outbox (``store.message_board``) and staff actions.

The Messages page lists the outbox newest first in keyset pages (recipients masked, no content),
counts dead letters, and lets staff send a dead or failed message again; a patient's page shows
their last messages and opt-outs, and admins stop or allow a channel. Every change is audited in
the same transaction (``web:NAME``; subjects ``message:ID``, ``patient:ID``).
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from storage.audit import AuditTrail
from storage.cursors import decode, encode, page_size
from storage.database import Database
from storage.dialect import unindexed
from storage.message_models import MessageStatus
from storage.outbox_plan import Channel, Kind
from storage.timefmt import to_db
from validation.people import mask_email
from validation.phone import mask_phone

# The first page searches below the largest rowid, so even it is a search, never a scan.
_TOP = 2**63 - 1
# After every stored time in any collation (PostgreSQL's may not sort as SQLite's bytes do).
_LAST = "9999-12-31T23:59:59Z"
Retry = Literal["retried", "unchanged", "not_active", "not_found"]


class MessageRow(BaseModel):
    """One line of the Messages page: masked recipient, never content."""

    model_config = ConfigDict(frozen=True)

    id: int
    patient_id: int
    appointment_id: int | None
    channel: Channel
    kind: Kind
    status: MessageStatus
    to: str
    due_at: datetime
    created_at: datetime
    sent_at: datetime | None
    attempts: int
    delivery_status: str | None
    last_error: str | None


class MessagePage(BaseModel):
    """A page of messages and the cursor of the next (None: the last page)."""

    model_config = ConfigDict(frozen=True)

    items: list[MessageRow]
    next_cursor: str | None


class OptOut(BaseModel):
    """A patient's stop on one channel."""

    model_config = ConfigDict(frozen=True)

    channel: Channel
    source: str
    at: datetime


def _row(row: sqlite3.Row) -> MessageRow:
    data = dict(row)
    sms = data["channel"] == "sms"
    data["to"] = mask_phone(data["phone"]) if sms else mask_email(data["email"] or "")
    return MessageRow.model_validate(data)


_COLUMNS = (
    "SELECT m.id, m.patient_id, m.appointment_id, m.channel, m.kind, m.status, m.due_at,"
    " m.created_at, m.sent_at, m.attempts, m.delivery_status, m.last_error, p.phone, p.email"
    " FROM messages m JOIN patients p ON p.id = m.patient_id"
)


class MessageBoard:
    """Read model and staff actions over ``messages`` and ``message_opt_outs``.

    Args:
        db: The open database.
        audit: The audit trail the actions write to.
    """

    def __init__(self, db: Database, audit: AuditTrail) -> None:
        self._db = db
        self._audit = audit

    async def page(
        self,
        *,
        status: MessageStatus | None = None,
        channel: Channel | None = None,
        cursor: str | None = None,
        limit: int = 50,
    ) -> MessagePage:
        """Messages newest first, optionally of one status and channel.

        Without a status the page walks the primary key; with one, the index
        ``messages_status_created`` (status, created_at, rowid), so neither sorts.

        Raises:
            CursorError: A cursor this list (with this filter) did not make.
        """
        limit = page_size(limit)
        # The unary + keeps SQLite on the ordering index; channel only filters what it walks.
        extra, params = (
            (f" AND {unindexed(self._db.conn, 'm.channel')} = ?", [channel])
            if channel
            else ("", [])
        )
        if status is None:
            (last,) = decode(cursor, "messages", (int,)) if cursor else (_TOP,)
            sql = f"{_COLUMNS} WHERE m.id < ?{extra} ORDER BY m.id DESC LIMIT ?"
            rows = await self._db.rows(sql, (last, *params, limit + 1))
        else:
            key = decode(cursor, f"messages:{status}", (str, int)) if cursor else (_LAST, _TOP)
            sql = (
                f"{_COLUMNS} WHERE m.status = ? AND (m.created_at, m.id) < (?, ?){extra}"
                " ORDER BY m.created_at DESC, m.id DESC LIMIT ?"
            )
            rows = await self._db.rows(sql, (status, *key, *params, limit + 1))
        items = [_row(r) for r in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            last_item = items[-1]
            next_cursor = (
                encode("messages", (last_item.id,))
                if status is None
                else encode(f"messages:{status}", (to_db(last_item.created_at), last_item.id))
            )
        return MessagePage(items=items, next_cursor=next_cursor)

    async def dead_count(self) -> int:
        """How many messages are dead (staff should look at them)."""
        return await self._db.scalar("SELECT count(*) FROM messages WHERE status = 'dead'")

    async def of_patient(self, *, patient_id: int, limit: int = 10) -> list[MessageRow]:
        """A patient's last messages, newest first (their index, no sort)."""
        rows = await self._db.rows(
            f"{_COLUMNS} WHERE m.patient_id = ? ORDER BY m.id DESC LIMIT ?",
            (patient_id, page_size(limit)),
        )
        return [_row(r) for r in rows]

    async def opt_outs(self, *, patient_id: int) -> list[OptOut]:
        """The channels a patient has stopped, with who stopped them and when."""
        rows = await self._db.rows(
            "SELECT channel, source, at FROM message_opt_outs WHERE patient_id = ?"
            " ORDER BY channel",
            (patient_id,),
        )
        return [OptOut.model_validate(dict(r)) for r in rows]

    async def retry(self, *, message_id: int, actor: str) -> Retry:
        """Put a dead or failed message back to pending, attempts reset, due now (audited).

        Only while its appointment is still active and in the future; a message already
        waiting again is ``unchanged`` (nothing audited twice).
        """
        now = to_db(self._db.clock())
        async with self._db.transaction() as conn:
            found = await conn.execute_fetchall(
                "SELECT m.status, a.status AS appt, a.starts_at FROM messages m"
                " LEFT JOIN appointments a ON a.id = m.appointment_id WHERE m.id = ?",
                (message_id,),
            )
            if not found:
                return "not_found"
            row = found[0]
            if row["status"] not in ("dead", "failed"):
                return "unchanged"
            if row["appt"] not in ("scheduled", "confirmed") or row["starts_at"] <= now:
                return "not_active"
            await conn.execute(
                "UPDATE messages SET status = 'pending', attempts = 0, next_attempt_at = ?,"
                " claimed_at = NULL, last_error = NULL WHERE id = ?",
                (now, message_id),
            )
            await self._audit.record(
                actor=actor,
                action="message.retry",
                subject=f"message:{message_id}",
                detail={"was": row["status"]},
                conn=conn,
            )
        return "retried"

    async def set_opt_out(
        self, *, patient_id: int, channel: Channel, stopped: bool, actor: str
    ) -> bool:
        """Stop (``stopped``) or allow again a patient's messages on ``channel`` (audited).

        Stopping skips their waiting messages on that channel, as an SMS STOP does.

        Returns:
            Whether anything changed.
        """
        now = to_db(self._db.clock())
        async with self._db.transaction() as conn:
            if stopped:
                cursor = await conn.execute(
                    "INSERT INTO message_opt_outs (patient_id, channel, source, at)"
                    " SELECT id, ?, 'web', ? FROM patients WHERE id = ? ON CONFLICT DO NOTHING",
                    (channel, now, patient_id),
                )
                await conn.execute(
                    "UPDATE messages SET status = 'skipped', last_error = 'opted out'"
                    " WHERE patient_id = ? AND channel = ? AND status IN ('pending', 'failed')",
                    (patient_id, channel),
                )
            else:
                cursor = await conn.execute(
                    "DELETE FROM message_opt_outs WHERE patient_id = ? AND channel = ?",
                    (patient_id, channel),
                )
            changed = cursor.rowcount == 1
            if changed:
                await self._audit.record(
                    actor=actor,
                    action="message.opt_out" if stopped else "message.opt_in",
                    subject=f"patient:{patient_id}",
                    detail={"channel": channel},
                    conn=conn,
                )
        return changed
