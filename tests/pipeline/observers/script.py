"""Frame makers and a feeder for scripting what an observer sees."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from pipecat.frames.frames import (
    Frame,
    FunctionCallInProgressFrame,
    FunctionCallResultFrame,
    TranscriptionFrame,
    TTSAudioRawFrame,
    TTSTextFrame,
)
from pipecat.processors.frame_processor import FrameDirection
from pipecat.utils.text.base_text_aggregator import TextType

from pipeline.observers.base import FrameObserver

DOWN = FrameDirection.DOWNSTREAM
UP = FrameDirection.UPSTREAM


def feed(observer: FrameObserver, *steps: tuple[int, Frame] | tuple[int, Frame, FrameDirection]):
    """Show ``observer`` frames as if pushed at the given pipeline times (milliseconds)."""
    for step in steps:
        at_ms, frame = step[0], step[1]
        direction = step[2] if len(step) > 2 else DOWN
        observer.observe(frame, direction, at_ms * 1_000_000)


def both_ways(at_ms: int, make: Callable[[], Frame]) -> list[tuple[int, Frame, FrameDirection]]:
    """A broadcast: Pipecat pushes one copy each way."""
    return [(at_ms, make(), DOWN), (at_ms, make(), UP)]


def audio() -> TTSAudioRawFrame:
    return TTSAudioRawFrame(audio=b"\x00\x00" * 480, sample_rate=24000, num_channels=1)


def elo_says(text: str) -> TTSTextFrame:
    """Elo's words as Gemini Live's output transcription pushes them (spaces included)."""
    frame = TTSTextFrame(text, text_type=TextType.SENTENCE)
    frame.includes_inter_frame_spaces = True
    return frame


def patient_says(text: str) -> TranscriptionFrame:
    return TranscriptionFrame(text=text, user_id="", timestamp="")


def tool_call(name: str, call_id: str, arguments: dict[str, Any]) -> FunctionCallInProgressFrame:
    return FunctionCallInProgressFrame(
        function_name=name, tool_call_id=call_id, arguments=arguments
    )


def tool_result(
    name: str, call_id: str, arguments: dict[str, Any], result: Any
) -> FunctionCallResultFrame:
    return FunctionCallResultFrame(
        function_name=name, tool_call_id=call_id, arguments=arguments, result=result
    )


async def eventually(condition: Callable[[], bool], *, within: float = 5.0) -> None:
    """Let background tasks run until ``condition`` holds (fails after ``within`` seconds)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {within} s")
        await asyncio.sleep(0.001)
