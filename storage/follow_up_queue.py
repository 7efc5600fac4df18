"""The Follow-ups page: the callbacks staff owe, oldest due first, and marking one done."""

from __future__ import annotations

from typing import Any

from storage.cursors import decode, encode, page_size
from storage.dashboard_models import FollowUpDone, FollowUpItem, FollowUpPage
from storage.database import Database
from storage.dialect import json_items, json_text
from storage.models import FollowUpStatus
from storage.timefmt import from_db, to_db
from validation.phone import mask_phone


# Why a follow-up exists, from what is stored: one made at the command line or imported is
# staff's own; one made in a call whose stored transfer_to_human result names it was left by a
# failed transfer (tools/transfer.py); any other made in a call was asked for by the patient.
def _kind_sql(conn: Any) -> str:
    """The SQL expression giving each follow-up's kind (see the comment above)."""
    name = json_text(conn, "e.value", "name")
    follow_up = json_text(conn, "e.value", "result", "follow_up_id")
    # Fragments from storage.dialect and constants only; no value is pasted in.
    return (
        "CASE WHEN f.source != 'agent' THEN 'staff'"  # noqa: S608
        f" WHEN EXISTS (SELECT 1 FROM calls c, {json_items(conn, 'c.transcript', 'e')}"
        f" WHERE c.id = f.call_id AND {name} = 'transfer_to_human'"
        f" AND {follow_up} = CAST(f.id AS TEXT)) THEN 'transfer_failed'"
        " ELSE 'callback' END"
    )


class FollowUpQueue:
    """Follow-ups as staff work through them.

    Args:
        db: The open database.
    """

    def __init__(self, db: Database) -> None:
        self._db = db

    async def page(
        self,
        *,
        status: FollowUpStatus = "pending",
        cursor: str | None = None,
        limit: int = 50,
        with_names: bool = True,
    ) -> FollowUpPage:
        """One page of follow-ups with a status, oldest due first (ties by id).

        Args:
            status: Which follow-ups (the queue is ``pending``).
            cursor: ``next_cursor`` of the previous page; None: the first page.
            limit: Rows per page, 1 to 200.
            with_names: Add the patient's name (staff need it to call back).

        Raises:
            ValueError: A bad limit.
            CursorError: A cursor this list did not make.
        """
        limit = page_size(limit)
        params: list[Any] = [status]
        after = ""
        if cursor is not None:
            due, last_id = decode(cursor, f"follow_ups:{status}", (str, int))
            after = " AND (f.due_at, f.id) > (?, ?)"
            params += [due, last_id]
        rows = await self._db.rows(
            f"SELECT f.*, p.phone AS p_phone, p.name AS p_name, {_kind_sql(self._db.conn)} AS kind"  # noqa: S608
            f" FROM follow_ups f JOIN patients p ON p.id = f.patient_id"
            f" WHERE f.status = ?{after} ORDER BY f.due_at, f.id LIMIT ?",
            [*params, limit + 1],
        )
        items = [
            FollowUpItem(
                id=row["id"],
                due_at=from_db(row["due_at"]),
                kind=row["kind"],
                status=row["status"],
                reason=row["reason"],
                source=row["source"],
                call_id=row["call_id"],
                patient_id=row["patient_id"],
                phone_masked=mask_phone(row["p_phone"]),
                patient_name=row["p_name"] if with_names else None,
                created_at=from_db(row["created_at"]),
            )
            for row in rows[:limit]
        ]
        next_cursor = None
        if len(rows) > limit:
            last = rows[limit - 1]
            next_cursor = encode(f"follow_ups:{status}", (last["due_at"], last["id"]))
        return FollowUpPage(items=items, next_cursor=next_cursor)

    async def mark_done(self, *, follow_up_id: int, by: str) -> FollowUpDone | None:
        """Mark a pending follow-up done, recording who (e.g. ``web:ana``) and when.

        A compare-and-set: of two staff marking it at once, one changes it. The caller records
        the action in the audit trail.

        Args:
            follow_up_id: The follow-up.
            by: Who did it (a staff user, never a patient's data); 1 to 100 characters.

        Returns:
            What changed (``changed`` False when it was not pending: its status and who closed
            it), or None when there is no such follow-up.

        Raises:
            ValueError: ``by`` is empty or too long.
        """
        if not 1 <= len(by) <= 100:
            raise ValueError("by must be 1 to 100 characters")
        async with self._db.transaction() as conn:
            changed = await conn.execute_fetchall(
                "UPDATE follow_ups SET status = 'done', done_at = ?, done_by = ?"
                " WHERE id = ? AND status = 'pending' RETURNING id, status, done_at, done_by",
                (to_db(self._db.clock()), by, follow_up_id),
            )
            rows = changed or await conn.execute_fetchall(
                "SELECT id, status, done_at, done_by FROM follow_ups WHERE id = ?",
                (follow_up_id,),
            )
        if not rows:
            return None
        row = rows[0]
        return FollowUpDone(
            id=row["id"],
            changed=bool(changed),
            status=row["status"],
            done_by=row["done_by"],
            done_at=from_db(row["done_at"]) if row["done_at"] else None,
        )
