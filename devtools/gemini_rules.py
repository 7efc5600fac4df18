"""What the real Gemini Live server refuses or ignores, checked on every client message.

The emulator is only worth its tests if it is as strict as the real service. Each rule below
names where it was read; a rule that the real service enforces by closing the socket closes it
here too, with the same code and reason. Every breach is also recorded as a :class:`Violation`
so a test can assert on it, including the ones the real service passes over silently.

Rules (names as used in ``GeminiLiveEmulator(relax=...)``):

* ``tool_response_id``: a function response must answer a call this session issued and that is
  still open: not one never issued, already answered, or withdrawn by ``toolCallCancellation``.
  Close 1007 "Request contains an invalid argument." (the service's reason for a tool response it
  refuses, firebase/firebase-js-sdk issue 9264; google-genai ``types.LiveClientToolResponse``:
  responses "are matched to the respective FunctionCall objects by the id field"). A response
  with ``willContinue`` keeps a NON_BLOCKING call open (google-genai
  ``types.FunctionResponse.will_continue``).
* ``client_content``: on the 3.x family ``clientContent`` is accepted only as initial history:
  the setup must set ``historyConfig.initialHistoryInClientContent`` and the messages must come
  before the history is complete, which is the first ``clientContent`` with ``turnComplete``
  (google-genai ``types.HistoryConfig``: "the server will wait and at first process
  client_content messages until turn_complete is true [...] After turn_complete is true, the
  client can start the realtime conversation via realtime_input"), before any realtime input and
  before the model's first turn ("After the first model turn, use send_realtime_input",
  https://ai.google.dev/gemini-api/docs/live-api/capabilities, quoted in sonichi/sutando PR 181).
  Anything else closes 1007 (yagudaev/voiceclaw PR 248, livekit/agents PR 5251: "any
  mid-session LiveClientContent [...] gets rejected with a 1007 error"). 2.5 models accept it.
* ``media_chunks``: the 3.x family refuses the deprecated ``realtimeInput.mediaChunks`` with 1007
  (aicc2025/sip-to-ai PR 5; google/adk-python PR 5076).
* ``audio_format``: realtime audio is raw little-endian 16-bit PCM whose MIME type carries the
  rate, ``audio/pcm;rate=16000`` ("Audio data in the Live API is always raw, little-endian,
  16-bit PCM [...] set the MIME type of each audio-containing Blob to a value like
  audio/pcm;rate=16000", https://ai.google.dev/gemini-api/docs/live-api/capabilities). Another
  type, no rate, or an odd byte count (not whole 16-bit samples) closes 1007, the service's
  code for an invalid argument. No public log shows the exact close for this case; the code is
  the one every other malformed realtime input gets.
* ``audio_outside_activity``: with automatic activity detection disabled, audio outside an
  ``activityStart``/``activityEnd`` window is discarded, not refused (Pipecat
  ``GeminiLiveLLMService._send_user_audio``: "audio is streamed only during an active turn
  [...] since the service discards anything outside that window"). It is recorded and never
  counts as heard speech.
* ``activity_signal``: ``activityStart``/``activityEnd`` "can only be sent if automatic (i.e.
  server-side) activity detection is disabled" (google-genai ``types.ActivityStart``); a
  second start inside a window or an end without a start is recorded too. The real response is
  unknown, so these are recorded only.
* ``activity_end_missing``: a window still open when its connection closes: the model never
  answered that turn, since with activity detection off it answers only after ``activityEnd``.
* ``setup``: a setup the model cannot take is refused with 1007 before ``setupComplete``. A Live
  thinking model (3.8 on, "thinking" in its id) needs a ``thinkingLevel`` ("the API has no
  default and rejects a setup without one") and takes no BLOCKING function ("Live thinking
  models accept only NON_BLOCKING"); 3.x before 3.8 takes no NON_BLOCKING function ("Before
  3.8, Gemini 3.x models did not support NON_BLOCKING function declarations"): Pipecat
  ``GeminiLiveLLMService._resolved_thinking_config``, ``_supports_blocking_tools`` and
  ``_supports_non_blocking_tools``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from websockets.asyncio.server import ServerConnection

from devtools.gemini_protocol import (
    INVALID_ARGUMENT,
    ClientMessage,
    Setup,
    _audio_in,
    _function_responses,
    pick,
)

RULES = frozenset(
    {
        "tool_response_id",
        "client_content",
        "media_chunks",
        "audio_format",
        "audio_outside_activity",
        "activity_signal",
        "activity_end_missing",
        "setup",
    }
)
_MIN_RATE, _MAX_RATE = 8_000, 48_000


@dataclass
class SessionState:
    """What a session holds server-side; a resumption handle restores a copy of it.

    Attributes:
        audio_bytes: Realtime audio consumed (heard), in bytes.
        open_tool_calls: Ids of tool calls sent and not answered yet.
        answered_tool_calls: Ids of tool calls answered, in order (a repeat shows a double).
        cancelled_tool_calls: Ids withdrawn by ``toolCallCancellation``.
        history_done: The initial history phase is over (see the module text).
        activity_open: An activity window is open (``activityStart`` without its end yet).
    """

    audio_bytes: int = 0
    open_tool_calls: list[str] = field(default_factory=list)
    answered_tool_calls: list[str] = field(default_factory=list)
    cancelled_tool_calls: list[str] = field(default_factory=list)
    history_done: bool = False
    activity_open: bool = False

    def copy(self) -> SessionState:
        """An independent copy (a snapshot for a handle)."""
        return SessionState(
            self.audio_bytes,
            list(self.open_tool_calls),
            list(self.answered_tool_calls),
            list(self.cancelled_tool_calls),
            self.history_done,
            self.activity_open,
        )


@dataclass
class _Session:
    index: int
    state: SessionState = field(default_factory=SessionState)
    connection: _Connection | None = None


class StepPlayer(Protocol):
    """What a script step may ask of the emulator that plays it (GeminiLiveEmulator)."""

    async def send(self, conn: _Connection, message: dict[str, Any]) -> None:
        """Send one server message on ``conn``."""
        ...

    async def consume(
        self,
        conn: _Connection,
        done: Callable[[ClientMessage], bool],
        what: str,
        limit: float | None,
    ) -> ClientMessage:
        """Read ``conn``'s messages until ``done`` says so; return that one."""
        ...

    def close_after(self, conn: _Connection, seconds: float) -> None:
        """Close ``conn`` after ``seconds``, in the background."""
        ...


