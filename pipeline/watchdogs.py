"""Small observers the call session uses to notice what did not happen."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from pipecat.frames.frames import BotStartedSpeakingFrame, Frame, TTSAudioRawFrame

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
