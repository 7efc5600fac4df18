"""The do-not-call list: numbers the clinic must never dial, whoever asks for a call."""

from __future__ import annotations

from typing import Any

import aiosqlite

from storage.cursors import decode, encode, page_size
from storage.dashboard_models import DoNotCallItem, DoNotCallPage
from storage.database import Database
from storage.models import DoNotCallEntry, DoNotCallSource
from storage.privacy_keys import PrivacyKeys
from storage.rows import to_dnc_entry
from storage.timefmt import from_db, to_db
from validation.phone import mask_phone


async def is_listed(conn: aiosqlite.Connection, keys: PrivacyKeys, phone: str) -> bool:
    """Whether ``phone`` is on the list, in clear or (after an erasure) as a keyed hash.

    Takes the connection so a caller's write transaction (an import, a claim) checks the list
    in the same snapshot it writes.
    """
    if await conn.execute_fetchall("SELECT 1 FROM do_not_call WHERE phone = ?", (phone,)):
        return True
    return await keys.hashed_do_not_call(conn, phone)


class DoNotCallRepository:
    """The ``do_not_call`` list and its hashed entries.

    Args:
        db: The open database.
        keys: The privacy hash key (an erased person's entry is kept as a keyed hash).
    """

    def __init__(self, db: Database, keys: PrivacyKeys) -> None:
        self._db = db
        self._keys = keys

    async def add(
        self, *, phone: str, reason: str | None, source: DoNotCallSource, call_id: str | None = None
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
            source: Who added it: agent (during a call), cli, import or web (the dashboard).
            call_id: The call in which the patient asked, if any.

        Returns:
            The entry as stored (the earlier one if the number was already listed).

        Raises:
            sqlite3.IntegrityError: ``phone`` is not E.164 or ``source`` is unknown.
        """
        async with self._db.transaction() as conn:
            hashed = await self._keys.hashed_do_not_call(conn, phone)
            if not hashed:
                await conn.execute(
                    "INSERT INTO do_not_call (phone, reason, source, call_id, added_at)"
                    " VALUES (?, ?, ?, ?, ?) ON CONFLICT(phone) DO NOTHING",
                    (phone, reason, source, call_id, to_db(self._db.clock())),
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
                phone=phone, reason=None, source=source, call_id=None, added_at=self._db.clock()
            )
        return to_dnc_entry(rows[0])

    async def remove(self, *, phone: str) -> bool:
        """Take a number off the list (also an erased person's hashed entry).

        Returns:
            Whether the number was on the list.
        """
        async with self._db.transaction() as conn:
            hashed = await self._keys.hashed_do_not_call(conn, phone)
            if hashed:
                key = self._keys.subject_hash(phone)
                await conn.execute("DELETE FROM do_not_call_hashed WHERE phone_hash = ?", (key,))
            rows = await conn.execute_fetchall(
                "DELETE FROM do_not_call WHERE phone = ? RETURNING phone", (phone,)
            )
        return bool(rows) or hashed

    async def is_listed(self, *, phone: str) -> bool:
        """Whether the number is on the list (in clear or as an erased person's keyed hash)."""
        return await is_listed(self._db.conn, self._keys, phone)

    async def list(self) -> list[DoNotCallEntry]:
        """Every listed number, oldest entry first."""
        rows = await self._db.rows("SELECT * FROM do_not_call ORDER BY added_at, phone")
        return [to_dnc_entry(row) for row in rows]

    async def page(self, *, cursor: str | None = None, limit: int = 50) -> DoNotCallPage:
        """One page of the list, newest entry first, numbers masked.

        Erased people's entries are kept only as keyed hashes: they are counted
        (``hashed_entries``), never listed, and :meth:`remove_entry` cannot reach them.

        Args:
            cursor: ``next_cursor`` of the previous page; None: the first page.
            limit: Rows per page, 1 to 200.

        Raises:
            ValueError: A bad limit.
            CursorError: A cursor this list did not make.
        """
        limit = page_size(limit)
        where, params = "", []
        if cursor is not None:
            where = " WHERE (added_at, rowid) < (?, ?)"
            params = list(decode(cursor, "do_not_call", (str, int)))
        rows = await self._db.rows(
            "SELECT rowid AS entry_id, * FROM do_not_call"  # noqa: S608
            f"{where} ORDER BY added_at DESC, rowid DESC LIMIT ?",
            [*params, limit + 1],
        )
        items = [dnc_item(row) for row in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            last = rows[limit - 1]
            next_cursor = encode("do_not_call", (last["added_at"], last["entry_id"]))
        return DoNotCallPage(
            items=items, next_cursor=next_cursor, hashed_entries=await self.count_hashed()
        )

    async def entry(self, *, entry_id: int) -> DoNotCallItem | None:
        """One listed entry, by the ``entry_id`` a page showed (number masked), or None."""
        row = await self._db.row(
            "SELECT rowid AS entry_id, * FROM do_not_call WHERE rowid = ?", (entry_id,)
        )
        return dnc_item(row) if row else None

    async def remove_entry(self, *, entry_id: int) -> DoNotCallEntry | None:
        """Take one listed entry off the list, by the ``entry_id`` a page showed.

        Only entries in clear: an erased person's keyed-hash entry stays (it is not listed, and
        nobody can ask for the person any more). The caller records the removal and its reason
        in the audit trail (the keyed hash of the returned number as subject).

        Returns:
            The entry removed, or None when there was none with this id.
        """
        async with self._db.transaction() as conn:
            rows = await conn.execute_fetchall(
                "DELETE FROM do_not_call WHERE rowid = ? RETURNING *", (entry_id,)
            )
        return to_dnc_entry(rows[0]) if rows else None

    async def count_hashed(self) -> int:
        """How many erased people's numbers are listed only as keyed hashes (still blocked)."""
        return int(await self._db.scalar("SELECT count(*) FROM do_not_call_hashed"))


def dnc_item(row: Any) -> DoNotCallItem:
    """A row (with ``entry_id``, its rowid) as the list shows it: the number masked."""
    return DoNotCallItem(
        entry_id=row["entry_id"],
        phone_masked=mask_phone(row["phone"]),
        reason=row["reason"],
        source=row["source"],
        call_id=row["call_id"],
        added_at=from_db(row["added_at"]),
    )
