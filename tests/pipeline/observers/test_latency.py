"""The pipeline-added latency, measured by the call's analytics observer: once per reply, from its
arrival to Elo audible."""

from __future__ import annotations

from pipecat.frames.frames import BotStartedSpeakingFrame, TTSAudioRawFrame
from pipecat.processors.frame_processor import FrameDirection

from pipeline.observers.analytics import CallAnalytics
from pipeline.observers.latency import PipelineDelay

DOWN, UP = FrameDirection.DOWNSTREAM, FrameDirection.UPSTREAM
MS = 1_000_000


class Replies:
    """The model's side: when the current reply began to arrive (None before any)."""

    def __init__(self) -> None:
        self.received_ns: int | None = None


def observer(replies: Replies) -> tuple[CallAnalytics, list[float]]:
    told: list[float] = []
    delay = PipelineDelay(received_at=lambda: replies.received_ns, on_delay=told.append)
    return CallAnalytics(pipeline_delay=delay), told


def test_each_reply_is_measured_once_from_its_arrival_to_the_start_of_speech() -> None:
    replies = Replies()
    delay, told = observer(replies)
    replies.received_ns = 1_000 * MS
    delay.observe(TTSAudioRawFrame(b"\0\0", 24_000, 1), DOWN, 1_001 * MS)  # audio: not a route
    delay.observe(BotStartedSpeakingFrame(), DOWN, 1_045 * MS)
    delay.observe(BotStartedSpeakingFrame(), UP, 1_045 * MS)  # the broadcast's other copy
    assert told == [0.045]
    # Elo speaks again without a new reply (its recorded audio): nothing to measure.
    delay.observe(BotStartedSpeakingFrame(), DOWN, 2_000 * MS)
    assert told == [0.045]
    replies.received_ns = 3_000 * MS
    delay.observe(BotStartedSpeakingFrame(), DOWN, 3_120 * MS)
    assert told == [0.045, 0.12]
    assert delay.summary()["pipeline_ms"] == {"samples": 2, "p50": 45, "p95": 120}


def test_speech_before_any_reply_or_before_the_current_one_arrived_is_not_measured() -> None:
    replies = Replies()
    delay, told = observer(replies)
    delay.observe(BotStartedSpeakingFrame(), DOWN, 500 * MS)  # a recorded greeting
    replies.received_ns = 900 * MS  # a reply arriving while earlier audio starts
    delay.observe(BotStartedSpeakingFrame(), DOWN, 800 * MS)
    assert told == []
