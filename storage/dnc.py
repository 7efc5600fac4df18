"""The do-not-call list: numbers the clinic must never dial, whoever asks for a call.

A mixin of :class:`storage.store.Store`, kept apart so the store module stays readable; the
methods appear on ``Store`` itself, so callers see one flat API.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any

import aiosqlite

from storage.models import DoNotCallEntry, Source
from storage.timefmt import from_db, to_db


class DoNotCallMixin:
    """Do-not-call methods; the host class provides the connection, clock and transactions."""

    _conn: aiosqlite.Connection
    _clock: Callable[[], datetime]
    _transaction: Callable[[], AbstractAsyncContextManager[aiosqlite.Connection]]
    # From storage.privacy.PrivacyMixin: an erased person's entry is kept as a keyed hash.
    _hashed_do_not_call: Callable[[aiosqlite.Connection, str], Awaitable[bool]]
    subject_hash: Callable[[str], str]

    async def _listed(self, conn: aiosqlite.Connection, phone: str) -> bool:
        """Whether ``phone`` is on the list, in clear or (after an erasure) as a keyed hash."""
        if await conn.execute_fetchall("SELECT 1 FROM do_not_call WHERE phone = ?", (phone,)):
            return True
        return await self._hashed_do_not_call(conn, phone)

    async def add_do_not_call(
        self, *, phone: str, reason: str | None, source: Source, call_id: str | None = None
    ) -> DoNotCallEntry:
        """Put an E.164 number on the list; adding it again keeps the first entry.

        Keeping the first entry means the record of when and how a patient opted out is never
        overwritten by a later, perhaps automated, re-add. The number's queued campaign contacts
        are closed in the same transaction (taking it off the list later does not re-queue them).
        A number whose entry is kept as a keyed hash (its owner was erased) is already listed:
        it is not stored in clear again.

        Args:
            phone: The number in E.164 form (the table refuses anything else).
            reason: Why, in a few words, if known.
            source: Who added it: agent (during a call), cli or import.
            call_id: The call in which the patient asked, if any.

        Returns:
            The entry as stored (the earlier one if the number was already listed).

        Raises:
            sqlite3.IntegrityError: ``phone`` is not E.164 or ``source`` is unknown.
        """
        async with self._transaction() as conn:
            hashed = await self._hashed_do_not_call(conn, phone)
            if not hashed:
                await conn.execute(
                    "INSERT INTO do_not_call (phone, reason, source, call_id, added_at)"
                    " VALUES (?, ?, ?, ?, ?) ON CONFLICT(phone) DO NOTHING",
                    (phone, reason, source, call_id, to_db(self._clock())),
                )
            await conn.execute(
                "UPDATE campaign_contacts SET state = 'done', done_reason = 'do_not_call',"
                " next_call_at = NULL WHERE phone = ? AND state = 'queued'",
                (phone,),
            )
            rows = await conn.execute_fetchall(
                "SELECT * FROM do_not_call WHERE phone = ?", (phone,)
            )
        if not rows:  # kept as a hash: report the number asked about, nothing more
            return DoNotCallEntry(
                phone=phone, reason=None, source=source, call_id=None, added_at=self._clock()
            )
        return _entry(rows[0])

    async def remove_do_not_call(self, *, phone: str) -> bool:
        """Take a number off the list (also an erased person's hashed entry).

        Returns:
            Whether the number was on the list.
        """
        async with self._transaction() as conn:
            hashed = await self._hashed_do_not_call(conn, phone)
            if hashed:
                key = self.subject_hash(phone)
                await conn.execute("DELETE FROM do_not_call_hashed WHERE phone_hash = ?", (key,))
            rows = await conn.execute_fetchall(
                "DELETE FROM do_not_call WHERE phone = ? RETURNING phone", (phone,)
            )
        return bool(rows) or hashed

    async def is_do_not_call(self, *, phone: str) -> bool:
        """Whether the number is on the list (in clear or as an erased person's keyed hash)."""
        return await self._listed(self._conn, phone)

    async def list_do_not_call(self) -> list[DoNotCallEntry]:
        """Every listed number, oldest entry first."""
        rows = await self._conn.execute_fetchall(
            "SELECT * FROM do_not_call ORDER BY added_at, phone"
        )
        return [_entry(row) for row in rows]

    async def count_hashed_do_not_call(self) -> int:
        """How many erased people's numbers are listed only as keyed hashes (still blocked)."""
        rows = await self._conn.execute_fetchall("SELECT count(*) FROM do_not_call_hashed")
        return int(rows[0][0])


def _entry(row: sqlite3.Row) -> DoNotCallEntry:
    data: dict[str, Any] = dict(row)
    data["added_at"] = from_db(data["added_at"])
    return DoNotCallEntry.model_validate(data)
