"""Who is calling in: the call's facts, from the clinic's records of the calling number alone.

An inbound call is bound to the caller's number as LiveKit's SIP bridge reported it (see
:mod:`service.inbound`). Elo recognises a returning patient by that number: the name on file,
the reason the clinic last called it (the latest campaign attempt's purpose) and a callback staff
still owe it. Nothing here is read by any other key, so no other patient's facts reach the call.
"""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from app.application import Application
from campaign.launcher import purpose_text
from pipeline.metadata import CallMetadata
from storage.models import CallDirection, CallerHistory
from validation import InputError, normalize_name
from validation.languages import LANGUAGES

# What became of the clinic's last call, in the words the model reads (attempt outcomes).
_ATTEMPT_ENDS = {
    "no_answer": "nobody answered",
    "busy": "the line was busy",
    "voicemail": "it reached voicemail",
    "booked": "an appointment was booked",
    "follow_up": "a callback was arranged",
    "declined": "the patient declined",
    "opted_out": "the patient asked not to be called",
    "transferred": "the patient was put through to staff",
    "failed": "the call broke off",
}
_MAX_REASON = 300


async def caller_metadata(app: Application, *, call_id: str, phone: str | None) -> CallMetadata:
    """The metadata of an inbound call from ``phone``.

    Args:
        app: The application (its store, clock and settings).
        call_id: The call's id.
        phone: The caller's number (E.164) as the telephony side reported it; None when
            withheld.

    Returns:
        Inbound metadata bound to ``phone``, with the name on file, the reason the clinic last
        contacted the number, its language and whether it is on the do-not-call list.
    """
    default_language = app.settings.pipeline.language
    if phone is None:
        return CallMetadata(
            call_id=call_id, language=default_language, direction=CallDirection.INBOUND
        )
    since = app.clock() - timedelta(days=app.settings.inbound.recent_call_days)
    history = await app.store.callers.history(phone=phone, since=since)
    last = history.last_campaign_call
    name = history.patient_name or (last.contact_name if last else None)
    language = history.patient_language or (last.language if last else None)
    return CallMetadata(
        call_id=call_id,
        patient_name=_usable_name(name),
        phone=phone,
        reason=caller_reason(history, tz=app.clinic.tz),
        language=language if language in LANGUAGES else default_language,
        direction=CallDirection.INBOUND,
        do_not_call=history.do_not_call,
    )


def caller_reason(history: CallerHistory, *, tz: ZoneInfo) -> str | None:
    """Why the clinic last contacted the number, in one line for the model, or None.

    Args:
        history: The number's facts.
        tz: The clinic's time zone (dates are the clinic's).

    Returns:
        E.g. ``the clinic called on 2026-11-30 about: check-up reminder; nobody answered``.
    """
    parts = []
    last = history.last_campaign_call
    if last is not None:
        text = (
            f"the clinic called on {last.started_at.astimezone(tz):%Y-%m-%d} about:"
            f" {purpose_text(last.purpose, last.notes)}"
        )
        if last.outcome in _ATTEMPT_ENDS:
            text += f"; {_ATTEMPT_ENDS[last.outcome]}"
        parts.append(text)
    if history.follow_up_due is not None:
        text = f"staff owe a callback, due {history.follow_up_due.astimezone(tz):%Y-%m-%d %H:%M}"
        if history.follow_up_reason:
            text += f", about: {history.follow_up_reason}"
        parts.append(text)
    if not parts:
        return None
    reason = " ".join("; ".join(parts).split())
    return reason if len(reason) <= _MAX_REASON else reason[: _MAX_REASON - 1].rstrip() + "…"


def _usable_name(name: str | None) -> str | None:
    # A stored name that no longer passes today's rule is left out, as campaign calls do.
    if not name:
        return None
    try:
        return normalize_name(name, field="name")
    except InputError:
        return None
