"""The messages outbox (``store.messages``): what is due, claims, outcomes, opt-outs, delivery.

Rows are planned in the transactions of bookings, moves and cancellations
(:mod:`storage.outbox_plan`); :meth:`MessageRepository.plan_missing` plans the reminders of
appointments made before messages existed (or imported). A sender claims due rows (status
``sending`` with ``claimed_at``: a lease), sends them and records the outcome here. A row left
``sending`` past the lease belongs to a sender that died; the next claim takes it back and
says so (:class:`Claimed.abandoned_since`), so the sender can ask the provider before sending
it again.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any

from storage.database import Database
from storage.dialect import unindexed
from storage.message_models import (
    Claimed,
    MessageListItem,
    MessageStatus,
    MessageTarget,
    OutboxMessage,
)
from storage.outbox_plan import CHANNELS, Channel, insert_messages
from storage.timefmt import to_db
from validation.people import mask_email
from validation.phone import mask_phone

_ERROR_LENGTH = 200


def _short(text: str) -> str:
    return " ".join(text.split())[:_ERROR_LENGTH]


def _message(row: sqlite3.Row) -> OutboxMessage:
    return OutboxMessage.model_validate(dict(row))


class MessageRepository:
    """The ``messages`` and ``message_opt_outs`` tables.

    Args:
        db: The open database (its ``outbox`` plan says which channels and offsets).
    """

    def __init__(self, db: Database) -> None:
        self._db = db

    async def plan_missing(self, *, ahead: timedelta = timedelta(days=3)) -> int:
        """Plan reminders for upcoming active appointments that have no message row yet.

        Appointments made before messages existed, or imported. One ``INSERT ... SELECT`` over
        the appointments starting within the largest reminder offset plus ``ahead`` (their
        reminders come due within ``ahead``); later ones are planned by a later pass, as they
        come near, so a pass costs the same whatever the clinic holds far ahead. Idempotent
        through the rows' keys; offsets already past are skipped; no confirmation is sent.

        Args:
            ahead: How far ahead reminders are planned (more than the time between passes).

        Returns:
            How many rows were written.
        """
        offsets = tuple(int(o.total_seconds()) for o in self._db.outbox.offsets)
        if not offsets:
            return 0
        now = self._db.clock()
        until = now + timedelta(seconds=max(offsets)) + ahead
        async with self._db.transaction() as conn:
            return await insert_messages(
                conn,
                self._db.outbox,
                kind="reminder",
                # The unary + keeps SQLite on the starts_at range, not the status index.
                where=(
                    "a.starts_at > ? AND a.starts_at <= ?"  # noqa: S608 - constants only
                    f" AND {unindexed(conn, 'a.status')} IN ('scheduled', 'confirmed')"
                    " AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.appointment_id = a.id)"
                ),
                params=(to_db(now), to_db(until)),
                now=now,
                offsets=offsets,
            )

    async def due(self, *, lease: timedelta, limit: int = 100) -> list[OutboxMessage]:
        """Rows that may go now: waiting ones due, and ones abandoned ``sending`` past the lease."""
        now = self._db.clock()
        rows = await self._db.rows(
            "SELECT * FROM (SELECT * FROM messages WHERE status IN ('pending', 'failed')"
            " AND next_attempt_at <= ? UNION ALL SELECT * FROM messages"
            " WHERE status = 'sending' AND claimed_at <= ?) AS due"
            " ORDER BY next_attempt_at, id LIMIT ?",
            (to_db(now), to_db(now - lease), limit),
        )
        return [_message(row) for row in rows]

    async def claim(
        self, *, lease: timedelta, limit: int, channels: Collection[Channel] = CHANNELS
    ) -> list[Claimed]:
        """Take up to ``limit`` due rows in one transaction: ``sending``, ``claimed_at`` now.

        Each claim counts as an attempt. A row another sender abandoned past ``lease`` is taken
        back, with the earlier claim's time. Only rows of ``channels`` (those the sender has).
        """
        now = self._db.clock()
        chosen = [c for c in CHANNELS if c in channels]
        if not chosen:
            return []
        only = f" AND channel IN ({','.join(repr(c) for c in chosen)})"
        async with self._db.transaction() as conn:
            # Channel names are the Literal's constants, never input.
            columns = "SELECT id, status, claimed_at, next_attempt_at FROM messages"
            found = await conn.execute_fetchall(
                f"SELECT id, status, claimed_at FROM ({columns}"  # noqa: S608
                f" WHERE status IN ('pending', 'failed') AND next_attempt_at <= ?{only}"
                f" UNION ALL {columns} WHERE status = 'sending' AND claimed_at <= ?{only}) AS due"
                " ORDER BY next_attempt_at, id LIMIT ?",
                (to_db(now), to_db(now - lease), limit),
            )
            if not found:
                return []
            earlier = {row["id"]: row["claimed_at"] for row in found if row["status"] == "sending"}
            marks = ",".join("?" * len(found))
            rows = await conn.execute_fetchall(
                "UPDATE messages SET status = 'sending', claimed_at = ?,"  # noqa: S608
                f" attempts = attempts + 1 WHERE id IN ({marks}) RETURNING *",
                (to_db(now), *(row["id"] for row in found)),
            )
        claimed = [
            Claimed(message=_message(row), abandoned_since=earlier.get(row["id"])) for row in rows
        ]
        return sorted(claimed, key=lambda c: (c.message.next_attempt_at, c.message.id))

    async def target(self, *, message: OutboxMessage) -> MessageTarget | None:
        """The patient's address and the appointment as they are now (None: either is gone)."""
        row = await self._db.row(
            "SELECT p.phone, p.email, p.language, a.status AS appointment_status, a.starts_at,"
            " a.ends_at, a.revision, EXISTS (SELECT 1 FROM message_opt_outs x"
            "   WHERE x.patient_id = p.id AND x.channel = ?) AS opted_out"
            " FROM messages m JOIN patients p ON p.id = m.patient_id"
            " JOIN appointments a ON a.id = m.appointment_id WHERE m.id = ?",
            (message.channel, message.id),
        )
        return None if row is None else MessageTarget.model_validate(dict(row))

    async def mark_sent(
        self, *, message_id: int, provider_id: str, delivery_status: str | None = None
    ) -> bool:
        """Record that the provider accepted the message (only a row being sent)."""
        now = to_db(self._db.clock())
        return await self._finish(
            "status = 'sent', provider_id = ?, delivery_status = ?, sent_at = ?, last_error = NULL",
            (provider_id, delivery_status, now),
            message_id,
        )

    async def mark_failed(self, *, message_id: int, error: str, retry_at: datetime) -> bool:
        """A temporary failure: the row waits until ``retry_at`` (status ``failed``)."""
        return await self._finish(
            "status = 'failed', last_error = ?, next_attempt_at = ?",
            (_short(error), to_db(retry_at)),
            message_id,
        )

    async def mark_dead(self, *, message_id: int, error: str) -> bool:
        """Never try again (a permanent failure or too many tries), with the reason for staff."""
        return await self._finish("status = 'dead', last_error = ?", (_short(error),), message_id)

    async def mark_skipped(self, *, message_id: int, reason: str) -> bool:
        """Not sent, and never will be (cancelled, moved, opted out, too late), with why."""
        return await self._finish(
            "status = 'skipped', last_error = ?", (_short(reason),), message_id
        )

    async def defer(self, *, message_id: int, until: datetime) -> bool:
        """Put a claimed row back to wait (quiet hours); the claim does not count as a try."""
        return await self._finish(
            "status = 'pending', next_attempt_at = ?,"
            " attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END",
            (to_db(until),),
            message_id,
        )

    async def _finish(self, assignments: str, params: tuple[Any, ...], message_id: int) -> bool:
        async with self._db.transaction() as conn:
            cursor = await conn.execute(
                f"UPDATE messages SET {assignments}, claimed_at = NULL"  # noqa: S608 - constants
                " WHERE id = ? AND status = 'sending'",
                (*params, message_id),
            )
        return cursor.rowcount == 1

    async def opt_out(self, *, patient_phone: str, channel: Channel, source: str) -> bool:
        """The patient with this number wants no more messages on ``channel``.

        Recorded with its source (e.g. ``sms:stop``, ``cli``); their waiting messages on that
        channel are skipped in the same transaction.

        Returns:
            True when the number is a patient's (now opted out, or already), False otherwise.
        """
        now = to_db(self._db.clock())
        async with self._db.transaction() as conn:
            rows = await conn.execute_fetchall(
                "SELECT id FROM patients WHERE phone = ?", (patient_phone,)
            )
            if not rows:
                return False
            patient_id = rows[0][0]
            await conn.execute(
                "INSERT INTO message_opt_outs (patient_id, channel, source, at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (patient_id, channel, source[:40], now),
            )
            await conn.execute(
                "UPDATE messages SET status = 'skipped', last_error = 'opted out'"
                " WHERE patient_id = ? AND channel = ? AND status IN ('pending', 'failed')",
                (patient_id, channel),
            )
        return True

    async def opted_out(self, *, patient_phone: str) -> set[Channel]:
        """The channels the patient with this number has opted out of."""
        rows = await self._db.rows(
            "SELECT x.channel FROM message_opt_outs x JOIN patients p ON p.id = x.patient_id"
            " WHERE p.phone = ?",
            (patient_phone,),
        )
        return {row[0] for row in rows}

    async def record_delivery(
        self, *, provider_id: str, status: str, error_code: str | None
    ) -> bool:
        """Record a provider's delivery report (e.g. Twilio's status callback) for a sent row.

        Returns:
            True when a message with that provider id exists.
        """
        async with self._db.transaction() as conn:
            cursor = await conn.execute(
                "UPDATE messages SET delivery_status = ?,"
                " last_error = CASE WHEN CAST(? AS TEXT) IS NULL THEN last_error ELSE ? END"
                " WHERE provider_id = ?",
                (
                    _short(status)[:40],
                    error_code,
                    _short(f"delivery error {error_code}"),
                    provider_id,
                ),
            )
        return cursor.rowcount > 0

    async def list(
        self, *, status: MessageStatus | None = None, limit: int = 50
    ) -> list[MessageListItem]:
        """The newest messages (optionally of one status), recipients masked, no content."""
        where = "WHERE m.status = ?" if status else ""
        rows = await self._db.rows(
            "SELECT m.*, p.phone, p.email FROM messages m"  # noqa: S608
            f" JOIN patients p ON p.id = m.patient_id {where} ORDER BY m.id DESC LIMIT ?",
            (status, limit) if status else (limit,),
        )
        items = []
        for row in rows:
            data = dict(row)
            address = data["phone"] if data["channel"] == "sms" else data["email"] or ""
            data["to"] = mask_phone(address) if data["channel"] == "sms" else mask_email(address)
            items.append(MessageListItem.model_validate(data))
        return items

    async def count(self, *, status: MessageStatus | None = None) -> int:
        """How many rows (of one status)."""
        if status is None:
            return await self._db.scalar("SELECT count(*) FROM messages")
        return await self._db.scalar("SELECT count(*) FROM messages WHERE status = ?", (status,))
