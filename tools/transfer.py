"""transfer_to_human: hand the patient over to clinic staff, with a callback when that fails.

The target comes from configuration (``ELO_CALLING__TRANSFER_TO``) or the clinic profile, never
from the model: a caller must not be able to make Elo dial a number of their choosing. Transfers
fail often in practice (nobody picks up, SIP 603/486), so a failure leaves a follow-up for
staff, due at once, bound to the call's own number; except for a number on the do-not-call list
(a patient who called in), which the clinic never calls back.
"""

from __future__ import annotations

from loguru import logger
from pydantic import Field

from tools.call_port import TransferOutcome
from tools.common import ToolArgs, callback_barred
from tools.context import ToolContext
from tools.registry import ToolResult
from validation.languages import Language
from validation.text import clean_text

_MAX_REASON = 200
_MAX_FAILURE = 100
# Name of a callee the clinic has no record of and the call was not given a name for; staff
# see it in the follow-up list and ask the name when they call back.
UNKNOWN_NAME = "(unknown)"
# In the call's language, like the patient's own words in {reason}; the follow-up's language
# tells staff which language to call back in.
_FOLLOW_UP_REASON: dict[Language, str] = {
    "sq": "Transferimi te stafi dështoi ({failure}). Pacienti kërkoi: {reason}",
    "en": "Transfer to staff failed ({failure}). The patient asked: {reason}",
    "it": "Trasferimento al personale non riuscito ({failure}). Il paziente ha chiesto: {reason}",
}


class TransferToHumanArgs(ToolArgs):
    """Arguments of transfer_to_human: why the patient wants a person; no number by design."""

    reason: str = Field(
        max_length=_MAX_REASON,
        description=(
            "In a few words, why the patient needs a person, e.g. 'question about an invoice'."
            " No names or phone numbers."
        ),
    )


def transfer_target(ctx: ToolContext) -> str:
    """Where transfers go: the configured target, else the clinic's phone as ``tel:+E164``."""
    configured = ctx.settings.calling.transfer_to.strip()
    if configured:
        return configured if configured.startswith(("tel:", "sip:")) else f"tel:{configured}"
    return f"tel:{ctx.clinic.phone}"


async def transfer_to_human(args: TransferToHumanArgs, ctx: ToolContext) -> ToolResult:
    """Transfer the call to staff; on failure, arrange a callback and tell the model what to say."""
    if ctx.call_control is None:
        return {
            "error": "transfer_to_human works only during a live call",
            "hint": "There is no call to transfer here.",
        }
    reason = clean_text(args.reason, field="reason", max_length=_MAX_REASON)
    outcome = await ctx.call_control.transfer(to=transfer_target(ctx))
    if outcome.ok:
        logger.info("call transferred to staff")
        return {
            "status": "transferred",
            "hint": "The patient is being connected to a member of staff. Say nothing more.",
        }
    logger.info("transfer failed; arranging a callback")
    return await _callback_instead(ctx, reason, outcome)


async def _callback_instead(ctx: ToolContext, reason: str, outcome: TransferOutcome) -> ToolResult:
    then = (
        " Then ask whether you can help with anything else; if not, say goodbye and call"
        " end_call with reason 'call_back_later'."
    )
    if ctx.phone is None:
        # A call without a bound number (e.g. from the browser): there is nobody to call back
        # unless the patient gives their details, which schedule_follow_up validates.
        return {
            "status": "transfer_failed",
            "follow_up": "not_created",
            "hint": (
                "Nobody from the clinic can take the call right now. Apologise, ask for the"
                " patient's name, phone number and a good time, and call schedule_follow_up so a"
                " colleague calls them back." + then
            ),
        }
    if await callback_barred(ctx, ctx.phone):
        return {
            "status": "transfer_failed",
            "follow_up": "not_created",
            "hint": (
                "Nobody from the clinic can take the call right now, and the clinic never calls"
                " this number back (it is on the do-not-call list). Apologise and ask the caller"
                f" to call the clinic again at {ctx.clinic.phone} during opening hours." + then
            ),
        }
    existing = (
        [
            f
            for f in await ctx.store.follow_ups.of_call(call_id=ctx.call_id)
            if f.source == ctx.source
        ]
        if ctx.call_id is not None
        else []
    )
    if existing:
        # A second failed attempt in the same call: one callback is enough.
        follow_up_id = existing[0].id
    else:
        patient = await ctx.store.patients.get(phone=ctx.phone)
        name = patient.name if patient else (ctx.call_control.callee_name or UNKNOWN_NAME)
        failure = (outcome.reason or "no reason given").strip()[:_MAX_FAILURE]
        template = _FOLLOW_UP_REASON[ctx.language]
        follow_up, _ = await ctx.store.follow_ups.create(
            phone=ctx.phone,
            name=name,
            due_at=ctx.now(),  # staff should call back as soon as they can
            reason=template.format(failure=failure, reason=reason)[:500],
            source=ctx.source,
            call_id=ctx.call_id,
            language=ctx.language,
        )
        follow_up_id = follow_up.id
        logger.info("follow-up {} created after a failed transfer", follow_up_id)
    return {
        "status": "transfer_failed",
        "follow_up": "created",
        "follow_up_id": follow_up_id,
        "hint": (
            "Nobody from the clinic can take the call right now. Tell the patient, in one short"
            " sentence, that a colleague will call them back as soon as possible." + then
        ),
    }
