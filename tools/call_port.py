"""The live call as tools see it: a narrow interface the voice pipeline implements.

Kept apart from the tool handlers (tools/call_control.py) so that the tool context can name it
without importing any tool.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


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
