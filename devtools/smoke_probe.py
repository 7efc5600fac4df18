"""The smoke test's observer of one call: greeting, the caller's speech, tool results, replies.

Part of ``make smoke`` (:mod:`devtools.smoke`); it joins the call session's own observers.
"""

from __future__ import annotations

import asyncio
import dataclasses
from array import array
from collections.abc import Mapping
from typing import TYPE_CHECKING

from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    ErrorFrame,
    Frame,
    FunctionCallResultFrame,
    InputAudioRawFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
)
from pipecat.processors.frame_processor import FrameDirection

from pipeline.observers.base import FrameObserver, Route

if TYPE_CHECKING:
    from app.application import Application
    from pipeline.call.session import CallSession
    from pipeline.call.spec import CallSpec

SLOT_TOOLS = frozenset({"check_available_slots", "assess_client_needs"})
# A sample louder than 0.5% of full scale (-46 dBFS) is speech: the threshold the recording's
# silences were trimmed with (demo/audio/make_smoke_caller.sh).
SPEECH_PEAK = 164


class SmokeProbe(FrameObserver):
    """Watches one call: the greeting, the caller's speech, tool results and Elo's answers.

    Times are push times on the pipeline clock (nanoseconds since the call started). The caller's
    end of speech is the last input frame (20 ms) with a sample above :data:`SPEECH_PEAK`.

    Attributes:
        greeted: Set when Elo's first turn has ended and its audio has played out.
        replied: Set when Elo's first turn after the caller's speech has ended and played out.
        answered: Set when Elo's turn after a slot tool's result has ended and played out.
    """

    def __init__(self) -> None:
        super().__init__()
        self.greeting_ns: int | None = None
        self.last_speech_ns: int | None = None
        self._starts: list[int] = []
        self.tool: str | None = None
        self.errors: list[str] = []
        self.greeted = asyncio.Event()
        self.replied = asyncio.Event()
        self.answered = asyncio.Event()
        self.first_audio = asyncio.Event()
        self._tool_ns = 0
        self._turn_end_ns = -1
        self._speaking = False
        self._turn_over = False

    def routes(self) -> Mapping[type[Frame], Route]:
        """Elo's speaking, its turn ends, tool results and the caller's audio."""
        return {
            BotStartedSpeakingFrame: self._started,
            BotStoppedSpeakingFrame: self._stopped,
            LLMFullResponseStartFrame: self._turn_start,
            LLMFullResponseEndFrame: self._turn_end,
            FunctionCallResultFrame: self._result,
            InputAudioRawFrame: self._heard,
        }

    def observe(self, frame: Frame, direction: FrameDirection, timestamp_ns: int) -> None:
        """Note errors whichever way they travel (upstream, mostly); route the rest."""
        if isinstance(frame, ErrorFrame):
            self.errors.append(str(frame.error).splitlines()[0] if frame.error else "error")
            return
        super().observe(frame, direction, timestamp_ns)

    @property
    def latency_ns(self) -> int | None:
        """The caller's end of speech to Elo's first audio after it; None without a reply.

        Audio Elo started while the caller was still speaking (talking over them) is no reply.
        """
        end = self.last_speech_ns
        after = [ts for ts in self._starts if end is not None and ts > end]
        return after[0] - end if after and end is not None else None

    def _heard(self, frame: Frame, ts: int) -> None:
        assert isinstance(frame, InputAudioRawFrame)
        samples = array("h", frame.audio[: len(frame.audio) // 2 * 2])
        if self.greeted.is_set() and samples and max(max(samples), -min(samples)) > SPEECH_PEAK:
            self.last_speech_ns = ts

    def _started(self, _: Frame, ts: int) -> None:
        self._speaking = True
        if self.greeting_ns is None:
            self.greeting_ns = ts
            self.first_audio.set()
        self._starts.append(ts)

    def _stopped(self, _: Frame, __: int) -> None:
        self._speaking = False
        self._check_quiet()

    def _turn_start(self, _: Frame, __: int) -> None:
        # The model's turn, as it arrives; its audio plays out later (BotStarted/Stopped).
        self._turn_over = False

    def _turn_end(self, _: Frame, ts: int) -> None:
        self._turn_over, self._turn_end_ns = True, ts
        self._check_quiet()

    def _result(self, frame: Frame, ts: int) -> None:
        assert isinstance(frame, FunctionCallResultFrame)
        if frame.function_name in SLOT_TOOLS and self.tool is None:
            self.tool, self._tool_ns = frame.function_name, ts

    def _check_quiet(self) -> None:
        if self._speaking or not self._turn_over or self.greeting_ns is None:
            return
        self.greeted.set()
        if self.latency_ns is not None:
            self.replied.set()
        if self.tool is not None and self._turn_end_ns > self._tool_ns:
            self.answered.set()


MAX_CALL_SECONDS = 180  # the smoke call's cap (and the dialled call's)


class SmokeFailed(Exception):
    """A check failed; ``check`` names it, the message says why."""

    def __init__(self, check: str, why: str) -> None:
        super().__init__(why)
        self.check = check


def probed_session(app: Application, probe: SmokeProbe, spec: CallSpec) -> CallSession:
    """A call session of the application's clinic for ``spec``, observed by ``probe``."""
    from pipeline.call.session import CallSession

    return CallSession(app, dataclasses.replace(spec, observers=[probe]))
