"""voicemail_detected: an answering machine took the call; leave a neutral message or hang up.

The message says who calls and why in its first sentence, then the clinic's number. An
answering machine is often shared, so it never carries the patient's name, the service or
anything else about their health (GDPR Art. 9): "why" is a fixed phrase per campaign purpose
("about your upcoming appointment", "to arrange a visit").
"""

from __future__ import annotations

import phonenumbers
from loguru import logger
from pydantic import Field

from tools.common import ToolArgs
from tools.context import ToolContext
from tools.registry import ToolResult
from validation.languages import Language, language_of
from validation.text import clean_text

_MAX_EVIDENCE = 200


class VoicemailDetectedArgs(ToolArgs):
    """Arguments of voicemail_detected."""

    evidence: str = Field(
        max_length=_MAX_EVIDENCE,
        description=(
            "What showed it is an answering machine, in a few words, e.g. 'greeting says leave"
            " a message after the beep'."
        ),
    )


def readable_phone(e164: str) -> str:
    """A number as people say it in the clinic's country, e.g. ``04 222 3344``."""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)


# Why the clinic called, for ``{why}`` in the message: fixed words per campaign purpose, never
# the service, the patient or the campaign's notes (an answering machine is often shared).
_WHY = {
    "sq": {
        "confirmation": ", për takimin tuaj të ardhshëm",
        "other": ", për të caktuar një vizitë",
    },
    "en": {"confirmation": ", about your upcoming appointment", "other": ", to arrange a visit"},
    "it": {
        "confirmation": ", per il Suo prossimo appuntamento",
        "other": ", per fissare una visita",
    },
}


def voicemail_why(ctx: ToolContext) -> str:
    """Why the clinic called, as the first sentence of the message says it (may be empty)."""
    if ctx.purpose is None:
        return ""
    words = _WHY[language_of(ctx.language)]
    return words["confirmation"] if ctx.purpose == "confirmation" else words["other"]


def voicemail_message(ctx: ToolContext) -> str:
    """The configured message in the call's language: the clinic's name, why, and its number.

    Filled by plain replacement, not ``str.format``: a clinic's template may contain other
    braces, and a template must never be able to reach anything but these three values.
    """
    calling = ctx.settings.calling
    templates: dict[Language, str] = {
        "sq": calling.voicemail_message_sq,
        "en": calling.voicemail_message_en,
        "it": calling.voicemail_message_it,
    }
    return (
        templates[language_of(ctx.language)]
        .replace("{clinic}", ctx.clinic.name)
        .replace("{why}", voicemail_why(ctx))
        .replace("{phone}", readable_phone(ctx.clinic.phone))
    )


async def voicemail_detected(args: VoicemailDetectedArgs, ctx: ToolContext) -> ToolResult:
    """Record the voicemail outcome and either give the model the message or end the call."""
    if ctx.call_control is None:
        return {
            "error": "voicemail_detected works only during a live call",
            "hint": "There is no call here.",
        }
    # Validated like any free text (refused when malformed), though nothing stores or logs it.
    clean_text(args.evidence, field="evidence", max_length=_MAX_EVIDENCE)
    if ctx.settings.calling.voicemail_action == "hang_up":
        await ctx.call_control.voicemail_reached(leave_message=False)
        logger.info("voicemail detected; hanging up")
        return {"status": "hanging_up", "hint": "Say nothing; the call is ending."}
    await ctx.call_control.voicemail_reached(leave_message=True)
    logger.info("voicemail detected; leaving the clinic's message")
    return {
        "status": "leave_message",
        "message": voicemail_message(ctx),
        "hint": "Say exactly this message once, slowly, then call end_call with reason voicemail.",
    }
