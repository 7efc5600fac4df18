"""Row converters: one function per model turns a database row into that model.

Every repository reads through these, so a stored time is parsed (and a JSON column decoded)
the same way wherever the row comes from.
"""

from __future__ import annotations

import json
import re
import sqlite3
from datetime import datetime
from typing import Any

from config.logs import redactor
from storage.models import (
    Appointment,
    AuditEntry,
    CallAttempt,
    CallRecord,
    Campaign,
    CampaignContact,
    DoNotCallEntry,
    FollowUp,
    Patient,
)
from storage.timefmt import from_db

# The fixed-width UTC text to_db writes, e.g. 2026-12-03T09:30:00Z.
_DB_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")
# Columns a record query may add beside the record's own (the patient of a staff search) or
# that no model shows (the import key).
_NOT_RECORD = ("legacy_key", "p_phone", "p_name")


def slot_time(text: str) -> datetime:
    """:func:`storage.timefmt.from_db`, about 15 times faster for the text ``to_db`` writes."""
    if _DB_TIME.fullmatch(text):
        return datetime.fromisoformat(text)  # "Z" parses to UTC, as from_db gives
    return from_db(text)


def to_patient(row: sqlite3.Row) -> Patient:
    """A ``patients`` row as a :class:`Patient` (its name becomes known to the log redactor)."""
    data = dict(row)
    data["created_at"] = from_db(data["created_at"])
    data.pop("updated_at", None)
    patient = Patient.model_validate(data)
    # A stored patient is a trusted source of names for log masking (the redactor re-validates).
    redactor.remember_name(patient.name)
    return patient


def _record_data(row: sqlite3.Row, *times: str) -> dict[str, Any]:
    data = {key: row[key] for key in row.keys() if key not in _NOT_RECORD}
    for key in times:
        data[key] = from_db(data[key])
    return data


def to_appointment(row: sqlite3.Row) -> Appointment:
    """An ``appointments`` row as an :class:`Appointment`."""
    data = _record_data(row, "starts_at", "ends_at", "created_at")
    if data.get("updated_at"):
        data["updated_at"] = from_db(data["updated_at"])
    if data.get("confirmed_at"):
        data["confirmed_at"] = from_db(data["confirmed_at"])
    return Appointment.model_validate(data)


def to_follow_up(row: sqlite3.Row) -> FollowUp:
    """A ``follow_ups`` row as a :class:`FollowUp`."""
    return FollowUp.model_validate(_record_data(row, "due_at", "created_at"))


def to_call(row: sqlite3.Row) -> CallRecord:
    """A ``calls`` row as a :class:`CallRecord` (transcript and counters decoded)."""
    data = dict(row)
    data["started_at"] = from_db(data["started_at"])
    data["ended_at"] = from_db(data["ended_at"]) if data["ended_at"] else None
    data["transcript"] = json.loads(data["transcript"])
    data["counters"] = json.loads(data["counters"])
    return CallRecord.model_validate(data)


def to_dnc_entry(row: sqlite3.Row) -> DoNotCallEntry:
    """A ``do_not_call`` row as a :class:`DoNotCallEntry`."""
    data: dict[str, Any] = dict(row)
    data["added_at"] = from_db(data["added_at"])
    return DoNotCallEntry.model_validate(data)


def to_campaign(row: sqlite3.Row) -> Campaign:
    """A ``campaigns`` row as a :class:`Campaign`."""
    data: dict[str, Any] = dict(row)
    data["created_at"] = from_db(data["created_at"])
    data["retry_delays"] = json.loads(data.get("retry_delays") or "{}")
    if data.get("runner_seen_at"):
        data["runner_seen_at"] = from_db(data["runner_seen_at"])
    return Campaign.model_validate(data)


def to_contact(row: sqlite3.Row) -> CampaignContact:
    """A ``campaign_contacts`` row as a :class:`CampaignContact`."""
    data: dict[str, Any] = dict(row)
    data["created_at"] = from_db(data["created_at"])
    if data.get("next_call_at"):
        data["next_call_at"] = from_db(data["next_call_at"])
    return CampaignContact.model_validate(data)


def to_attempt(row: sqlite3.Row) -> CallAttempt:
    """A ``call_attempts`` row as a :class:`CallAttempt`."""
    data: dict[str, Any] = dict(row)
    data["started_at"] = from_db(data["started_at"])
    data["ended_at"] = from_db(data["ended_at"]) if data["ended_at"] else None
    return CallAttempt.model_validate(data)


def to_audit_entry(row: sqlite3.Row) -> AuditEntry:
    """An ``audit_log`` row as an :class:`AuditEntry` (its detail decoded)."""
    return AuditEntry(
        id=row["id"],
        at=from_db(row["at"]),
        actor=row["actor"],
        action=row["action"],
        subject=row["subject"],
        detail=json.loads(row["detail"]) if row["detail"] else None,
    )
