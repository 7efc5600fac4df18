"""Tools that read the calendar and write bookings: slots, appointments, follow-ups.

The call's identity is the only identity. In a call bound to a number (``ToolContext.phone``,
set by whoever placed the call), bookings and callbacks are for that number only: the model may
leave ``phone_number`` empty, and any other number is refused with nothing written, never
attached to whatever record that number has ("book for my mother": she calls the clinic herself,
or staff call back on the callee's own number). Results never say whether a number belongs to a
patient or what is stored about them; only the bound callee hears their own upcoming
appointment times. Without a bound number (a browser or file call, staff at the command line) a
number is taken as given, the result is the same whether it is on file or not, and a stored
patient keeps their recorded name.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import phonenumbers
from loguru import logger
from pydantic import Field

from scheduling.slots import Slot
from scheduling.when import RequestedTime, parse_requested_time
from storage import Booked
from tools.common import ToolArgs, book_service, find_service, service_summary
from tools.context import ToolContext, ToolMode
from tools.registry import PII_NAME, SERVICE_ENUM, ToolResult
from validation import InputError, clean_text, normalize_name, normalize_phone
from validation.text import fold

_DATE_HELP = (
    "Date or date and time in the clinic's local time, ISO 8601 (2026-12-03 or 2026-12-03T10:30),"
    " or 'today', 'tomorrow', a weekday name, optionally followed by HH:MM."
)


class CheckAvailableSlotsArgs(ToolArgs):
    """Arguments of check_available_slots."""

    preferred_date: str = Field(max_length=40, description=_DATE_HELP)
    service_type: str = Field(
        default="",
        max_length=40,
        description="Catalogue id of the service, so the slots fit its length. Optional.",
        json_schema_extra=SERVICE_ENUM,
    )


class ScheduleAppointmentArgs(ToolArgs):
    """Arguments of schedule_appointment."""

    patient_name: str = Field(
        max_length=200,
        description=(
            "Full name of the person called, as they said it (a name only). In a call to a known"
            " number the call's own name on file is used."
        ),
        json_schema_extra=PII_NAME,
    )
    preferred_date: str = Field(
        max_length=40,
        description="Start of the appointment, with a time: 2026-12-03T10:30 or 'tomorrow 10:30'.",
    )
    service_type: str = Field(
        max_length=40, description="Catalogue id of the service.", json_schema_extra=SERVICE_ENUM
    )
    phone_number: str = Field(
        default="",
        max_length=32,
        description=(
            "Leave empty in a call to a known number: the call's own number is used and no other"
            " is accepted. Otherwise the patient's number, e.g. +355 69 123 4567 or 069 123 4567."
        ),
    )


class ScheduleFollowUpArgs(ToolArgs):
    """Arguments of schedule_follow_up."""

    client_name: str = Field(
        max_length=200,
        description="Full name of the person called (a name only).",
        json_schema_extra=PII_NAME,
    )
    phone_number: str = Field(
        default="",
        max_length=32,
        description=(
            "Leave empty in a call to a known number: staff call back on the call's own number"
            " and no other is accepted. Otherwise the number to call back."
        ),
    )
    preferred_time: str = Field(
        max_length=40, description="When to call back: a date, or a date and time. " + _DATE_HELP
    )
    reason: str = Field(
        default="", max_length=300, description="Short note on what the callback is about."
    )


async def check_available_slots(args: CheckAvailableSlotsArgs, ctx: ToolContext) -> ToolResult:
    """List free appointment times on a day, or the nearest ones when that day cannot be booked."""
    now = ctx.now()
    service = find_service(ctx, args.service_type) if args.service_type else None
    duration = timedelta(minutes=service.duration_minutes if service else ctx.clinic.slot_minutes)
    requested = parse_requested_time(args.preferred_date, tz=ctx.clinic.tz, now=now)
    day = requested.day
    target = requested.at or datetime.combine(day, datetime.min.time(), tzinfo=ctx.clinic.tz)
    result: dict[str, Any] = {
        "date": day.isoformat(),
        "weekday": day.strftime("%A"),
        "duration_minutes": int(duration.total_seconds() // 60),
    }
    if service:
        result["service"] = service_summary(ctx, service)
    reason = _day_problem(ctx, day, now)
    slots = [] if reason else await ctx.slots.free_slots_on(day, duration, now)
    if not slots:
        result["available"] = False
        result["reason"] = reason or "every slot that day is taken"
        nearest = await ctx.slots.nearest(
            max(target, now), duration, now, count=ctx.settings.clinic.max_slots_offered
        )
        result["nearest_free_slots"] = [s.to_result() for s in nearest]
        result["hint"] = "Tell the patient why and offer some of nearest_free_slots."
        return result
    result["available"] = True
    result["free_slot_count"] = len(slots)
    result["free_slots"] = [
        s.to_result() for s in _pick(slots, requested, ctx.settings.clinic.max_slots_offered)
    ]
    result["hours"] = ctx.calendar.describe_hours(day)
    return result


async def schedule_appointment(args: ScheduleAppointmentArgs, ctx: ToolContext) -> ToolResult:
    """Book an appointment after validating every argument; nothing is written on any error."""
    now = ctx.now()
    service = find_service(ctx, args.service_type)
    name = _name(ctx, args.patient_name, field="patient_name")
    phone = _patient_phone(ctx, args.phone_number, purpose=_BOOKING)
    _same_person(ctx, args.patient_name)
    requested = parse_requested_time(args.preferred_date, tz=ctx.clinic.tz, now=now)
    duration = timedelta(minutes=service.duration_minutes)
    if requested.at is None:
        free = await ctx.slots.free_slots_on(requested.day, duration, now)
        raise InputError(
            "preferred_date",
            "needs a time of day",
            "Ask which time suits the patient; free_slots lists that day's free times.",
            {"free_slots": [s.to_result() for s in free[: ctx.settings.clinic.max_slots_offered]]},
        )
    start = requested.at
    problem = ctx.slots.rule_violation(start, duration, now)
    if problem:
        raise InputError(
            "preferred_date",
            f"{start:%Y-%m-%d %H:%M} cannot be booked: {problem}",
            "Offer the patient one of nearest_free_slots.",
            {"nearest_free_slots": await _nearest(ctx, start, duration, now)},
        )
    outcome = await book_service(
        ctx, service=service, start=start, phone=phone, name=name, source=ctx.source
    )
    if not isinstance(outcome, Booked):
        logger.info("booking lost the slot to another booking")
        return {
            "error": f"slot taken: {start:%Y-%m-%d %H:%M} was just booked by someone else",
            "hint": "Apologise and offer one of nearest_free_slots.",
            "nearest_free_slots": await _nearest(ctx, start, duration, now),
        }
    appointment = outcome.appointment
    logger.info("appointment {} booked", appointment.id)
    # Nothing about the patient record goes back (not its name, not whether it is new): the
    # same answer whether or not the number was on file.
    result: dict[str, Any] = {
        "status": "booked",
        "appointment_id": appointment.id,
        "service": service_summary(ctx, service),
        "start": appointment.starts_at.astimezone(ctx.clinic.tz).isoformat(timespec="minutes"),
        "end": appointment.ends_at.astimezone(ctx.clinic.tz).isoformat(timespec="minutes"),
        "clinic_address": ctx.clinic.address,
        "hint": "Confirm the day, time, service and price back to the patient.",
    }
    if _bound_phone(ctx) is not None:
        others = await upcoming_appointments(ctx, exclude_id=appointment.id)
        if others:
            result["upcoming_appointments"] = others
            result["hint"] += (
                " upcoming_appointments are this patient's other bookings: mention them only if"
                " the patient asks, or if the new one looks like a duplicate."
            )
    return result


async def schedule_follow_up(args: ScheduleFollowUpArgs, ctx: ToolContext) -> ToolResult:
    """Record that the clinic will call the patient back at a time inside opening hours."""
    now = ctx.now()
    name = _name(ctx, args.client_name, field="client_name")
    phone = _patient_phone(ctx, args.phone_number, purpose=_CALLBACK)
    reason = clean_text(args.reason, field="reason", max_length=300, required=False) or None
    requested = parse_requested_time(
        args.preferred_time, tz=ctx.clinic.tz, now=now, field="preferred_time"
    )
    step = timedelta(minutes=ctx.clinic.slot_minutes)
    due = requested.at
    if due is None:
        intervals = ctx.calendar.open_intervals(requested.day)
        due = (
            intervals[0][0]
            if intervals
            else datetime.combine(requested.day, datetime.min.time(), tzinfo=ctx.clinic.tz)
        )
    problem = ctx.slots.rule_violation(due, step, now)
    if problem:
        options = await ctx.slots.nearest(
            max(due, now), step, now, count=ctx.settings.clinic.max_slots_offered
        )
        raise InputError(
            "preferred_time",
            f"{due:%Y-%m-%d %H:%M} is not a time the clinic can call: {problem}",
            "Offer one of the nearest_times, when staff are in the clinic.",
            {"nearest_times": [s.start.isoformat(timespec="minutes") for s in options]},
        )
    follow_up, _ = await ctx.store.create_follow_up(
        phone=phone,
        name=name,
        due_at=due,
        reason=reason,
        source=ctx.source,
        call_id=ctx.call_id,
        language=ctx.language,
    )
    logger.info("follow-up {} scheduled", follow_up.id)
    return {
        "status": "scheduled",
        "follow_up_id": follow_up.id,
        "call_back_at": due.isoformat(timespec="minutes"),
        "hint": "Tell the patient the clinic will call them back then.",
    }


_OTHER_PERSON_HINT = (
    "Nothing was booked. In this call you can book only for the person you called. Say that the"
    " other person should call the clinic themselves, or offer schedule_follow_up (phone_number"
    " empty) so a colleague calls back on this number to arrange it."
)
_BOOKING = "booking"
_CALLBACK = "callback"
_OTHER_NUMBER_HINT = {
    _BOOKING: (
        "Nothing was booked. In this call you can book only for the person you called, on this"
        " call's number: call schedule_appointment again with phone_number empty. If they want"
        " to book for someone else, say that person should call the clinic themselves, or offer"
        " schedule_follow_up (phone_number empty) so a colleague calls back on this number to"
        " arrange it."
    ),
    _CALLBACK: (
        "Nothing was recorded. A callback from this call can only go to this call's number:"
        " call schedule_follow_up again with phone_number empty. Someone else should call the"
        " clinic themselves."
    ),
}


def _bound_phone(ctx: ToolContext) -> str | None:
    """The number a live call is bound to; staff at the command line are bound to none."""
    return ctx.phone if ctx.mode is ToolMode.CALL else None


def _patient_phone(ctx: ToolContext, raw: str, *, purpose: str) -> str:
    """The number a booking or callback is for: the call's own, or the validated one given.

    Raises:
        InputError: A bound call was given another (or an unusable) number, or an unbound call
            none. The message names no number and nothing about who has it.
    """
    bound = _bound_phone(ctx)
    if bound is None:
        if not raw:
            raise InputError(
                "phone_number", "is required", "Ask the patient for their phone number."
            )
        return _phone(ctx, raw)
    if raw:
        try:
            # The call's own number is accepted even from a region not allowed for new numbers
            # (campaigns may call abroad): what matters is whether it is the same number.
            given = _phone(ctx, raw, also_region=_region(bound))
        except InputError:
            given = None
        if given != bound:
            logger.info("{} for a number other than the call's own refused", purpose)
            raise InputError(
                "phone_number",
                "must be this call's own number (or left empty)",
                _OTHER_NUMBER_HINT[purpose],
            )
    return bound


def _name(ctx: ToolContext, raw: str, *, field: str) -> str:
    """The validated name given; in a call that came with a name, that name is the record's.

    The given name is always validated (a sentence is refused even when it is not used). A call
    placed with a name (campaign, ``bot.py --patient-name``) books under it, so the model cannot
    make a new record carry a name of its choosing; an existing patient keeps theirs anyway.
    """
    name = normalize_name(raw, max_length=ctx.settings.validation.max_name_length, field=field)
    if _bound_phone(ctx) is not None and ctx.patient_name:
        return ctx.patient_name
    return name


def _same_person(ctx: ToolContext, raw: str) -> None:
    """Refuse a booking in a bound call for someone other than the person the call is for.

    "Book it for my mother, Drita" on the callee's number would put Drita in the chair under
    Arta's record: the wrong patient history, the wrong reminder, the wrong bill. A name is the
    callee's when each of its words is one of the call's name words (accents and case aside; an
    initial matches a word it starts), so "Arta", "A. Kola" and "arta kola" pass for "Arta Kola".
    Calls without a bound name (``bot.py --phone`` alone) cannot tell and do not check.

    Raises:
        InputError: The name is someone else's; nothing is booked, and the hint offers what can
            be done (the other person calls the clinic, or a callback on this number).
    """
    if _bound_phone(ctx) is None or not ctx.patient_name:
        return
    mine = fold(ctx.patient_name).replace(".", " ").split()
    for word in fold(raw).replace(".", " ").split():
        if word in mine or (len(word) == 1 and any(w.startswith(word) for w in mine)):
            continue
        logger.info("booking for a person other than the call's own refused")
        raise InputError(
            "patient_name", "must be the name of the person this call is for", _OTHER_PERSON_HINT
        )


async def upcoming_appointments(
    ctx: ToolContext, *, exclude_id: int | None = None
) -> list[dict[str, Any]]:
    """The bound callee's own active appointments from now to the booking horizon.

    Only times and services: enough for the callee to hear what they already have booked.
    Empty outside a call bound to a number.
    """
    phone = _bound_phone(ctx)
    if phone is None:
        return []
    patient = await ctx.store.get_patient(phone=phone)
    if patient is None:
        return []
    now = ctx.now()
    horizon = now + timedelta(days=ctx.settings.clinic.booking_horizon_days + 1)
    services = {s.id: s for s in ctx.clinic.services}
    mine = [
        a
        for a in await ctx.store.list_appointments(start=now, end=horizon)
        if a.patient_id == patient.id and a.id != exclude_id
    ]
    return [
        {
            "start": a.starts_at.astimezone(ctx.clinic.tz).isoformat(timespec="minutes"),
            "service": services[a.service_id].name.get(ctx.language)
            if a.service_id in services
            else a.service_id,
        }
        for a in mine[: ctx.settings.clinic.max_slots_offered]
    ]


def _phone(ctx: ToolContext, raw: str, *, also_region: str | None = None) -> str:
    allowed = list(ctx.settings.validation.allowed_phone_regions)
    return normalize_phone(
        raw,
        allowed_regions=[*allowed, also_region] if also_region else allowed,
        default_region=ctx.settings.validation.default_phone_region,
    )


def _region(e164: str) -> str | None:
    """The region of an E.164 number, e.g. ``IT`` for ``+39...``."""
    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse(e164, None))
    except phonenumbers.NumberParseException:
        return None


def _day_problem(ctx: ToolContext, day: date, now: datetime) -> str | None:
    if day < now.date():
        return "that day is in the past"
    if day > (now + timedelta(days=ctx.settings.clinic.booking_horizon_days)).date():
        return f"that is more than {ctx.settings.clinic.booking_horizon_days} days ahead"
    return ctx.calendar.closure_reason(day)


async def _nearest(
    ctx: ToolContext, start: datetime, duration: timedelta, now: datetime
) -> list[dict[str, Any]]:
    slots = await ctx.slots.nearest(
        max(start, now), duration, now, count=ctx.settings.clinic.max_slots_offered
    )
    return [s.to_result() for s in slots]


def _pick(slots: list[Slot], requested: RequestedTime, limit: int) -> list[Slot]:
    """Choose which free slots to offer: nearest the asked time, or spread over the day."""
    if len(slots) <= limit:
        return slots
    if requested.at is not None:
        at = requested.at
        return sorted(sorted(slots, key=lambda s: abs(s.start - at))[:limit], key=lambda s: s.start)
    step = (len(slots) - 1) / (limit - 1) if limit > 1 else 0
    return [slots[round(i * step)] for i in range(limit)]
