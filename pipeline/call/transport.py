"""What a call needs from its transport: two processors, and word of who came, left, or is ready.

Each transport kind implements :class:`CallTransport` itself, so it knows its own wiring (which
of its events, or the pipeline's start, means the line is ready, the callee is there, or the
callee left):

- :class:`pipeline.livekit_transport.LiveKitCallTransport`: a LiveKit room (phone calls);
- :class:`pipeline.webrtc_transport.BrowserCallTransport`: the local browser page;
- :class:`pipeline.file_transport.WavFileTransport`: a recorded caller.

:func:`pipeline.transports.make_transport` builds the one the settings name. A new transport
kind implements the three methods; the call session does not change.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from pipecat.pipeline.worker import PipelineWorker
    from pipecat.processors.frame_processor import FrameProcessor

Hook = Callable[[], Awaitable[None]]
"""Something the session does when the transport reports an event."""


@dataclass(frozen=True)
class CallEvents:
    """What the session wants to hear from the transport.

    Attributes:
        ready: The call can be dialled (e.g. the agent is in the room, or the pipeline started).
        joined: The callee is there: Elo greets. None when the session waits to be told the
            callee answered instead (a SIP callee joins the room while it is still ringing).
        left: The callee's side left the call.
    """

    ready: Hook
    joined: Hook | None
    left: Hook


class CallTransport(Protocol):
    """A call's transport, as the call session uses it."""

    def input(self) -> FrameProcessor:
        """The processor that brings the callee's audio in."""
        ...

    def output(self) -> FrameProcessor:
        """The processor that plays Elo's audio out."""
        ...

    def wire(self, worker: PipelineWorker, events: CallEvents) -> None:
        """Call ``events``' hooks when this transport (or ``worker``) sees them happen."""
        ...


def when_started(worker: PipelineWorker, hook: Hook) -> None:
    """Run ``hook`` once the pipeline has started (for transports with no event of their own)."""

    async def started(*_: Any) -> None:
        await hook()

    worker.event_handler("on_pipeline_started")(started)


def on_event(emitter: Any, event: str, hook: Hook) -> None:
    """Run ``hook`` on a Pipecat ``event`` of ``emitter`` (whatever arguments it comes with)."""

    async def handler(*_: Any) -> None:
        await hook()

    emitter.event_handler(event)(handler)
