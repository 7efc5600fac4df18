"""end_call: lets the model hang up politely. Call control is reached through a narrow interface."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from tools.common import ToolArgs
from tools.context import ToolContext
from tools.registry import ToolResult

EndReason = Literal[
    "completed", "declined", "opted_out", "wrong_person", "voicemail", "call_back_later", "other"
]


class EndCallArgs(ToolArgs):
    """Arguments of end_call."""

    reason: EndReason = Field(
        description=(
            "Why the call ends: completed (done), declined (patient not interested), opted_out"
            " (asked not to be called again), wrong_person, voicemail, call_back_later, other."
        )
    )


async def end_call(args: EndCallArgs, ctx: ToolContext) -> ToolResult:
    """Hang up after the goodbye; only meaningful inside a live call."""
    if ctx.call_control is None:
        return {
            "error": "end_call works only during a live call",
            "hint": "There is no call to end here.",
        }
    await ctx.call_control.end_call(reason=args.reason)
    return {"status": "ending", "hint": "Say one short goodbye sentence; the call then ends."}
