"""end_call: lets the model hang up politely. Call control is reached through a narrow interface."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from pydantic import Field

from tools.common import ToolArgs
from tools.context import ToolContext
from tools.registry import ToolResult

EndReason = Literal[
    "completed", "declined", "opted_out", "wrong_person", "voicemail", "call_back_later", "other"
]


@dataclass(frozen=True)
class TransferOutcome:
    """How a transfer to staff ended: the one result type from the SIP dialer up to the tool.

    Attributes:
        ok: The callee is now connected to (or ringing at) the transfer target.
        reason: Why it failed, in a few words for staff (no personal data), when ``ok`` is False,
            e.g. ``"603 Decline"``.
    """

    ok: bool
    reason: str | None = None


class CallControl(Protocol):
    """What the voice pipeline lets tools do to the call itself."""

    @property
    def callee_name(self) -> str | None:
        """The name the call was placed for (set by whoever started it, never by the model).

        Used for records about a callee the clinic has no file on, e.g. the callback after a
        failed transfer.
        """

    async def end_call(self, *, reason: str) -> None:
        """End the call once Elo's current sentence has been spoken."""

    async def transfer(self, *, to: str) -> TransferOutcome:
        """Hand the callee over to a person at ``to`` (``tel:+E164`` or ``sip:...``).

        On success the call's outcome is "transferred" and Elo's side of the call ends; on
        failure (or on a call without telephony) nothing changes and the reason is returned.
        Never raises for a failed transfer.
        """

    async def voicemail_reached(self, *, leave_message: bool) -> None:
        """Record that an answering machine answered (outcome "voicemail").

        Args:
            leave_message: True: the call goes on so Elo can speak a message, then end_call.
                False: the call ends at once, without a goodbye.
        """


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
