"""voicemail_detected: an answering machine took the call; leave a neutral message or hang up.

The message names only the clinic and its number. An answering machine is often shared, so it
never carries the patient's name or why the clinic calls (health data, GDPR Art. 9).
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


def voicemail_message(ctx: ToolContext) -> str:
    """The configured message in the call's language, with the clinic's name and number.

    Filled by plain replacement, not ``str.format``: a clinic's template may contain other
    braces, and a template must never be able to reach anything but these two values.
    """
    calling = ctx.settings.calling
    templates: dict[Language, str] = {
        "sq": calling.voicemail_message_sq,
        "en": calling.voicemail_message_en,
        "it": calling.voicemail_message_it,
    }
    template = templates[language_of(ctx.language)]
    return template.replace("{clinic}", ctx.clinic.name).replace(
        "{phone}", readable_phone(ctx.clinic.phone)
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
