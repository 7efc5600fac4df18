"""The callee's own appointments: list, confirm, reschedule and cancel them in a call.

Bound to the call's number only (:func:`tools.identity.bound_phone`): every tool here acts on
the appointments of the patient whose number the call is bound to, and nothing else. An id that
is not one of that patient's upcoming active appointments (another patient's, a cancelled or
past one, one that does not exist) gets one and the same answer, so the model can never learn
whether someone else's appointment exists. Calls without a bound number (browser, file, staff
at the command line) get a refusal: staff use the calendar.

A reschedule is the staff calendar's move (:meth:`scheduling.staff_calendar.StaffCalendar.move`)
with the patients' rules on (notice, horizon, opening hours): the same id, ``revision`` + 1,
the new slot taken and the old released in one transaction. A lost race answers with the
nearest free times for the same service.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from loguru import logger
from pydantic import Field

from scheduling.staff_calendar import SlotUnavailable, StaffCalendar
from scheduling.when import parse_requested_time
from storage import Appointment
from storage.calendar_models import BookingRefused, CalendarError, SameSlot
from tools.common import ToolArgs
from tools.context import ToolContext
from tools.identity import bound_phone
from tools.registry import ToolResult
from validation import InputError, clean_text

_NOT_YOURS = "is not an upcoming appointment of the person called"
_NOT_YOURS_HINT = (
    "Call my_appointments and use one of the appointment_id values it returns; never guess an id."
)
_MAX_LISTED = 10


class MyAppointmentsArgs(ToolArgs):
    """my_appointments takes no arguments: the call's own number decides whose they are."""


class AppointmentIdArgs(ToolArgs):
    """Arguments of confirm_appointment."""

    appointment_id: int = Field(
        ge=1, description="The appointment_id from my_appointments (or from this call's task)."
    )


class RescheduleAppointmentArgs(AppointmentIdArgs):
    """Arguments of reschedule_appointment."""

    new_time: str = Field(
        max_length=40,
        description=(
            "The new start the patient agreed to, with a time: 2026-12-03T10:30 or"
            " 'tomorrow 10:30' (clinic time). Check it with check_available_slots first."
        ),
    )


class CancelAppointmentArgs(AppointmentIdArgs):
    """Arguments of cancel_appointment."""

    reason: str = Field(
        max_length=200,
        description=(
            "Why the patient cancels, in a few words (e.g. 'travelling'); no health details."
        ),
    )


def _actor(ctx: ToolContext) -> str:
    """The audit actor: Elo in this call (the call id, never the patient)."""
    return f"agent:{ctx.call_id}" if ctx.call_id else "agent"


def _callee(ctx: ToolContext) -> str:
    phone = bound_phone(ctx)
    if phone is None:
        raise InputError(
            "call",
            "these tools work only in a call to the patient's own number",
            "Say a colleague at the clinic can help with existing appointments; offer"
            " transfer_to_human or schedule_follow_up.",
        )
    return phone


def describe(ctx: ToolContext, appointment: Appointment) -> dict[str, Any]:
    """An appointment as the model sees it: id, service, day and time in the clinic's zone."""
    start = appointment.starts_at.astimezone(ctx.clinic.tz)
    service = ctx.clinic.services_by_id.get(appointment.service_id)
    return {
        "appointment_id": appointment.id,
        "service": service.name.get(ctx.language) if service else appointment.service_id,
        "day": start.date().isoformat(),
        "weekday": start.strftime("%A"),
        "time": start.strftime("%H:%M"),
        "appointment_status": appointment.status,
    }


async def _own(ctx: ToolContext, appointment_id: int) -> Appointment:
    """The callee's own upcoming active appointment with this id; anything else is unknown."""
    phone = _callee(ctx)
    for appointment in await ctx.store.appointments.upcoming_for(
        phone=phone, since=ctx.now(), limit=100
    ):
        if appointment.id == appointment_id:
            return appointment
    logger.info("appointment tool: id not among the callee's upcoming appointments")
    raise InputError("appointment_id", _NOT_YOURS, _NOT_YOURS_HINT)


def _staff_calendar(ctx: ToolContext) -> StaffCalendar:
    return StaffCalendar(
        store=ctx.store,
        clinic=ctx.clinic,
        calendar=ctx.calendar,
        slots=ctx.slots,
        clock=ctx.clock,
        max_alternatives=ctx.settings.clinic.max_slots_offered,
    )


async def my_appointments(args: MyAppointmentsArgs, ctx: ToolContext) -> ToolResult:
    """The callee's upcoming active appointments, soonest first."""
    phone = _callee(ctx)
    mine = await ctx.store.appointments.upcoming_for(
        phone=phone, since=ctx.now(), limit=_MAX_LISTED
    )
    if not mine:
        return {
            "appointments": [],
            "hint": "The person called has no upcoming appointment; offer to book one.",
        }
    return {
        "appointments": [describe(ctx, a) for a in mine],
        "hint": (
            "Say the day and time of the appointment this call is about and ask whether the"
            " patient will come; then confirm_appointment, reschedule_appointment or"
            " cancel_appointment with its appointment_id."
        ),
    }


