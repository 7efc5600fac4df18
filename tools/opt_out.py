"""opt_out: the patient asked not to be called again, so their number goes on the do-not-call list.

The number is the one the call is bound to (``ToolContext.phone``), never one the model names: a
caller must not be able to opt someone else out, or opt themselves out under another number.
"""

from __future__ import annotations

from pydantic import Field

from tools.common import ToolArgs
from tools.context import ToolContext
from tools.registry import ToolResult
from validation.text import clean_text

_MAX_REASON = 200


class OptOutArgs(ToolArgs):
    """Arguments of opt_out: only an optional reason, no phone number by design."""

    reason: str | None = Field(
        default=None,
        max_length=_MAX_REASON,
        description="Optional: the patient's reason in a few words, e.g. 'not interested'.",
    )


async def opt_out(args: OptOutArgs, ctx: ToolContext) -> ToolResult:
    """Put the call's number on the do-not-call list (idempotent) and steer the model to hang up."""
    if ctx.phone is None:
        return {
            "error": "opt_out works only in a call to a known number",
            "hint": (
                "Nothing was recorded. Tell the patient the clinic will not call again, then call"
                " end_call with reason 'opted_out' so staff see the request."
            ),
        }
    reason = None
    if args.reason:
        reason = clean_text(args.reason, field="reason", max_length=_MAX_REASON, required=False)
    await ctx.store.dnc.add(
        phone=ctx.phone, reason=reason or None, source=ctx.source, call_id=ctx.call_id
    )
    return {
        "status": "opted_out",
        "hint": (
            "The number is on the do-not-call list. Confirm in one short sentence that the clinic"
            " will not call again, apologise for the disturbance, then call end_call with reason"
            " 'opted_out'."
        ),
    }