@dataclass
class _Connection:
    index: int
    ws: ServerConnection
    api_key: str | None
    messages: list[ClientMessage] = field(default_factory=list)
    cursor: int = 0
    closed: bool = False
    session: _Session | None = None
    setup: Setup | None = None


@dataclass(frozen=True)
class Violation:
    """One breach of the protocol by the client.

    Attributes:
        connection: Index of the connection.
        rule: The rule's name (see the module text).
        detail: What was wrong, for a failure message.
        closed_with: The close code the server answered with, or None if it went on.
        at: ``time.monotonic()`` when it was seen.
    """

    connection: int
    rule: str
    detail: str
    closed_with: int | None
    at: float


@dataclass
class ActivityWindow:
    """One ``activityStart`` ... ``activityEnd`` window of the client.

    Attributes:
        connection: Index of the connection.
        started_at: ``time.monotonic()`` at ``activityStart``.
        ended_at: ``time.monotonic()`` at ``activityEnd``, None while open (or never ended).
        audio_seconds: Audio heard inside the window.
    """

    connection: int
    started_at: float
    ended_at: float | None = None
    audio_seconds: float = 0.0


@dataclass(frozen=True)
class Verdict:
    """What the server does with one message: take it in, discard it, or close."""

    heard: bool = True
    close: tuple[int, str] | None = None


