"""The LiveKit room transport of phone calls, wired for a call session."""

from __future__ import annotations

from pipecat.pipeline.worker import PipelineWorker
from pipecat.transports.livekit.transport import LiveKitTransport

from pipeline.call.transport import CallEvents, on_event


class LiveKitCallTransport(LiveKitTransport):
    """Pipecat's LiveKit transport as a :class:`~pipeline.call.transport.CallTransport`.

    Built by :func:`pipeline.transports.make_transport`; takes LiveKitTransport's arguments.
    """

    def wire(self, worker: PipelineWorker, events: CallEvents) -> None:
        """Ready once in the room; the callee is the first participant, and leaves as one.

        Participants already in the room when the agent joins also count as joining (the SIP
        callee may be there first).
        """
        on_event(self, "on_connected", events.ready)
        if events.joined is not None:
            on_event(self, "on_first_participant_joined", events.joined)
        on_event(self, "on_participant_left", events.left)
