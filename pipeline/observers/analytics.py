"""Per-call analytics: turns, interruptions, tool calls, bookings, revenue, duration, latency.

Times come from the frames' push timestamps on the pipeline clock, not from when the observer
gets to them, so the numbers are exact however far the observer's queue lags.

Definitions:

- A patient turn starts with ``UserStartedSpeakingFrame`` (local VAD and turn strategy). Without
  turn frames (VAD off), a transcript after Elo spoke, or first in the call, starts one.
- An Elo turn is one spoken response: ``TTSStartedFrame`` (or its first audio) to
  ``TTSStoppedFrame``. ``turns`` counts both sides.
- An interruption is an ``InterruptionFrame`` while Elo is speaking, at most one per Elo turn
  (Pipecat also sends one at every patient turn start, even when Elo is silent).
- Response latency runs from the patient's end of speech to Elo's first audio after it
  (``TTSAudioRawFrame`` or ``BotStartedSpeakingFrame``). The end of speech is the VAD stop minus
  the silence VAD waited for (``stop_secs``), or ``UserStoppedSpeakingFrame`` without VAD frames.
  If Elo already started answering before the turn was declared over, the time from the end of
  speech to that start counts (zero if Elo started first). p50 and p95 use the nearest-rank
  method over the call's samples.
- Bookings are counted once, by the call's limiter (``pipeline.limits.CallLimiter.bookings``),
  which sees every booking tool's result at the tool gate, also one the model no longer waits
  for; a call observed without a limiter has none. A booking's revenue is its result's
  ``service.price_lek`` when that is a whole number of lek.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    CancelFrame,
    EndFrame,
    Frame,
    FunctionCallInProgressFrame,
    InterruptionFrame,
    TranscriptionFrame,
    TTSAudioRawFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.processors.frame_processor import FrameDirection

from pipeline.limits import CallLimiter
from pipeline.observers.base import FrameObserver, Route
from pipeline.observers.latency import PipelineDelay

_NS_PER_MS = 1_000_000
_NS_PER_S = 1_000_000_000


class CallAnalytics(FrameObserver):
    """Counts one call's analytics from the frames it observes.

    Pass it in ``PipelineWorker(observers=[...])``. Read the numbers at any time: :meth:`summary`
    for the ``calls.counters`` column, and :attr:`turns`, :attr:`tool_calls`, :attr:`bookings`
    and :attr:`revenue_lek` for the store's columns.

    Args:
        limiter: The call's limiter: its bookings and refusal counts are the call's.
        on_latency: Told each response latency as it is measured, in seconds (the metrics'
            histogram); once per reply, never per frame.
        pipeline_delay: Told when Elo becomes audible, to measure the pipeline-added latency
            (:mod:`pipeline.observers.latency`), or None.
        **kwargs: Passed to Pipecat's ``BaseObserver``.
    """

    def __init__(
        self,
        *,
        limiter: CallLimiter | None = None,
        on_latency: Callable[[float], None] | None = None,
        pipeline_delay: PipelineDelay | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._limiter = limiter
        self._on_latency = on_latency
        self._pipeline_delay = pipeline_delay
        self._first_ns: int | None = None
        self._last_ns: int | None = None
        self._end_ns: int | None = None
        self._patient_turns = 0
        self._elo_turns = 0
        self._interruptions = 0
        self._tools: Counter[str] = Counter()
        self._latencies_ms: list[float] = []
        self._pipeline_ms: list[float] = []
        # Patient side.
        self._turn_frames_seen = False
        self._patient_speaking = False
        self._patient_turn_start_ns: int | None = None
        self._vad_end_ns: int | None = None
        self._awaiting_reply_since: int | None = None
        self._last_speaker: str | None = None
        # Elo side.
        self._elo_turn = False
        self._elo_turn_start_ns: int | None = None
        self._elo_audible = False
        self._interruption_counted = False

    def routes(self) -> Mapping[type[Frame], Route]:
        """Frames that move a counter or a timer."""
        return {
            UserStartedSpeakingFrame: self._patient_started,
            UserStoppedSpeakingFrame: self._patient_stopped,
            VADUserStoppedSpeakingFrame: self._vad_stopped,
            TranscriptionFrame: self._transcription,
            TTSStartedFrame: self._elo_started,
            TTSAudioRawFrame: self._elo_audio,
            BotStartedSpeakingFrame: self._elo_audible_started,
            TTSStoppedFrame: self._elo_stopped,
            BotStoppedSpeakingFrame: self._elo_audible_stopped,
            InterruptionFrame: self._interruption,
            FunctionCallInProgressFrame: self._tool_called,
            EndFrame: self._ended,
            CancelFrame: self._ended,
        }

    def observe(self, frame: Frame, direction: FrameDirection, timestamp_ns: int) -> None:
        """Track the call's time span, then route the frame (see ``FrameObserver.observe``)."""
        if self._first_ns is None:
            self._first_ns = timestamp_ns
        self._last_ns = timestamp_ns
        super().observe(frame, direction, timestamp_ns)

    # --- results --------------------------------------------------------------------------

    @property
    def turns(self) -> int:
        """Patient turns plus Elo turns."""
        return self._patient_turns + self._elo_turns

    @property
    def tool_calls(self) -> int:
        """Tool calls made (refused ones included)."""
        return sum(self._tools.values())

    @property
    def bookings(self) -> int:
        """Appointments booked (counted by the limiter)."""
        return self._limiter.bookings if self._limiter is not None else 0

    @property
    def revenue_lek(self) -> int:
        """Price of the appointments booked, in whole lek."""
        if self._limiter is None:
            return 0
        return sum(_price_lek(result) for result in self._limiter.booked)

    @property
    def duration_s(self) -> float:
        """From the call's first frame to its end (or to the latest frame while it runs)."""
        if self._first_ns is None:
            return 0.0
        end = self._end_ns if self._end_ns is not None else self._last_ns
        return (end - self._first_ns) / _NS_PER_S

    def latency_ms(self, percentile: float) -> int | None:
        """A response-latency percentile (nearest rank) in milliseconds, None without samples.

        Args:
            percentile: Between 0 (exclusive) and 100.
        """
        return _nearest_rank(self._latencies_ms, percentile)

    def add_pipeline_delay(self, seconds: float) -> None:
        """Keep one reply's pipeline-added delay (see :mod:`pipeline.observers.latency`).

        Args:
            seconds: Model audio received to Elo audible.
        """
        self._pipeline_ms.append(seconds * 1000)

    def summary(self) -> dict[str, Any]:
        """Everything counted, JSON-ready for the ``calls.counters`` column."""
        data: dict[str, Any] = {
            "duration_s": round(self.duration_s, 3),
            "turns": self.turns,
            "patient_turns": self._patient_turns,
            "elo_turns": self._elo_turns,
            "interruptions": self._interruptions,
            "tool_calls": self.tool_calls,
            "tool_calls_by_name": dict(sorted(self._tools.items())),
            "bookings": self.bookings,
            "revenue_booked_lek": self.revenue_lek,
            "latency_ms": {
                "samples": len(self._latencies_ms),
                "p50": self.latency_ms(50),
                "p95": self.latency_ms(95),
            },
            "pipeline_ms": {
                "samples": len(self._pipeline_ms),
                "p50": _nearest_rank(self._pipeline_ms, 50),
                "p95": _nearest_rank(self._pipeline_ms, 95),
            },
        }
        if self._limiter is not None:
            data["refusals"] = self._limiter.refusals
        return data

    # --- routes ---------------------------------------------------------------------------

    def _patient_started(self, _: Frame, ts: int) -> None:
        self._turn_frames_seen = True
        if not self._patient_speaking:
            self._patient_speaking = True
            self._patient_turns += 1
            self._patient_turn_start_ns = ts
        self._last_speaker = "patient"
        self._awaiting_reply_since = None

    def _patient_stopped(self, _: Frame, ts: int) -> None:
        self._turn_frames_seen = True
        if not self._patient_speaking:
            return
        self._patient_speaking = False
        end = self._vad_end_ns if self._vad_end_ns is not None else ts
        self._vad_end_ns = None
        elo_start, started = self._elo_turn_start_ns, self._patient_turn_start_ns
        if elo_start is not None and started is not None and elo_start >= started:
            # Elo started answering before the turn was declared over (e.g. the model's own
            # turn detection beat local VAD): that answer is the reply.
            self._latency(max(0, elo_start - end))
            return
        self._awaiting_reply_since = end

    def _vad_stopped(self, frame: Frame, ts: int) -> None:
        # The last stop before the turn ends wins: a pause the patient spoke on after is
        # overwritten by the next stop.
        assert isinstance(frame, VADUserStoppedSpeakingFrame)
        self._vad_end_ns = ts - round(frame.stop_secs * _NS_PER_S)

    def _transcription(self, frame: Frame, _: int) -> None:
        assert isinstance(frame, TranscriptionFrame)
        if self._turn_frames_seen or not frame.text.strip():
            return
        if self._last_speaker != "patient":
            self._patient_turns += 1
            self._last_speaker = "patient"

    def _elo_started(self, _: Frame, ts: int) -> None:
        if self._elo_turn:
            return
        self._elo_turn = True
        self._elo_turns += 1
        self._elo_turn_start_ns = ts
        self._interruption_counted = False
        self._last_speaker = "elo"

    def _elo_audio(self, frame: Frame, ts: int) -> None:
        self._elo_started(frame, ts)
        self._first_audio(ts)

    def _elo_audible_started(self, _: Frame, ts: int) -> None:
        self._elo_audible = True
        self._first_audio(ts)
        if self._pipeline_delay is not None:
            seconds = self._pipeline_delay.audible(ts)
            if seconds is not None:
                self.add_pipeline_delay(seconds)

    def _first_audio(self, ts: int) -> None:
        if self._awaiting_reply_since is not None:
            self._latency(max(0, ts - self._awaiting_reply_since))
            self._awaiting_reply_since = None

    def _latency(self, ns: int) -> None:
        self._latencies_ms.append(ns / _NS_PER_MS)
        if self._on_latency is not None:
            self._on_latency(ns / _NS_PER_S)

    def _elo_stopped(self, _: Frame, __: int) -> None:
        self._elo_turn = False

    def _elo_audible_stopped(self, _: Frame, __: int) -> None:
        self._elo_audible = False

    def _interruption(self, _: Frame, __: int) -> None:
        if (self._elo_turn or self._elo_audible) and not self._interruption_counted:
            self._interruption_counted = True
            self._interruptions += 1

    def _tool_called(self, frame: Frame, _: int) -> None:
        assert isinstance(frame, FunctionCallInProgressFrame)
        self._tools[frame.function_name] += 1

    def _ended(self, _: Frame, ts: int) -> None:
        if self._end_ns is None:
            self._end_ns = ts


def _price_lek(booking: Mapping[str, Any]) -> int:
    """A booking result's price in whole lek; 0 when it has no usable price."""
    service = booking.get("service")
    price = service.get("price_lek") if isinstance(service, Mapping) else None
    if isinstance(price, int) and not isinstance(price, bool) and price >= 0:
        return price
    return 0


def _nearest_rank(samples: list[float], percentile: float) -> int | None:
    """A percentile (nearest rank), rounded, of ``samples``; None without samples."""
    if not samples:
        return None
    ordered = sorted(samples)
    rank = max(1, math.ceil(percentile / 100 * len(ordered)))
    return round(ordered[rank - 1])
