"""CPU cost of the per-call observers (transcript, analytics, first-audio watch) per audio frame.

A real PipelineWorker on a WorkerRunner runs ``source -> passthrough``. The source pushes N
20 ms ``InputAudioRawFrame``s plus a call's worth of other traffic (patient transcripts
upstream, Elo's turns as TTS audio between started/stopped frames, tool calls), yielding to the
event loop after every frame as a live transport does, then ends the worker. The same run is
timed with ``time.process_time()`` (all threads and tasks of the process, observer tasks
included) without observers, with three that do nothing (Pipecat's plumbing alone) and with
the call's observers, alternating, and the medians are compared.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    EndTaskFrame,
    Frame,
    FunctionCallInProgressFrame,
    FunctionCallResultFrame,
    InputAudioRawFrame,
    StartFrame,
    TranscriptionFrame,
    TTSAudioRawFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
    TTSTextFrame,
)
from pipecat.observers.base_observer import BaseObserver, FramePushed
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.workers.runner import WorkerRunner

from pipeline.observers import CallAnalytics, TranscriptLogger
from pipeline.observers.watchdogs import (
    BotQuietWatch,
    FirstAudioWatch,
    LongGreetingWatch,
    ToolResultWatch,
    TurnAfterToolWatch,
)
from tools.catalog import default_registry
from tools.registry import CallEnding

DOWN = FrameDirection.DOWNSTREAM
UP = FrameDirection.UPSTREAM
IN_RATE = 16_000
OUT_RATE = 24_000
IN_FRAME = b"\x00\x01" * (IN_RATE // 50)  # 20 ms of 16 kHz PCM16
OUT_CHUNK = b"\x00\x01" * (OUT_RATE // 25)  # 40 ms of 24 kHz PCM16, Gemini's chunk size
# One conversational cycle every 5 s of caller audio (250 frames): the patient speaks (a
# transcript at the end), Elo answers for 2 s (50 chunks of 40 ms with 5 text pieces), and
# every other cycle Elo calls a tool.
CYCLE_FRAMES = 250
ELO_CHUNKS = 50


@dataclass
class Traffic:
    """What one run pushed."""

    audio_in: int = 0
    other: int = 0


class _Source(FrameProcessor):
    """Pushes the synthetic call once started, then asks the worker to end."""

    def __init__(self, frames: int, traffic: Traffic) -> None:
        super().__init__()
        self._frames = frames
        self._traffic = traffic

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        await self.push_frame(frame, direction)
        if isinstance(frame, StartFrame):
            self.create_task(self._feed(), name="bench_source")

    async def _send(self, frame: Frame, direction: FrameDirection = DOWN) -> None:
        await self.push_frame(frame, direction)
        if isinstance(frame, InputAudioRawFrame):
            self._traffic.audio_in += 1
        else:
            self._traffic.other += 1
        # A live transport hands each frame over from its own task: let the pipeline run.
        await asyncio.sleep(0)

    async def _feed(self) -> None:
        for i in range(self._frames):
            await self._send(InputAudioRawFrame(IN_FRAME, IN_RATE, 1))
            if i % CYCLE_FRAMES == CYCLE_FRAMES - 1:
                await self._cycle(i // CYCLE_FRAMES)
        await self.push_frame(EndTaskFrame(), UP)

    async def _cycle(self, n: int) -> None:
        await self._send(TranscriptionFrame("Po, dua nje termin.", "bench", "t"), UP)
        if n % 2:
            call = FunctionCallInProgressFrame(
                function_name="check_available_slots",
                tool_call_id=f"c{n}",
                arguments={"date": "2026-12-02"},
            )
            await self._send(call)
            result = FunctionCallResultFrame(
                function_name="check_available_slots",
                tool_call_id=f"c{n}",
                arguments={"date": "2026-12-02"},
                result={"status": "ok", "slots": ["09:00", "09:30"]},
            )
            await self._send(result)
        await self._send(BotStartedSpeakingFrame())
        await self._send(TTSStartedFrame())
        for k in range(ELO_CHUNKS):
            await self._send(TTSAudioRawFrame(OUT_CHUNK, OUT_RATE, 1))
            if k % 10 == 0:
                await self._send(TTSTextFrame("Kemi termin te lire. ", text_type="word"))
        await self._send(TTSStoppedFrame())
        await self._send(BotStoppedSpeakingFrame())


class _Passthrough(FrameProcessor):
    """Stands in for the LLM and the output transport: passes everything on."""

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        await self.push_frame(frame, direction)


async def _save(_entries: list[dict[str, Any]]) -> None:
    """The transcript's save callback; the store is not under test here."""


