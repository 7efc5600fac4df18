"""Pipeline test rig: run a processor in a real pipecat pipeline and watch its frames.

``live_pipeline(processor)`` gives an async context manager that runs
recorder -> processor -> recorder in a PipelineWorker on a WorkerRunner, records every frame
that leaves the processor (downstream at the end, upstream at the start), and cancels the
worker on exit. Pair it with ``devtools.gemini_emulator.GeminiLiveEmulator`` and
``make_gemini_llm`` to run the real GeminiLiveLLMService offline::

    async with GeminiLiveEmulator(script) as emu, live_pipeline(make_gemini_llm(emu)) as pipe:
        await pipe.queue(LLMContextFrame(context))
        frames = await pipe.wait_for(TTSStoppedFrame)

Exit the pipeline before the emulator (as above), or the service sees the server go away
and tries to reconnect during teardown.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from loguru import logger
from pipecat.adapters.llm.schemas.function_schema import FunctionSchema
from pipecat.adapters.llm.schemas.tools_schema import ToolsSchema
from pipecat.frames.frames import Frame, StartFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.workers.runner import WorkerRunner

from devtools.gemini_emulator import GeminiLiveEmulator

DOWN = FrameDirection.DOWNSTREAM
UP = FrameDirection.UPSTREAM

GEMINI_MODEL = "models/gemini-2.5-flash-native-audio-preview-09-2025"
GEMINI_VOICE = "Puck"
GEMINI_INSTRUCTION = "You are Elo, the assistant of a dental clinic. Be brief."
FIND_SLOTS = FunctionSchema(
    name="find_free_slots",
    description="Free appointment slots on a day.",
    properties={"day": {"type": "string", "description": "ISO date"}},
    required=["day"],
)
END_CALL = FunctionSchema(name="end_call", description="Hang up.", properties={}, required=[])


class _Recorder(FrameProcessor):
    """Records the frames passing one way, and passes everything on."""

    def __init__(self, direction: FrameDirection, sink: list[Frame], changed: asyncio.Event):
        super().__init__()
        self._direction = direction
        self._sink = sink
        self._changed = changed

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if direction == self._direction and not isinstance(frame, StartFrame):
            self._sink.append(frame)
            self._changed.set()
        await self.push_frame(frame, direction)


class LivePipeline:
    """A processor running in a real pipeline, with the frames it emits recorded.

    Attributes:
        down: Frames that reached the end of the pipeline, in order (StartFrame left out).
        up: Frames that reached the start going upstream (e.g. TranscriptionFrame, ErrorFrame).
    """

    def __init__(self, processor: FrameProcessor, *, start_timeout: float = 5.0):
        self.down: list[Frame] = []
        self.up: list[Frame] = []
        self._changed = asyncio.Event()
        pipeline = Pipeline(
            [
                _Recorder(UP, self.up, self._changed),
                processor,
                _Recorder(DOWN, self.down, self._changed),
            ]
        )
        self.worker = PipelineWorker(
            pipeline,
            params=PipelineParams(),
            enable_rtvi=False,
            cancel_on_idle_timeout=False,
            idle_timeout_secs=None,
        )
        self._runner = WorkerRunner(handle_sigint=False)
        self._run_task: asyncio.Task[None] | None = None
        self._start_timeout = start_timeout

    async def __aenter__(self) -> LivePipeline:
        started = asyncio.Event()

        @self.worker.event_handler("on_pipeline_started")
        async def _on_started(worker: PipelineWorker, frame: Frame) -> None:
            started.set()

        await self._runner.add_workers(self.worker)
        self._run_task = asyncio.create_task(self._runner.run())
        # Processors drop frames queued before the StartFrame has gone through.
        await asyncio.wait_for(started.wait(), self._start_timeout)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.worker.cancel()
        if self._run_task:
            await asyncio.wait_for(self._run_task, 10)

    async def queue(self, *frames: Frame, direction: FrameDirection = DOWN) -> None:
        """Feed frames in at the start (downstream) or the end (upstream)."""
        for frame in frames:
            await self.worker.queue_frame(frame, direction)

    def frames(self, frame_type: type[Frame], direction: FrameDirection = DOWN) -> list[Any]:
        """The recorded frames of one type (subclasses included)."""
        frames = self.down if direction == DOWN else self.up
        return [f for f in frames if isinstance(f, frame_type)]

    async def wait_for(
        self,
        frame_type: type[Frame],
        *,
        direction: FrameDirection = DOWN,
        count: int = 1,
        within: float = 5.0,
    ) -> list[Any]:
        """Wait until ``count`` frames of ``frame_type`` have been recorded; return them all."""
        async with asyncio.timeout(within):
            while len(found := self.frames(frame_type, direction)) < count:
                self._changed.clear()
                await self._changed.wait()
        return found


class LogCapture:
    """Loguru messages at WARNING and above, for behaviour pipecat only logs."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def __call__(self, message: Any) -> None:
        self.messages.append(message.record["message"])

    async def wait_for(self, text: str, *, within: float = 5.0) -> str:
        """Wait for a message containing ``text``; return it."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            for message in self.messages:
                if text in message:
                    return message
            await asyncio.sleep(0.01)
        raise TimeoutError(f"no log message containing {text!r}")


@pytest.fixture
def live_pipeline() -> type[LivePipeline]:
    """Run a processor in a pipeline: ``async with live_pipeline(processor) as pipe``."""
    return LivePipeline


@pytest.fixture
def make_gemini_llm() -> Callable[..., Any]:
    """Build the real GeminiLiveLLMService pointed at an emulator, with the test settings.

    Keyword arguments override the constructor's (e.g. ``tools=None``).
    """
    from pipecat.services.google.gemini_live.llm import GeminiLiveLLMService

    def make(emu: GeminiLiveEmulator, **overrides: Any) -> GeminiLiveLLMService:
        params: dict[str, Any] = {
            "api_key": "test-key",
            "settings": GeminiLiveLLMService.Settings(
                model=GEMINI_MODEL, voice=GEMINI_VOICE, system_instruction=GEMINI_INSTRUCTION
            ),
            "tools": ToolsSchema(standard_tools=[FIND_SLOTS, END_CALL]),
            "http_options": emu.http_options(),
        }
        params.update(overrides)
        return GeminiLiveLLMService(**params)

    return make


@pytest.fixture
def log_capture() -> Iterator[LogCapture]:
    """Collect loguru warnings and errors during the test."""
    capture = LogCapture()
    sink_id = logger.add(capture, level="WARNING", format="{message}")
    yield capture
    logger.remove(sink_id)
