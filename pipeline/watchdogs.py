"""Small observers the call session uses to notice what did not happen."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    Frame,
    FunctionCallResultFrame,
    LLMFullResponseEndFrame,
    TTSAudioRawFrame,
)

from pipeline.processors.base import FrameObserver, Route


class FirstAudioWatch(FrameObserver):
    """Sets :attr:`heard` when Elo's first audio is pushed.

    Gemini Live only logs a refused first connection, so a call whose model never speaks would
    otherwise sit silent until the idle timeout; the session fails it sooner with a reason.
    """

    def __init__(self) -> None:
        super().__init__()
        self.heard = asyncio.Event()

    def routes(self) -> Mapping[type[Frame], Route]:
        """Elo's audio and speaking frames."""
        return {TTSAudioRawFrame: self._on_audio, BotStartedSpeakingFrame: self._on_audio}

    def _on_audio(self, frame: Frame, timestamp_ns: int) -> None:
        self.heard.set()


class TurnAfterToolWatch(FrameObserver):
    """Sets :attr:`finished` when Elo's turn after a tool's result has ended.

    end_call is answered before Elo says goodbye, and Gemini Live holds back an ``EndFrame``
    only while a turn is under way: one queued at once overtakes the goodbye and cuts it. The
    session waits for this instead. The result is the anchor because the goodbye can only come
    after it (the model answers the result), and the service pushes both in that order.

    Args:
        tool_name: The tool whose result starts the watch, e.g. ``"end_call"``.
    """

    def __init__(self, tool_name: str) -> None:
        super().__init__()
        self._tool_name = tool_name
        self._armed = False
        self.finished = asyncio.Event()

    def routes(self) -> Mapping[type[Frame], Route]:
        """The tool's result, then the end of a model turn."""
        return {FunctionCallResultFrame: self._on_result, LLMFullResponseEndFrame: self._on_end}

    def _on_result(self, frame: Frame, timestamp_ns: int) -> None:
        assert isinstance(frame, FunctionCallResultFrame)
        if frame.function_name == self._tool_name:
            self._armed = True

    def _on_end(self, frame: Frame, timestamp_ns: int) -> None:
        if self._armed:
            self.finished.set()
