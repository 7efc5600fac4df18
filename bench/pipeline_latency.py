"""Latency the pipeline adds to Elo's audio, and how many calls one process carries.

Each call runs the real GeminiLiveLLMService against the local Gemini Live emulator
(``devtools/gemini_emulator.py``, TLS websocket on 127.0.0.1) in a real PipelineWorker:
``caller audio (20 ms frames at real-time pace) -> GeminiLiveLLMService -> output stamp``, with
the call's observers attached. The emulator plays scripted model turns; a ``Send`` step
subclass notes ``perf_counter()`` just before the first audio chunk of each turn goes on the
socket, and the output processor notes when the turn's first ``TTSAudioRawFrame`` reaches the end
of the pipeline. The difference covers websocket + TLS, google-genai's receive loop, the
service's parsing and frame push, the hop to the output, and event-loop waits behind everything
else the process does (caller audio going up, the emulator itself, other calls).
"""

from __future__ import annotations

import asyncio
import resource
import time
from dataclasses import dataclass, field
from typing import Any

from pipecat.frames.frames import (
    Frame,
    InputAudioRawFrame,
    LLMContextFrame,
    StartFrame,
    TTSAudioRawFrame,
    TTSStartedFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.services.google.gemini_live.llm import GeminiLiveLLMService
from pipecat.workers.runner import WorkerRunner

from bench.emulator_host import EmulatorHost
from bench.pipeline_observers import IN_FRAME, IN_RATE, call_observers

MODEL = "models/gemini-2.5-flash-native-audio-preview-09-2025"


class _CallerAudio(FrameProcessor):
    """Feeds 20 ms of silence every 20 ms, on an absolute schedule, like a live line."""

    def __init__(self) -> None:
        super().__init__()
        self._feeder: asyncio.Task[None] | None = None

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        await self.push_frame(frame, direction)
        if isinstance(frame, StartFrame):
            self._feeder = self.create_task(self._feed(), name="bench_caller_audio")

    async def cleanup(self) -> None:
        """Stop the feed with the pipeline."""
        if self._feeder is not None:
            await self.cancel_task(self._feeder)
        await super().cleanup()

    async def _feed(self) -> None:
        next_at = time.perf_counter()
        while True:
            await self.push_frame(InputAudioRawFrame(IN_FRAME, IN_RATE, 1))
            next_at += 0.02
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))


class _OutputStamp(FrameProcessor):
    """Notes when the first audio of each Elo turn reaches the end of the pipeline."""

    def __init__(self, turns: int) -> None:
        super().__init__()
        self.stamps: list[float] = []
        self.done = asyncio.Event()
        self._turns = turns
        self._armed = False

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, TTSStartedFrame):
            self._armed = True
        elif isinstance(frame, TTSAudioRawFrame) and self._armed:
            self.stamps.append(time.perf_counter())
            self._armed = False
            if len(self.stamps) >= self._turns:
                self.done.set()
        await self.push_frame(frame, direction)


@dataclass
class _Phase:
    """The measured window: from all calls ready to all turns heard, CPU and memory included."""

    calls: int
    ready: asyncio.Barrier
    finished: int = 0
    cpu0: float = 0.0
    wall0: float = 0.0
    cpu_s: float = 0.0
    wall_s: float = 0.0
    rss_end_mb: float = 0.0
    all_done: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> None:
        if await self.ready.wait() == 0:
            self.cpu0, self.wall0 = time.process_time(), time.perf_counter()

    def done(self) -> None:
        self.finished += 1
        if self.finished == self.calls:
            self.cpu_s = time.process_time() - self.cpu0
            self.wall_s = time.perf_counter() - self.wall0
            self.rss_end_mb = _rss_mb()
            self.all_done.set()


async def _one_call(i: int, host: EmulatorHost, turns: int, phase: _Phase) -> list[float]:
    """Run call ``i`` until its last turn is heard; the output stamp of each turn."""
    llm = GeminiLiveLLMService(
        api_key="bench-key",
        settings=GeminiLiveLLMService.Settings(model=MODEL, voice="Puck"),
        http_options=host.http_options(i),
    )
    out = _OutputStamp(turns)
    worker = PipelineWorker(
        Pipeline([_CallerAudio(), llm, out]),
        params=PipelineParams(enable_metrics=True, enable_usage_metrics=True),
        observers=call_observers(),
        idle_timeout_secs=None,
    )
    started = asyncio.Event()

    @worker.event_handler("on_pipeline_started")
    async def _started(*_: Any) -> None:
        started.set()

    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)
    run = asyncio.create_task(runner.run())
    try:
        await asyncio.wait_for(started.wait(), 30)
        # All calls start their scripts together, so the load is the full load throughout.
        await phase.start()
        context = LLMContext([{"role": "user", "content": "Pershendetje."}])
        await worker.queue_frame(LLMContextFrame(context))
        await asyncio.wait_for(out.done.wait(), turns * 3 + 30)
        phase.done()
        await phase.all_done.wait()
    finally:
        # Stop the pipeline before the emulator, or the service tries to reconnect.
        await worker.cancel()
        await asyncio.wait_for(run, 15)
    return out.stamps


def _rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20


@dataclass
class LoadResult:
    """One run of ``calls`` concurrent calls (first turn of each call left out as warm-up)."""

    calls: int
    latencies_ms: list[float]
    wall_s: float
    cpu_s: float
    rss_before_mb: float
    rss_end_mb: float
    errors: list[str]

    @property
    def cpu_per_call(self) -> float:
        """Share of one core each call used (process CPU over wall time, per call)."""
        return self.cpu_s / self.wall_s / self.calls if self.wall_s else float("nan")

    @property
    def mb_per_call(self) -> float:
        return (self.rss_end_mb - self.rss_before_mb) / self.calls


async def run_calls(calls: int, *, turns: int, gap_s: float) -> LoadResult:
    """Run ``calls`` calls at once in this process; the added latency of every turn."""
    phase = _Phase(calls, asyncio.Barrier(calls))
    rss_before = _rss_mb()
    with EmulatorHost(calls, turns=turns, gap_s=gap_s) as host:
        heard = await asyncio.gather(
            *(_one_call(i, host, turns, phase) for i in range(calls)), return_exceptions=True
        )
        sent, errors = await host.results()
    latencies: list[float] = []
    for s, h in zip(sent, heard, strict=True):
        if isinstance(h, BaseException):
            errors.append(f"{type(h).__name__}: {h}")
            continue
        latencies += [(o - i) * 1000 for i, o in list(zip(s, h, strict=False))[1:]]
    return LoadResult(
        calls, latencies, phase.wall_s, phase.cpu_s, rss_before, phase.rss_end_mb, errors
    )
