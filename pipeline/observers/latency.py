"""The latency Elo's own pipeline adds to a reply: model audio received -> audio sent out.

The model's reply time is the model's; what happens after its first audio reaches this process
(decoding, the frame hops, the output transport's resampling and chunking, any audio queued
ahead of it) is Elo's. It is measured once per reply that starts from silence, not per frame:
the Gemini service stamps the pipeline-clock time a reply's first part is handled, and the
output transport's ``BotStartedSpeakingFrame`` (pushed as its first chunk is written) ends it.
The call's analytics observer, which sees that frame already, hands it over
(``CallAnalytics(pipeline_delay=...)``): no observer of its own, so nothing more per frame.
"""

from __future__ import annotations

from collections.abc import Callable

_NS_PER_S = 1_000_000_000


class PipelineDelay:
    """Reports, per reply, the seconds from its first model audio received to Elo audible.

    Args:
        received_at: The pipeline-clock time (ns) the current reply began to arrive from the
            model, or None before any (e.g. ``GeminiLive.response_received_ns``).
        on_delay: Called with each reply's delay in seconds.
    """

    def __init__(
        self,
        *,
        received_at: Callable[[], int | None],
        on_delay: Callable[[float], None],
    ) -> None:
        self._received_at = received_at
        self._on_delay = on_delay
        self._last: int | None = None

    def audible(self, ts: int) -> float | None:
        """Elo became audible (the output's ``BotStartedSpeakingFrame``) at ``ts`` (ns).

        Args:
            ts: Its pipeline-clock time.

        Returns:
            The reply's delay in seconds, or None when there is nothing to measure.
        """
        received = self._received_at()
        # Audio Elo did not get from the model (a recorded greeting), or a reply already
        # measured, has nothing to measure; nor has a stamp later than the speech (the next
        # reply arriving while this audio starts).
        if received is None or received == self._last or received > ts:
            return None
        self._last = received
        seconds = (ts - received) / _NS_PER_S
        self._on_delay(seconds)
        return seconds
