"""Import of the old in-memory structure: ``{"appointments": [...], "follow_ups": [...]}``.

Each record is validated like a tool call. The import is idempotent: every accepted record gets a
key derived from its normalised content, and a key already in the database is skipped.

The tools' rules apply: a future appointment beyond the booking horizon is rejected, like one on a
closed day or a taken slot. A record whose number belongs to a patient on file under a different
name is rejected as a conflict rather than merged into that patient (a typo, a shared family
phone or a reassigned number: staff decide, not the import).
"""

from __future__ import annotations

import hashlib
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from scheduling.when import parse_requested_time
from storage import Booked
from tools.common import book_service, find_service
from tools.context import ToolContext
from validation import InputError, clean_text, normalize_name, normalize_phone
from validation.text import strip_invisible

_NAME_KEYS = ("patient_name", "client_name", "name")
_PHONE_KEYS = ("phone_number", "phone")
_APPOINTMENT_TIME_KEYS = ("preferred_date", "appointment_time", "date", "datetime", "start")
_FOLLOW_UP_TIME_KEYS = ("preferred_time", "follow_up_time", "due_at", "date", "time")
_SERVICE_KEYS = ("service_type", "service")
_REASON_KEYS = ("reason", "notes", "note")


@dataclass
class Rejection:
    """A record that was not imported, and why (no personal data in the reason)."""

    kind: str
    index: int
    reason: str


