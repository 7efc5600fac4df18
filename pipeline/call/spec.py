"""What a call session is built from: the application's parts, the call itself, its timeouts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from pipeline.call.transport import CallTransport
from pipeline.metadata import CallMetadata
from pipeline.observers.base import FrameObserver
from pipeline.telephony import Telephony


@dataclass(frozen=True)
class CallTimeouts:
    """How long a call waits for things that may never happen, in seconds.

    Attributes:
        first_audio: For Elo's first audio after the greeting starts; silence by then means
            the model never answered and the call fails. None:
            ``ELO_PIPELINE__FIRST_AUDIO_TIMEOUT_SECS``.
        goodbye: For Elo's goodbye turn after end_call, before the call ends anyway (the model
            may have said goodbye before calling it).
        transfer_quiet: For Elo's current sentence to finish playing before a transfer moves
            the line anyway.
        transfer: For a transfer, before it counts as failed (below the tool's own 60 s limit,
            so the callback is still arranged).
    """

    first_audio: float | None = None
    goodbye: float = 10.0
    transfer_quiet: float = 5.0
    transfer: float = 45.0


@dataclass(frozen=True)
class CallSpec:
    """One call: who is called and why, over which line, and how it starts.

    Attributes:
        metadata: Who is called and why.
        transport: The call's transport (see :func:`pipeline.transports.make_transport`).
        wait_for_answer: Greet only when told the callee answered
            (:meth:`pipeline.call.session.CallSession.callee_answered`), not when the callee
            joins the room or the pipeline starts (a SIP callee joins while ringing). The
            silence timeout also waits for the answer.
        telephony: Transfers for phone calls; None (file and browser calls) means
            transfer_to_human falls back to a callback.
        timeouts: The call's timeouts.
        observers: More observers of the call's frames, next to the session's own (e.g. the
            smoke test's probe, see :mod:`devtools.smoke`).
        direction: Whether Elo placed the call or the patient called in (metrics label it).
    """

    metadata: CallMetadata
    transport: CallTransport
    wait_for_answer: bool = False
    telephony: Telephony | None = None
    timeouts: CallTimeouts = field(default_factory=CallTimeouts)
    observers: Sequence[FrameObserver] = ()
    direction: Literal["outbound", "inbound"] = "outbound"
