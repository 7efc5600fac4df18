"""Follow-ups: callbacks the clinic owes a patient (asked for in a call, or added by staff)."""

from __future__ import annotations

from datetime import datetime

from storage.database import Database
from storage.models import FollowUp, FollowUpStatus, Patient, Source
from storage.patients import upsert_patient
from storage.records import PatientRef, RecordFilter, find_with_patient, set_status
from storage.rows import to_follow_up
from storage.timefmt import to_db


class FollowUpRepository:
    """The ``follow_ups`` table.

    Args:
        db: The open database.
    """

    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(
        self,
        *,
        phone: str,
        name: str,
        due_at: datetime,
        reason: str | None,
        source: Source,
        call_id: str | None = None,
        language: str = "sq",
        legacy_key: str | None = None,
    ) -> tuple[FollowUp, Patient]:
        """Record a callback owed to a patient (found or created by phone, in one transaction)."""
        async with self._db.transaction() as conn:
            now = self._db.clock()
            patient, _ = await upsert_patient(
                conn, now=now, phone=phone, name=name, language=language
            )
            async with conn.execute(
                "INSERT INTO follow_ups (patient_id, due_at, reason, source, call_id, legacy_key,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING *",
                (patient.id, to_db(due_at), reason, source, call_id, legacy_key, to_db(now)),
            ) as cur:
                row = await cur.fetchone()
        return to_follow_up(row), patient

    async def list(self, *, status: str = "pending") -> list[FollowUp]:
        """Follow-ups with a status, soonest first."""
        rows = await self._db.rows(
            "SELECT * FROM follow_ups WHERE status = ? ORDER BY due_at", (status,)
        )
        return [to_follow_up(row) for row in rows]

    async def of_call(self, *, call_id: str, status: str = "pending") -> list[FollowUp]:
        """Follow-ups made during one call, with a status, oldest first."""
        rows = await self._db.rows(
            "SELECT * FROM follow_ups WHERE call_id = ? AND status = ? ORDER BY id",
            (call_id, status),
        )
        return [to_follow_up(row) for row in rows]

    async def find(self, filters: RecordFilter | None = None) -> list[tuple[FollowUp, PatientRef]]:
        """Follow-ups matching ``filters``, by due time, with their patient."""
        rows = await find_with_patient(self._db, "follow_ups", "due_at", filters)
        return [(to_follow_up(row), patient) for row, patient in rows]

    async def set_status(self, *, follow_up_id: int, status: FollowUpStatus) -> FollowUp | None:
        """Change a follow-up's status.

        Returns:
            The updated follow-up, or None when there is no such follow-up.
        """
        row = await set_status(self._db, "follow_ups", follow_up_id, status)
        return to_follow_up(row) if row is not None else None
