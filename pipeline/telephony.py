"""What the telephony side (e.g. a campaign runner dialing with LiveKit SIP) offers a live call.

The call session never talks to a SIP trunk itself: whoever placed the call hands it a
:class:`Telephony`, a narrow interface that is easy to fake in tests and to implement with
LiveKit's ``TransferSIPParticipant``. File and browser calls have none.
"""

from __future__ import annotations

from typing import Protocol

from tools.call_port import TransferOutcome

# Why a transfer fails on a call that has no telephony (file and browser calls).
NO_TELEPHONY = "transfer is not available on this call"


class Telephony(Protocol):
    """Call-level actions only the telephony side can carry out."""

    async def transfer(self, *, to: str) -> TransferOutcome:
        """Transfer the callee to ``to`` (``tel:+E164`` or ``sip:...``).

        Implementations never raise for SIP failures (busy, no answer, 603, timeouts): they
        return ``TransferOutcome(ok=False, reason=...)``, because a failed transfer is an
        ordinary event the call recovers from with a callback.
        """
        ...
