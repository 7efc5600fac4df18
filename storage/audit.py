"""The audit trail: who did what to personal data, and when, without the data itself.

Callers pass an ``actor`` (the operating-system user at
the ``elo`` command, ``system`` for automatic jobs), an ``action`` such as ``privacy.export`` and
an optional ``subject`` that identifies the record without revealing it (a keyed hash of a
number, or a record id) and ``detail`` (counts, flags). Never put a name, number or email here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import aiosqlite

from storage.database import Database
from storage.models import AuditEntry
from storage.rows import to_audit_entry
from storage.timefmt import to_db


class AuditTrail:
    """The ``audit_log`` table (append-only).

    Args:
        db: The open database.
    """

    def __init__(self, db: Database) -> None:
        self._db = db

    async def record(
        self,
        *,
        actor: str,
        action: str,
        subject: str | None = None,
        detail: Mapping[str, Any] | None = None,
        conn: aiosqlite.Connection | None = None,
    ) -> AuditEntry:
        """Append one audit record.

        Args:
            actor: Who acted (OS user name, ``system``); at most 100 characters.
            action: What was done, dotted (``pii.show``, ``privacy.erase``); at most 60.
            subject: Which record, in a form that reveals no personal data.
            detail: JSON-ready facts without personal data (counts, options).
            conn: The connection of a transaction already open, so the audit record commits
                or rolls back with the change it describes; None opens its own transaction.

        Returns:
            The stored entry.
        """
        at = self._db.clock()
        params = (
            to_db(at),
            actor[:100] or "unknown",
            action[:60],
            subject,
            json.dumps(dict(detail), sort_keys=True, default=str) if detail else None,
        )
        sql = (
            "INSERT INTO audit_log (at, actor, action, subject, detail) VALUES (?, ?, ?, ?, ?)"
            " RETURNING id"
        )
        if conn is not None:
            row_id = (await (await conn.execute(sql, params)).fetchone())[0]
        else:
            async with self._db.transaction() as tx:
                row_id = (await (await tx.execute(sql, params)).fetchone())[0]
        return AuditEntry(
            id=int(row_id or 0),
            at=at,
            actor=params[1],
            action=params[2],
            subject=subject,
            detail=dict(detail) if detail else None,
        )

    async def list(self, *, limit: int = 100) -> list[AuditEntry]:
        """The latest audit records, newest first."""
        rows = await self._db.rows("SELECT * FROM audit_log ORDER BY id DESC LIMIT ?", (limit,))
        return [to_audit_entry(row) for row in rows]

    async def page(self, *, limit: int, before_id: int | None = None) -> list[AuditEntry]:
        """One page of the trail, newest first: records older than ``before_id`` (keyset paging).

        Args:
            limit: Most records returned.
            before_id: The id of the last record of the previous page; None for the newest.
        """
        if before_id is None:
            return await self.list(limit=limit)
        rows = await self._db.rows(
            "SELECT * FROM audit_log WHERE id < ? ORDER BY id DESC LIMIT ?", (before_id, limit)
        )
        return [to_audit_entry(row) for row in rows]
