"""Who a booking or callback is for: the identity a call is bound to.

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

from datetime import timedelta
from typing import Any

import phonenumbers
from loguru import logger

from tools.context import ToolContext, ToolMode
from validation import InputError, normalize_name, normalize_phone
from validation.text import fold

_OTHER_PERSON_HINT = (
    "Nothing was booked. In this call you can book only for the person you called. Say that the"
    " other person should call the clinic themselves, or offer schedule_follow_up (phone_number"
    " empty) so a colleague calls back on this number to arrange it."
)
BOOKING = "booking"
CALLBACK = "callback"
_OTHER_NUMBER_HINT = {
    BOOKING: (
        "Nothing was booked. In this call you can book only for the person you called, on this"
        " call's number: call schedule_appointment again with phone_number empty. If they want"
        " to book for someone else, say that person should call the clinic themselves, or offer"
        " schedule_follow_up (phone_number empty) so a colleague calls back on this number to"
        " arrange it."
    ),
    CALLBACK: (
        "Nothing was recorded. A callback from this call can only go to this call's number:"
        " call schedule_follow_up again with phone_number empty. Someone else should call the"
        " clinic themselves."
    ),
}


def bound_phone(ctx: ToolContext) -> str | None:
    """The number a live call is bound to; staff at the command line are bound to none."""
    return ctx.phone if ctx.mode is ToolMode.CALL else None


def patient_phone(ctx: ToolContext, raw: str, *, purpose: str) -> str:
    """The number a booking or callback is for: the call's own, or the validated one given.

    Raises:
        InputError: A bound call was given another (or an unusable) number, or an unbound call
            none. The message names no number and nothing about who has it.
    """
    bound = bound_phone(ctx)
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


def record_name(ctx: ToolContext, raw: str, *, field: str) -> str:
    """The validated name given; in a call that came with a name, that name is the record's.

    The given name is always validated (a sentence is refused even when it is not used). A call
    placed with a name (campaign, ``bot.py --patient-name``) books under it, so the model cannot
    make a new record carry a name of its choosing; an existing patient keeps theirs anyway.
    """
    name = normalize_name(raw, max_length=ctx.settings.validation.max_name_length, field=field)
    if bound_phone(ctx) is not None and ctx.patient_name:
        return ctx.patient_name
    return name


def same_person(ctx: ToolContext, raw: str) -> None:
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
    if bound_phone(ctx) is None or not ctx.patient_name:
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
    phone = bound_phone(ctx)
    if phone is None:
        return []
    patient = await ctx.store.patients.get(phone=phone)
    if patient is None:
        return []
    now = ctx.now()
    horizon = now + timedelta(days=ctx.settings.clinic.booking_horizon_days + 1)
    services = {s.id: s for s in ctx.clinic.services}
    mine = [
        a
        for a in await ctx.store.appointments.list(start=now, end=horizon)
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