class Referee:
    """Checks each client message against the rules and keeps the session state in step.

    Args:
        relax: Rules to record without enforcing, to play a lenient older server.
    """

    def __init__(self, relax: Iterable[str] = ()) -> None:
        self.relax = frozenset(relax)
        unknown = self.relax - RULES
        if unknown:
            raise ValueError(f"unknown rules {sorted(unknown)}; known: {sorted(RULES)}")
        self.violations: list[Violation] = []
        self.activity_windows: list[ActivityWindow] = []
        self._open_window: dict[int, ActivityWindow] = {}

    def _breach(self, conn: _Connection, rule: str, detail: str, *, closes: bool) -> Verdict:
        enforced = closes and rule not in self.relax
        code = INVALID_ARGUMENT if enforced else None
        self.violations.append(
            Violation(conn.index, rule, detail, code[0] if code else None, time.monotonic())
        )
        return Verdict(heard=not enforced, close=code)

    def check(self, conn: _Connection, message: ClientMessage) -> Verdict:
        """Judge ``message`` and fold it into the session's state.

        Returns:
            Whether the message is heard, and the close to answer it with, if any.
        """
        session, setup = conn.session, conn.setup
        if session is None or setup is None:
            return Verdict()
        state = session.state
        if message.kind == "client_content":
            return self._client_content(conn, setup, state, message)
        if message.kind == "tool_response":
            return self._tool_response(conn, state, message)
        if message.kind == "realtime_input":
            state.history_done = True
            return self._realtime_input(conn, setup, state, message)
        return Verdict()

    def admit(self, conn: _Connection, setup: Setup) -> tuple[int, str] | None:
        """The close that refuses ``setup``, or None when the model can take it."""
        problem = _setup_problem(setup)
        if problem is None:
            return None
        return self._breach(conn, "setup", problem, closes=True).close

    def model_spoke(self, state: SessionState) -> None:
        """The model produced a turn or a call: the initial history phase is over."""
        state.history_done = True

    def connection_closed(self, conn: _Connection) -> None:
        """Record a window the client never ended (the model never answered it)."""
        window = self._open_window.pop(conn.index, None)
        if window is not None and window.ended_at is None:
            detail = "the connection closed inside an activity window"
            self._breach(conn, "activity_end_missing", detail, closes=False)

    # the rules

    def _client_content(
        self, conn: _Connection, setup: Setup, state: SessionState, message: ClientMessage
    ) -> Verdict:
        if not setup.is_3x:
            return Verdict()
        if not setup.initial_history_in_client_content:
            detail = "clientContent without historyConfig.initialHistoryInClientContent"
            return self._breach(conn, "client_content", detail, closes=True)
        if state.history_done:
            detail = "clientContent after the initial history (mid-call)"
            return self._breach(conn, "client_content", detail, closes=True)
        if pick(message.body, "turn_complete", False):
            state.history_done = True
        return Verdict()

    def _tool_response(
        self, conn: _Connection, state: SessionState, message: ClientMessage
    ) -> Verdict:
        verdict = Verdict()
        for response in _function_responses(message):
            call_id = str(response.id)
            if call_id not in state.open_tool_calls:
                if call_id in state.cancelled_tool_calls:
                    why = "was cancelled by toolCallCancellation"
                elif call_id in state.answered_tool_calls:
                    why = "was answered already"
                else:
                    why = "was never issued on this session"
                detail = f"tool response for {call_id!r}, which {why}"
                verdict = self._breach(conn, "tool_response_id", detail, closes=True)
                continue
            if not response.will_continue:
                state.open_tool_calls.remove(call_id)
                state.answered_tool_calls.append(call_id)
        return verdict

    def _realtime_input(
        self, conn: _Connection, setup: Setup, state: SessionState, message: ClientMessage
    ) -> Verdict:
        body = message.body
        manual = setup.activity_detection_disabled
        if pick(body, "activity_start") is not None:
            self._activity_start(conn, state, manual)
        if pick(body, "media_chunks") and setup.is_3x:
            return self._breach(conn, "media_chunks", "realtimeInput.mediaChunks", closes=True)
        for chunk in _audio_in(message):
            problem = _audio_problem(chunk.mime_type, len(chunk.data))
            if problem:
                return self._breach(conn, "audio_format", problem, closes=True)
        heard = True
        audio = _audio_in(message)
        if audio and manual and not state.activity_open:
            self._breach(conn, "audio_outside_activity", "audio outside a window", closes=False)
            heard = "audio_outside_activity" in self.relax
        elif audio and (window := self._open_window.get(conn.index)) is not None:
            window.audio_seconds += sum(chunk.seconds for chunk in audio)
        if pick(body, "activity_end") is not None:
            self._activity_end(conn, state, manual)
        return Verdict(heard=heard)

    def _activity_start(self, conn: _Connection, state: SessionState, manual: bool) -> None:
        if not manual:
            self._breach(conn, "activity_signal", "activityStart with AAD on", closes=False)
        if state.activity_open:
            self._breach(conn, "activity_signal", "activityStart inside a window", closes=False)
        state.activity_open = True
        window = ActivityWindow(conn.index, time.monotonic())
        self._open_window[conn.index] = window
        self.activity_windows.append(window)

    def _activity_end(self, conn: _Connection, state: SessionState, manual: bool) -> None:
        if not manual:
            self._breach(conn, "activity_signal", "activityEnd with AAD on", closes=False)
        if not state.activity_open:
            self._breach(conn, "activity_signal", "activityEnd without a start", closes=False)
        state.activity_open = False
        window = self._open_window.pop(conn.index, None)
        if window is not None:
            window.ended_at = time.monotonic()


def _audio_problem(mime_type: str, nbytes: int) -> str | None:
    """Why an audio blob is not 16-bit PCM with a rate, or None if it is."""
    kind, _, params = mime_type.partition(";")
    if kind.strip().lower() != "audio/pcm":
        return f"audio MIME type {mime_type!r} is not audio/pcm"
    rate = dict(part.strip().split("=", 1) for part in params.split(";") if "=" in part).get("rate")
    if rate is None or not rate.isdigit():
        return f"audio MIME type {mime_type!r} names no rate"
    if not _MIN_RATE <= int(rate) <= _MAX_RATE:
        return f"audio rate {rate} is outside {_MIN_RATE}-{_MAX_RATE} Hz"
    if nbytes % 2:
        return f"{nbytes} bytes of audio are not whole 16-bit samples"
    return None


def _setup_problem(setup: Setup) -> str | None:
    """Why the setup's model cannot take it (see the ``setup`` rule), or None."""
    version = setup.gemini_version
    if version is None or version[0] < 3:
        return None
    model = setup.model or ""
    behaviors = {str(pick(d, "behavior", "")).upper() for d in setup.function_declarations}
    if "thinking" in model and version >= (3, 8):
        generation = pick(setup.body, "generation_config", {}) or {}
        thinking = pick(generation, "thinking_config") or pick(setup.body, "thinking_config")
        if not pick(thinking, "thinking_level"):
            return f"{model} needs generationConfig.thinkingConfig.thinkingLevel"
        if "BLOCKING" in behaviors:
            return f"{model} takes no BLOCKING function declaration"
    if version < (3, 8) and "NON_BLOCKING" in behaviors:
        return f"{model} takes no NON_BLOCKING function declaration"
    return None
