"""Tools that read the calendar and write bookings: slots, appointments, follow-ups.

Who a booking or callback may be for is decided in :mod:`tools.identity`.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from loguru import logger
from pydantic import Field

from scheduling.slots import Slot
from scheduling.when import RequestedTime, parse_requested_time
from storage import Booked
from tools.common import (
    ToolArgs,
    book_service,
    callback_barred,
    find_service,
    no_callback_hint,
    service_summary,
)
from tools.context import ToolContext
from tools.identity import (
    BOOKING,
    CALLBACK,
    bound_phone,
    patient_phone,
    record_name,
    same_person,
    upcoming_appointments,
)
from tools.registry import PII_NAME, SERVICE_ENUM, ToolResult
from validation import InputError, clean_text

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
    name = record_name(ctx, args.patient_name, field="patient_name")
    phone = patient_phone(ctx, args.phone_number, purpose=BOOKING)
    same_person(ctx, args.patient_name)
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
    existing = await ctx.store.appointments.active_at(
        phone=phone, service_id=service.id, starts_at=start
    )
    if existing is not None:
        # The same booking asked for again (e.g. the model did not hear the first answer because
        # the patient talked over it): the existing appointment is the answer, never a second one.
        logger.info("appointment {} already booked; returned again", existing.id)
        return {
            "status": "booked",
            "already_booked": True,
            "appointment_id": existing.id,
            "service": service_summary(ctx, service),
            "start": existing.starts_at.astimezone(ctx.clinic.tz).isoformat(timespec="minutes"),
            "end": existing.ends_at.astimezone(ctx.clinic.tz).isoformat(timespec="minutes"),
            "clinic_address": ctx.clinic.address,
            "hint": "This exact appointment was already booked: confirm it, do not book again.",
        }
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
    if bound_phone(ctx) is not None:
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
    name = record_name(ctx, args.client_name, field="client_name")
    phone = patient_phone(ctx, args.phone_number, purpose=CALLBACK)
    if await callback_barred(ctx, phone):
        logger.info("callback refused: the number is on the do-not-call list")
        return {"error": "the clinic does not call this number back", "hint": no_callback_hint(ctx)}
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
    follow_up, _ = await ctx.store.follow_ups.create(
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
