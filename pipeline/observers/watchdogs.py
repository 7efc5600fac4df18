"""Small observers the call session uses to notice what did not happen."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    Frame,
    FunctionCallResultFrame,
    LLMFullResponseEndFrame,
    TTSAudioRawFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)

from pipeline.observers.base import FrameObserver, Route


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


class ToolResultWatch(FrameObserver):
    """Sets ``seen[name]`` when a result of one of the named tools has been pushed.

    A tool that ends the call at once (a successful transfer, hanging up on a voicemail) lets
    its result through first, so the transcript and the analytics record it.

    Args:
        *tool_names: The tools to watch.
    """

    def __init__(self, *tool_names: str) -> None:
        super().__init__()
        self.seen = {name: asyncio.Event() for name in tool_names}

    def routes(self) -> Mapping[type[Frame], Route]:
        """Tool results."""
        return {FunctionCallResultFrame: self._on_result}

    def _on_result(self, frame: Frame, timestamp_ns: int) -> None:
        assert isinstance(frame, FunctionCallResultFrame)
        event = self.seen.get(frame.function_name)
        if event is not None:
            event.set()


class BotQuietWatch(FrameObserver):
    """:attr:`quiet` is set while Elo is not speaking.

    A transfer waits for it, so Elo's "connecting you now" is heard before the line moves: the
    model calls the tool while its audio is still playing out.
    """

    def __init__(self) -> None:
        super().__init__()
        self.quiet = asyncio.Event()
        self.quiet.set()

    def routes(self) -> Mapping[type[Frame], Route]:
        """Elo's speaking start and stop."""
        return {
            BotStartedSpeakingFrame: self._on_started,
            BotStoppedSpeakingFrame: self._on_stopped,
        }

    def _on_started(self, frame: Frame, timestamp_ns: int) -> None:
        self.quiet.clear()

    def _on_stopped(self, frame: Frame, timestamp_ns: int) -> None:
        self.quiet.set()


class LongGreetingWatch(FrameObserver):
    """Calls ``on_long(seconds)`` when the callee's first utterance is long: a machine, maybe.

    A person answering says a word or two ("Alo?") and waits; an answering machine talks for
    several seconds without a pause. The length is the speech the VAD saw: from its start
    (the start event, less the ``start_secs`` of speech it needed) to its stop (less the
    ``stop_secs`` of silence it waited for). Only the first utterance after :meth:`arm`
    counts, and the callback runs at most once per call.

    Args:
        min_secs: Shortest first utterance that triggers the callback; 0 turns the watch off.
        on_long: Called with the utterance's length in seconds.
    """

    def __init__(self, min_secs: float, on_long: Callable[[float], None]) -> None:
        super().__init__()
        self._min_secs = min_secs
        self._on_long = on_long
        self._armed = False
        self._done = min_secs <= 0
        self._started_at: float | None = None

    def arm(self) -> None:
        """Start watching: the callee is on the line (sounds before that are not theirs)."""
        self._armed = True

    def routes(self) -> Mapping[type[Frame], Route]:
        """The VAD's speech start and stop."""
        return {
            VADUserStartedSpeakingFrame: self._on_started,
            VADUserStoppedSpeakingFrame: self._on_stopped,
        }

    def _on_started(self, frame: Frame, timestamp_ns: int) -> None:
        assert isinstance(frame, VADUserStartedSpeakingFrame)
        if self._armed and not self._done and self._started_at is None:
            self._started_at = frame.timestamp - frame.start_secs

    def _on_stopped(self, frame: Frame, timestamp_ns: int) -> None:
        assert isinstance(frame, VADUserStoppedSpeakingFrame)
        if self._started_at is None or self._done:
            return
        self._done = True
        seconds = (frame.timestamp - frame.stop_secs) - self._started_at
        if seconds >= self._min_secs:
            self._on_long(seconds)
