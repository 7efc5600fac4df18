"""Script steps for the Gemini Live emulator: waits, tool calls, closes, refusals, goAway.

Each builder plays something the real service does; the ones that model a particular behaviour
name where it was read. The server messages (audio, transcripts, turn signals) are built in
:mod:`devtools.gemini_messages`. :mod:`devtools.gemini_emulator` re-exports both.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from devtools.gemini_protocol import (
    BAD_KEY_REASON,
    EXPIRED_KEY_REASON,
    INVALID_ARGUMENT,
    UNKNOWN_MODEL_CODE,
    UNKNOWN_MODEL_REASON,
    ClientMessage,
    EmulatorScriptError,
    Setup,
    _function_responses,
    _heard_audio,
    close_reason,
    pick,
)
from devtools.gemini_rules import StepPlayer, _Connection


class Step:
    """One scripted action. Subclasses implement ``run``."""

    # Refuse takes a fresh connection instead of the current one.
    takes_new_connection: ClassVar[bool] = False

    async def run(self, emu: StepPlayer, conn: _Connection) -> None:
        """Perform the step on ``conn``."""
        raise NotImplementedError


@dataclass
class Send(Step):
    """Send server messages as they are (camelCase JSON objects)."""

    label: str
    # Left out of the repr: audio payloads would swamp failure messages.
    messages: list[dict[str, Any]] = field(repr=False)

    async def run(self, emu: StepPlayer, conn: _Connection) -> None:
        """Send each message in order."""
        for message in self.messages:
            await emu.send(conn, message)


@dataclass
class WaitForAudio(Step):
    """Wait until the client has streamed this much audio (seconds or bytes, whichever given).

    Only heard audio counts: audio the server discards (outside an activity window while
    automatic activity detection is off) does not. With activity detection off the step also
    waits for the ``activityEnd`` that closes the user's turn, since the real model answers
    only after it (Pipecat notes, December 2026: "The real server answers only after
    activityEnd"); ``turn_end=False`` stops at the audio, e.g. to barge in on the user.
    """

    seconds: float | None = None
    nbytes: int | None = None
    timeout: float | None = None
    turn_end: bool = True

    async def run(self, emu: StepPlayer, conn: _Connection) -> None:
        """Consume realtime audio messages until the target is reached (and the turn ends)."""
        got_bytes, got_seconds = 0, 0.0
        reached = False
        manual = conn.setup is not None and conn.setup.activity_detection_disabled
        needs_end = self.turn_end and manual

        def enough(message: ClientMessage) -> bool:
            nonlocal got_bytes, got_seconds, reached
            for chunk in _heard_audio(message):
                got_bytes += len(chunk.data)
                got_seconds += chunk.seconds
            reached = reached or (
                (self.nbytes is not None and got_bytes >= self.nbytes)
                or (self.seconds is not None and got_seconds >= self.seconds - 1e-9)
            )
            if not needs_end:
                return reached
            ends = pick(message.body, "activity_end") is not None
            return reached and message.kind == "realtime_input" and ends

        await emu.consume(conn, enough, f"{self!r}", self.timeout)


@dataclass
class WaitForClientContent(Step):
    """Wait for a client_content message, optionally one with this turn_complete value."""

    turn_complete: bool | None = None
    timeout: float | None = None

    async def run(self, emu: StepPlayer, conn: _Connection) -> None:
        """Consume messages up to the matching client_content."""

        def matches(message: ClientMessage) -> bool:
            return message.kind == "client_content" and (
                self.turn_complete is None
                or bool(pick(message.body, "turn_complete", False)) == self.turn_complete
            )

        await emu.consume(conn, matches, f"{self!r}", self.timeout)


@dataclass
class ToolCall(Step):
    """Send a toolCall, then wait for the tool_response that answers it (ids must round-trip)."""

    name: str
    args: dict[str, Any]
    id: str
    timeout: float | None = None

    async def run(self, emu: StepPlayer, conn: _Connection) -> None:
        """Send the call and check the next tool_response carries our id."""
        call = {"id": self.id, "name": self.name, "args": self.args}
        await emu.send(conn, {"toolCall": {"functionCalls": [call]}})
        answer = await emu.consume(
            conn, lambda m: m.kind == "tool_response", f"{self!r}", self.timeout
        )
        ids = [r.id for r in _function_responses(answer)]
        if self.id not in ids:
            raise EmulatorScriptError(f"tool_response ids {ids} do not answer call {self.id!r}")


@dataclass
class Close(Step):
    """Close the current connection; the script continues on the client's next connection."""

    code: int = 1011
    reason: str = "Internal error encountered."

    async def run(self, emu: StepPlayer, conn: _Connection) -> None:
        """Close and wait until the socket is down."""
        await conn.ws.close(self.code, self.reason)
        conn.closed = True


@dataclass
class Refuse(Step):
    """Close the client's next connection right after its setup, as a bad API key does.

    ``reason`` may be a function of the connection's setup, for texts that name the model.
    """

    code: int = 1008
    reason: str | Callable[[Setup], str] = BAD_KEY_REASON
    takes_new_connection: ClassVar[bool] = True

    async def run(self, emu: StepPlayer, conn: _Connection) -> None:
        """Close without setupComplete."""
        reason = self.reason
        if callable(reason):
            assert conn.setup is not None
            reason = reason(conn.setup)
        await conn.ws.close(self.code, close_reason(reason))
        conn.closed = True


@dataclass
class WaitForToolResponse(Step):
    """Wait for the tool_response answering ``id`` (after :func:`send_tool_call`)."""

    id: str
    timeout: float | None = None

    async def run(self, emu: StepPlayer, conn: _Connection) -> None:
        """Consume messages up to a tool_response carrying ``id``."""

        def answers(message: ClientMessage) -> bool:
            return any(r.id == self.id for r in _function_responses(message))

        await emu.consume(conn, answers, f"{self!r}", self.timeout)


@dataclass
class GoAway(Step):
    """Send goAway; with ``close_after``, close the connection once ``time_left`` has passed.

    The real service sends goAway with ``timeLeft`` and closes when it runs out ("The lifetime
    of a connection is limited to around 10 minutes [...] You'll also receive a GoAway message
    before the connection ends", https://docs.cloud.google.com/vertex-ai/generative-ai/docs/
    live-api/start-manage-session; close code from kizuna-ai-lab/sokuji issue 179).
    """

    time_left: str
    close_after: bool = True

    async def run(self, emu: StepPlayer, conn: _Connection) -> None:
        """Send the warning and schedule the close."""
        await emu.send(conn, {"goAway": {"timeLeft": self.time_left}})
        if self.close_after:
            seconds = float(self.time_left.rstrip("s") or 0)
            emu.close_after(conn, seconds)


@dataclass
class Resumed(Step):
    """Wait for the client's next connection and continue the script on it.

    Used after a goAway, so the steps after it never race the client's switch to a new socket.
    """

    takes_new_connection: ClassVar[bool] = True

    async def run(self, emu: StepPlayer, conn: _Connection) -> None:
        """Accept the connection (setupComplete); :meth:`GeminiLiveEmulator._play` adopts it."""
        await conn.ws.send(json.dumps({"setupComplete": {}}))


@dataclass
class Pause(Step):
    """Do nothing for a while (e.g. to let the client act between two server messages)."""

    seconds: float

    async def run(self, emu: StepPlayer, conn: _Connection) -> None:
        """Sleep."""
        await asyncio.sleep(self.seconds)


def wait_for_audio(
    seconds: float | None = None,
    *,
    nbytes: int | None = None,
    timeout: float | None = None,
    turn_end: bool = True,
) -> WaitForAudio:
    """Wait until the client has streamed ``seconds`` (or ``nbytes``) of heard audio.

    With activity detection off, also wait for the ``activityEnd`` closing the user's turn,
    unless ``turn_end`` is False (see :class:`WaitForAudio`).
    """
    if seconds is None and nbytes is None:
        raise ValueError("give seconds or nbytes")
    return WaitForAudio(seconds=seconds, nbytes=nbytes, timeout=timeout, turn_end=turn_end)


def wait_for_client_content(
    turn_complete: bool | None = None, *, timeout: float | None = None
) -> WaitForClientContent:
    """Wait for a client_content message (e.g. the seeded context turn)."""
    return WaitForClientContent(turn_complete=turn_complete, timeout=timeout)


def tool_call(
    name: str, args: dict[str, Any] | None = None, *, id: str, timeout: float | None = None
) -> ToolCall:
    """Call a function and wait for the client's tool_response with the same ``id``."""
    return ToolCall(name=name, args=args or {}, id=id, timeout=timeout)


def go_away(time_left: str = "10s", *, close_after: bool = True) -> GoAway:
    """Warn the client that the server closes the connection in ``time_left``, then do so."""
    return GoAway(time_left=time_left, close_after=close_after)


def wait_for_tool_response(id: str, *, timeout: float | None = None) -> WaitForToolResponse:
    """Wait for the tool_response answering call ``id``."""
    return WaitForToolResponse(id=id, timeout=timeout)


def resumed() -> Resumed:
    """Continue the script on the client's next (resumed) connection."""
    return Resumed()


def close(code: int = 1011, reason: str = "Internal error encountered.") -> Close:
    """Drop the current connection mid-call."""
    return Close(code=code, reason=reason)


def refuse(code: int = 1008, reason: str | Callable[[Setup], str] = BAD_KEY_REASON) -> Refuse:
    """Refuse the next connection after its setup (a bad API key closes with 1008)."""
    return Refuse(code=code, reason=reason)


def refuse_unknown_model() -> Refuse:
    """Refuse the next setup as the service refuses a model it does not serve for Live.

    Close 1008 with "models/X is not found for API version v1beta, or is not supported for
    bidiGenerateContent. Call ListMod..." cut to 123 bytes (see ``UNKNOWN_MODEL_REASON``).
    """
    return Refuse(
        code=UNKNOWN_MODEL_CODE,
        reason=lambda setup: UNKNOWN_MODEL_REASON.format(model=setup.model or "models/"),
    )


def refuse_expired_key() -> Refuse:
    """Refuse the next setup as for an expired key: 1007 (yagudaev/voiceclaw PR 155)."""
    return Refuse(code=1007, reason=EXPIRED_KEY_REASON)


def refuse_invalid_config(reason: str = INVALID_ARGUMENT[1]) -> Refuse:
    """Refuse the next setup as invalid, with 1007 "Request contains an invalid argument".

    The service closes a setup it cannot accept with 1007 (e.g. mastra-ai/mastra issue 23720:
    a current model on the wrong API version is "closed by the server during setup with an
    invalid-argument").
    """
    return Refuse(code=INVALID_ARGUMENT[0], reason=reason)


def pause(seconds: float) -> Pause:
    """Wait a fixed time between two steps."""
    return Pause(seconds)