def separate_observers() -> list[Any]:
    """The call's seven observers (as ``pipeline/call/session.py`` builds them), each on its own."""
    greeting = LongGreetingWatch(6.0, lambda _seconds: None)
    greeting.arm()
    tools = default_registry()
    return [
        TranscriptLogger(on_update=_save),
        CallAnalytics(),
        FirstAudioWatch(),
        TurnAfterToolWatch(tools.ending(CallEnding.END)),
        ToolResultWatch(tools.ending(CallEnding.TRANSFER), tools.ending(CallEnding.VOICEMAIL)),
        BotQuietWatch(),
        greeting,
    ]


def call_observers() -> list[Any]:
    """The observers as a call attaches them (``pipeline/call/session.py``): one group of seven."""
    from pipeline.observers.group import ObserverGroup

    return [ObserverGroup(*separate_observers())]


class _EmptyObserver(BaseObserver):
    """Told of each frame once, as ours are, and does nothing: Pipecat's plumbing alone."""

    def __init__(self) -> None:
        super().__init__(observe_every_push=False)

    async def on_push_frame(self, data: FramePushed) -> None:
        """Ignore the frame."""


# The arms: no observers, three that do nothing, the call's three apart, and grouped as calls run.
ARMS: dict[str, Callable[[], list[Any]]] = {
    "none": list,
    "empty": lambda: [_EmptyObserver() for _ in separate_observers()],
    "separate": separate_observers,
    "call": call_observers,
}


async def one_run(frames: int, arm: str) -> tuple[float, Traffic]:
    """CPU seconds of one whole worker run (start to end), and what it pushed."""
    traffic = Traffic()
    worker = PipelineWorker(
        Pipeline([_Source(frames, traffic), _Passthrough()]),
        # As the call session builds it, apart from the observers under test.
        params=PipelineParams(enable_metrics=True, enable_usage_metrics=True),
        observers=ARMS[arm](),
        idle_timeout_secs=None,
    )
    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)
    start = time.process_time()
    await runner.run()
    return time.process_time() - start, traffic


@dataclass
class ObserverResult:
    """CPU seconds of every run, per arm."""

    frames: int
    rounds: int
    other_frames: int
    runs: dict[str, list[float]]

    def median(self, arm: str) -> float:
        return statistics.median(self.runs[arm])

    def us_per_frame(self, arm: str = "call") -> float:
        """Extra CPU per 20 ms input frame over no observers (other traffic's share included)."""
        return (self.median(arm) - self.median("none")) / self.frames * 1e6

    @property
    def ratio(self) -> float:
        return self.median("call") / self.median("none")

    @property
    def paired_us_per_frame(self) -> float:
        """Median over the rounds of each round's own difference (less drift-sensitive)."""
        diffs = [w - wo for w, wo in zip(self.runs["call"], self.runs["none"], strict=True)]
        return statistics.median(diffs) / self.frames * 1e6


async def measure(frames: int = 20_000, rounds: int = 5) -> ObserverResult:
    """Alternate the arms round by round (after one warm-up of each)."""
    for arm in ARMS:
        await one_run(2_000, arm)
    runs: dict[str, list[float]] = {arm: [] for arm in ARMS}
    other = 0
    arms = list(ARMS)
    for i in range(rounds):
        # Rotate the order every round so a slow drift of the machine hits every arm.
        for arm in arms[i % len(arms) :] + arms[: i % len(arms)]:
            cpu, traffic = await one_run(frames, arm)
            runs[arm].append(cpu)
            other = traffic.other
    return ObserverResult(frames, rounds, other, runs)
