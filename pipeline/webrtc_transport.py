"""The local browser page's WebRTC transport, wired for a call session."""

from __future__ import annotations

from pipecat.pipeline.worker import PipelineWorker
from pipecat.transports.smallwebrtc.transport import SmallWebRTCTransport

from pipeline.call.transport import CallEvents, on_event, when_started


class BrowserCallTransport(SmallWebRTCTransport):
    """Pipecat's small WebRTC transport as a :class:`~pipeline.call.transport.CallTransport`.

    Built by :func:`pipeline.transports.make_transport`; takes SmallWebRTCTransport's arguments.
    """

    def wire(self, worker: PipelineWorker, events: CallEvents) -> None:
        """Ready once the pipeline starts; the browser connecting is the callee, leaving too."""
        when_started(worker, events.ready)
        if events.joined is not None:
            on_event(self, "on_client_connected", events.joined)
        on_event(self, "on_client_disconnected", events.left)