async def confirm_appointment(args: AppointmentIdArgs, ctx: ToolContext) -> ToolResult:
    """Record that the callee will come (status confirmed, via call)."""
    own = await _own(ctx, args.appointment_id)
    try:
        confirmed = await ctx.store.calendar.confirm(
            appointment_id=own.id, via="call", actor=_actor(ctx)
        )
    except CalendarError:
        # Cancelled by staff a moment ago: the same answer as any id not theirs now.
        raise InputError("appointment_id", _NOT_YOURS, _NOT_YOURS_HINT) from None
    logger.info("appointment {} confirmed in a call", confirmed.id)
    return {
        "status": "confirmed",
        **describe(ctx, confirmed),
        "hint": "Thank the patient and repeat the day and time.",
    }


async def reschedule_appointment(args: RescheduleAppointmentArgs, ctx: ToolContext) -> ToolResult:
    """Move the callee's appointment to a new time: same id, one transaction."""
    own = await _own(ctx, args.appointment_id)
    now = ctx.now()
    requested = parse_requested_time(args.new_time, tz=ctx.clinic.tz, now=now, field="new_time")
    duration = own.ends_at - own.starts_at
    service = ctx.clinic.services_by_id.get(own.service_id)
    if service is not None:
        duration = timedelta(minutes=service.duration_minutes)
    if requested.at is None:
        free = await ctx.slots.free_slots_on(requested.day, duration, now)
        raise InputError(
            "new_time",
            "needs a time of day",
            "Ask which time suits the patient; free_slots lists that day's free times.",
            {"free_slots": [s.to_result() for s in free[: ctx.settings.clinic.max_slots_offered]]},
        )
    try:
        moved = await _staff_calendar(ctx).move(
            appointment_id=own.id,
            starts_at=requested.at,
            actor=_actor(ctx),
            apply_booking_policy=True,
        )
    except SameSlot:
        return {
            "status": "unchanged",
            **describe(ctx, own),
            "hint": "The appointment is already at that time; nothing was changed.",
        }
    except BookingRefused as exc:
        return {
            "error": f"new_time: {exc}",
            "hint": "Nothing was changed. Offer the patient one of nearest_free_slots.",
            "nearest_free_slots": await _nearest(ctx, requested.at, duration),
        }
    except CalendarError:
        raise InputError("appointment_id", _NOT_YOURS, _NOT_YOURS_HINT) from None
    if isinstance(moved, SlotUnavailable):
        logger.info("reschedule lost the slot to another booking")
        return {
            "error": f"slot taken: {requested.at:%Y-%m-%d %H:%M} was just booked by someone else",
            "hint": "Nothing was changed; the old time is still booked. Offer nearest_free_slots.",
            "nearest_free_slots": [
                {
                    "start": o.start.isoformat(timespec="minutes"),
                    "end": o.end.isoformat(timespec="minutes"),
                    "weekday": o.start.strftime("%A"),
                }
                for o in moved.alternatives
            ],
        }
    logger.info("appointment {} rescheduled in a call (revision {})", moved.id, moved.revision)
    previous = own.starts_at.astimezone(ctx.clinic.tz)
    return {
        "status": "rescheduled",
        **describe(ctx, moved),
        "previous_day": previous.date().isoformat(),
        "previous_time": previous.strftime("%H:%M"),
        "hint": "Repeat the new day and time; the old time is free now.",
    }


async def cancel_appointment(args: CancelAppointmentArgs, ctx: ToolContext) -> ToolResult:
    """Cancel the callee's appointment, keeping their short reason."""
    own = await _own(ctx, args.appointment_id)
    reason = clean_text(args.reason, field="reason", max_length=200)
    try:
        cancelled = await ctx.store.calendar.cancel(
            appointment_id=own.id, reason=reason, actor=_actor(ctx)
        )
    except CalendarError:
        # Cancelled or marked by staff a moment ago: the same answer as any id not theirs now.
        raise InputError("appointment_id", _NOT_YOURS, _NOT_YOURS_HINT) from None
    logger.info("appointment {} cancelled in a call", cancelled.id)
    return {
        "status": "cancelled",
        **describe(ctx, cancelled),
        "hint": "Say it is cancelled and offer to book another time now or later.",
    }


async def _nearest(ctx: ToolContext, start: Any, duration: timedelta) -> list[dict[str, Any]]:
    now = ctx.now()
    count = ctx.settings.clinic.max_slots_offered
    slots = await ctx.slots.nearest(max(start, now), duration, now, count=count)
    if not slots:
        # Nothing after a time beyond the booking horizon: the soonest free times instead.
        slots = await ctx.slots.nearest(now, duration, now, count=count)
    return [s.to_result() for s in slots]