@dataclass
class ImportReport:
    """What an import did."""

    appointments_imported: int = 0
    follow_ups_imported: int = 0
    already_imported: int = 0
    rejected: list[Rejection] = field(default_factory=list)

    def to_result(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {
            "appointments_imported": self.appointments_imported,
            "follow_ups_imported": self.follow_ups_imported,
            "already_imported": self.already_imported,
            "rejected": [
                {"kind": r.kind, "index": r.index, "reason": r.reason} for r in self.rejected
            ],
        }


class LegacyFormatError(ValueError):
    """The file is not the legacy structure at all."""


async def import_legacy(data: Any, ctx: ToolContext) -> ImportReport:
    """Import legacy appointments and follow-ups into the store.

    Args:
        data: The parsed JSON document.
        ctx: A tool context (admin mode) for validation rules and the store.

    Returns:
        Counts of imported and skipped records and the reasons for each rejection.

    Raises:
        LegacyFormatError: The document is not an object with ``appointments`` and/or
            ``follow_ups`` lists.
    """
    if not isinstance(data, dict) or not ({"appointments", "follow_ups"} & data.keys()):
        raise LegacyFormatError("expected a JSON object with 'appointments' and 'follow_ups' lists")
    for key in ("appointments", "follow_ups"):
        if not isinstance(data.get(key, []), list):
            raise LegacyFormatError(f"'{key}' must be a list")
    report = ImportReport()
    seen = await ctx.store.appointments.legacy_keys()
    for index, record in enumerate(data.get("appointments", [])):
        await _one(ctx, report, seen, "appointment", index, record)
    for index, record in enumerate(data.get("follow_ups", [])):
        await _one(ctx, report, seen, "follow_up", index, record)
    return report


async def _one(
    ctx: ToolContext,
    report: ImportReport,
    seen: set[str],
    kind: str,
    index: int,
    record: Any,
) -> None:
    try:
        if not isinstance(record, dict):
            raise InputError("record", "is not an object", "Fix the file.")
        if kind == "appointment":
            outcome = await _appointment(ctx, seen, record)
        else:
            outcome = await _follow_up(ctx, seen, record)
    except InputError as exc:
        report.rejected.append(Rejection(kind, index, str(exc)))
        return
    if outcome == "duplicate":
        report.already_imported += 1
    elif outcome == "imported" and kind == "appointment":
        report.appointments_imported += 1
    elif outcome == "imported":
        report.follow_ups_imported += 1


def _pick(record: dict[str, Any], keys: tuple[str, ...], field_name: str) -> str:
    for key in keys:
        value = record.get(key)
        if value is not None:
            if not isinstance(value, str):
                raise InputError(field_name, "must be text", "Fix the file.")
            return strip_invisible(value)
    raise InputError(field_name, "is missing", f"Add one of: {', '.join(keys)}.")


def _person(ctx: ToolContext, record: dict[str, Any]) -> tuple[str, str]:
    name = normalize_name(
        _pick(record, _NAME_KEYS, "name"),
        max_length=ctx.settings.validation.max_name_length,
        field="name",
    )
    phone = normalize_phone(
        _pick(record, _PHONE_KEYS, "phone_number"),
        allowed_regions=ctx.settings.validation.allowed_phone_regions,
        default_region=ctx.settings.validation.default_phone_region,
    )
    return name, phone


def _key(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


def _when(ctx: ToolContext, raw: str, field_name: str) -> datetime:
    requested = parse_requested_time(raw, tz=ctx.clinic.tz, now=ctx.now(), field=field_name)
    if requested.at is None:
        raise InputError(field_name, "has no time of day", "Add the time, e.g. 2026-12-03T10:30.")
    return requested.at


def _comparable(name: str) -> str:
    """A name without case, accents or spacing differences (old systems often lack "ë", "ç")."""
    decomposed = unicodedata.normalize("NFKD", name)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(bare.casefold().split())


async def _check_owner(ctx: ToolContext, phone: str, name: str) -> None:
    """Refuse a record whose number is on file under someone else's name."""
    patient = await ctx.store.patients.get(phone=phone)
    if patient is not None and _comparable(patient.name) != _comparable(name):
        raise InputError(
            "name",
            "conflicts with the name on file for this phone number; not merged",
            "Check who the number belongs to and enter the record by hand.",
        )


async def _appointment(ctx: ToolContext, seen: set[str], record: dict[str, Any]) -> str:
    name, phone = _person(ctx, record)
    service = find_service(ctx, _pick(record, _SERVICE_KEYS, "service_type"))
    start = _when(ctx, _pick(record, _APPOINTMENT_TIME_KEYS, "preferred_date"), "preferred_date")
    key = _key("appointment", phone, start.isoformat(), service.id)
    if key in seen:
        return "duplicate"
    duration = timedelta(minutes=service.duration_minutes)
    now = ctx.now()
    horizon = ctx.settings.clinic.booking_horizon_days
    # The tools' horizon, by local date as check_available_slots counts it.
    if (
        start.astimezone(ctx.clinic.tz).date()
        > (now + timedelta(days=horizon)).astimezone(ctx.clinic.tz).date()
    ):
        raise InputError(
            "preferred_date",
            f"cannot be booked: that is more than {horizon} days ahead (the booking horizon)",
            "Rebook by hand nearer the time.",
        )
    await _check_owner(ctx, phone, name)
    if start < now:
        await ctx.store.appointments.import_past(
            phone=phone,
            name=name,
            service_id=service.id,
            starts_at=start,
            ends_at=start + duration,
            price_lek=service.price_lek,
            legacy_key=key,
        )
    else:
        problem = ctx.slots.rule_violation(start, duration, now, policy=False)
        if problem:
            raise InputError("preferred_date", f"cannot be booked: {problem}", "Rebook by hand.")
        outcome = await book_service(
            ctx,
            service=service,
            start=start,
            phone=phone,
            name=name,
            source="import",
            legacy_key=key,
        )
        if not isinstance(outcome, Booked):
            raise InputError("preferred_date", "slot is already taken", "Rebook by hand.")
    seen.add(key)
    return "imported"


async def _follow_up(ctx: ToolContext, seen: set[str], record: dict[str, Any]) -> str:
    name, phone = _person(ctx, record)
    due = _when(ctx, _pick(record, _FOLLOW_UP_TIME_KEYS, "preferred_time"), "preferred_time")
    reason_raw = next((record[k] for k in _REASON_KEYS if isinstance(record.get(k), str)), "")
    reason = clean_text(reason_raw, field="reason", max_length=500, required=False) or None
    key = _key("follow_up", phone, due.isoformat())
    if key in seen:
        return "duplicate"
    await _check_owner(ctx, phone, name)
    await ctx.store.follow_ups.create(
        phone=phone, name=name, due_at=due, reason=reason, source="import", legacy_key=key
    )
    seen.add(key)
    return "imported"
