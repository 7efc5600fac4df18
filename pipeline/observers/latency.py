"""The latency Elo's own pipeline adds to a reply: model audio received -> audio sent out.

The model's reply time is the model's; what happens after its first audio reaches this process
(decoding, the frame hops, the output transport's resampling and chunking, any audio queued
ahead of it) is Elo's. It is measured once per reply that starts from silence, not per frame:
the Gemini service stamps the pipeline-clock time a reply's first part is handled, and the
output transport's ``BotStartedSpeakingFrame`` (pushed as its first chunk is written) ends it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from pipecat.frames.frames import BotStartedSpeakingFrame, Frame

from pipeline.observers.base import FrameObserver, Route

_NS_PER_S = 1_000_000_000


class PipelineDelay(FrameObserver):
    """Reports, per reply, the seconds from its first model audio received to Elo audible.

    Args:
        received_at: The pipeline-clock time (ns) the current reply began to arrive from the
            model, or None before any (e.g. ``GeminiLive.response_received_ns``).
        on_delay: Called with each reply's delay in seconds.
        **kwargs: Passed to ``BaseObserver``.
    """

    def __init__(
        self,
        *,
        received_at: Callable[[], int | None],
        on_delay: Callable[[float], None],
        **kwargs: object,
    ) -> None:
        super().__init__(**kwargs)
        self._received_at = received_at
        self._on_delay = on_delay
        self._last: int | None = None
        self.delays: list[float] = []

    def routes(self) -> Mapping[type[Frame], Route]:
        """Only the output transport's start of speech."""
        return {BotStartedSpeakingFrame: self._audible}

    def _audible(self, _: Frame, ts: int) -> None:
        received = self._received_at()
        # Audio Elo did not get from the model (a recorded greeting), or a reply already
        # measured, has nothing to measure; nor has a stamp later than the speech (the next
        # reply arriving while this audio starts).
        if received is None or received == self._last or received > ts:
            return
        self._last = received
        seconds = (ts - received) / _NS_PER_S
        self.delays.append(seconds)
        self._on_delay(seconds)
