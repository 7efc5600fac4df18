"""A patient's page: who they are (number masked), their appointments, calls and follow-ups.

Every list is bounded (the latest or soonest ``limit`` rows, with a count) and read along an
index of migration 14 (``appointments_patient_start``, ``calls_patient_started``,
``follow_ups_patient_status_due``) or 1 (``calls_phone_started``), never sorted.
"""

from __future__ import annotations

from typing import Any

from storage.dashboard_models import (
    PatientAppointment,
    PatientCall,
    PatientFollowUp,
    PatientRecord,
)
from storage.database import Database
from storage.do_not_call import dnc_item
from storage.errors import PrivacyError
from storage.patients import ANONYMOUS_PHONE
from storage.privacy_keys import PrivacyKeys
from storage.timefmt import from_db, to_db
from validation.phone import mask_phone

_MOST = 200


class PatientRecords:
    """Patients' pages for staff. The number is masked (revealing it is the page's, audited).

    Args:
        db: The open database.
        keys: The privacy hash key (an erased person's do-not-call entry is a keyed hash).
    """

    def __init__(self, db: Database, keys: PrivacyKeys) -> None:
        self._db = db
        self._keys = keys

    async def get(self, *, patient_id: int, limit: int = 20) -> PatientRecord | None:
        """The patient's page, or None (no such patient, or the erased people's placeholder).

        Args:
            patient_id: The patient.
            limit: At most this many rows in each list (1 to 200).

        Raises:
            ValueError: A bad limit.
        """
        if not 1 <= limit <= _MOST:
            raise ValueError(f"a list holds 1 to {_MOST} rows, not {limit}")
        patient = await self._db.row(
            "SELECT * FROM patients WHERE id = ? AND phone != ?", (patient_id, ANONYMOUS_PHONE)
        )
        if patient is None:
            return None
        phone = patient["phone"]
        now = to_db(self._db.clock())
        upcoming, upcoming_count = await self._appointments(patient_id, ">=", "ASC", now, limit)
        past, past_count = await self._appointments(patient_id, "<", "DESC", now, limit)
        calls, calls_count = await self._calls(patient_id, phone, limit)
        follow_ups = await self._db.rows(
            "SELECT id, due_at, reason, call_id FROM follow_ups"
            " WHERE patient_id = ? AND status = 'pending' ORDER BY due_at, id LIMIT ?",
            (patient_id, limit),
        )
        follow_ups_count = await self._db.scalar(
            "SELECT count(*) FROM follow_ups WHERE patient_id = ? AND status = 'pending'",
            (patient_id,),
        )
        entry = await self._db.row(
            "SELECT rowid AS entry_id, * FROM do_not_call WHERE phone = ?", (phone,)
        )
        hashed: bool | None = False
        if entry is None:
            try:
                hashed = await self._keys.hashed_do_not_call(self._db.conn, phone)
            except PrivacyError:
                hashed = None
        return PatientRecord(
            id=patient["id"],
            name=patient["name"],
            phone_masked=mask_phone(phone),
            language=patient["language"],
            created_at=from_db(patient["created_at"]),
            do_not_call=dnc_item(entry) if entry is not None else None,
            do_not_call_hashed=hashed,
            upcoming=upcoming,
            upcoming_count=upcoming_count,
            past=past,
            past_count=past_count,
            calls=calls,
            calls_count=calls_count,
            follow_ups=[
                PatientFollowUp(
                    id=row["id"],
                    due_at=from_db(row["due_at"]),
                    reason=row["reason"],
                    call_id=row["call_id"],
                )
                for row in follow_ups
            ],
            follow_ups_count=int(follow_ups_count),
        )

    async def _appointments(
        self, patient_id: int, operator: str, order: str, now: str, limit: int
    ) -> tuple[list[PatientAppointment], int]:
        where = f"patient_id = ? AND starts_at {operator} ?"
        rows = await self._db.rows(
            "SELECT id, starts_at, ends_at, chair, service_id, status FROM appointments"  # noqa: S608
            f" WHERE {where} ORDER BY starts_at {order} LIMIT ?",
            (patient_id, now, limit),
        )
        count = await self._db.scalar(
            f"SELECT count(*) FROM appointments WHERE {where}",  # noqa: S608
            (patient_id, now),
        )
        items = [
            PatientAppointment(
                id=row["id"],
                starts_at=from_db(row["starts_at"]),
                ends_at=from_db(row["ends_at"]),
                chair=row["chair"],
                service_id=row["service_id"],
                status=row["status"],
            )
            for row in rows
        ]
        return items, int(count)

    async def _calls(
        self, patient_id: int, phone: str, limit: int
    ) -> tuple[list[PatientCall], int]:
        """The patient's calls, newest first, and how many there are.

        A call is theirs when linked to them or made with their number (before the patient
        was known, or when the link was not made): two index walks, merged.
        """
        found: dict[str, Any] = {}
        for column, value in (("patient_id", patient_id), ("phone", phone)):
            rows = await self._db.rows(
                "SELECT id, started_at, direction, outcome FROM calls"  # noqa: S608
                f" WHERE {column} = ? ORDER BY started_at DESC LIMIT ?",
                (value, limit),
            )
            found.update((row["id"], row) for row in rows)
        newest = sorted(found.values(), key=lambda r: (r["started_at"], r["id"]), reverse=True)
        count = await self._db.scalar(
            "SELECT count(*) FROM calls WHERE patient_id = ? OR phone = ?", (patient_id, phone)
        )
        calls = [
            PatientCall(
                id=row["id"],
                started_at=from_db(row["started_at"]),
                direction=row["direction"],
                outcome=row["outcome"],
            )
            for row in newest[:limit]
        ]
        return calls, int(count)
