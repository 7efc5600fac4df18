"""A local Gemini Live server, so the unmodified GeminiLiveLLMService runs offline.

The emulator speaks the BidiGenerateContent websocket protocol over TLS on 127.0.0.1 and
plays a per-test script: a list of steps that wait for client input or send server messages.
Everything the client sends is recorded for assertions.

Usage::

    script = [
        wait_for_client_content(),
        wait_for_audio(seconds=0.1),
        input_transcription("Hello."),
        model_audio(seconds=0.1),
        output_transcription("Hi!"),
        turn_complete(),
    ]
    async with GeminiLiveEmulator(script) as emu:
        llm = GeminiLiveLLMService(api_key="test-key", http_options=emu.http_options(), ...)
        ...
        await emu.finished()          # raises EmulatorScriptError if a step failed
        assert emu.setups[0].model == "models/..."

Connections and the script: a step that talks to the model's side of a connection runs on the
current connection; the first such step waits for the first client to connect, and after
``close()`` (or the client dropping) the next one waits for the client to reconnect. Each
accepted connection gets ``setupComplete``. ``refuse()`` instead closes the next connection
right after its setup. Once the script has run out, new connections are still accepted, so a
client that reconnects late does not hang.

Wait steps read the connection's messages in order, from where the previous wait step stopped,
so input that arrived before the step started still counts, and nothing counts twice.

Sessions and resumption, as the real service behaves (each rule cites where it was read):
a connection whose setup carries no ``sessionResumption.handle`` starts a session; a handle the
emulator issued resumes that session's state (input consumed, tool calls answered or open) as it
was when the handle was issued; an unknown handle, or a resume while the session's previous socket
is still open, is refused. With ``auto_resumption=True`` the emulator issues handles itself:
resumable after every turnComplete and answered tool call, ``resumable: false`` while a tool call
is open. ``refuse_first=N`` refuses the first N connections before the script sees them, and
``go_away`` closes the connection once its ``timeLeft`` has passed.

Strictness: every client message is checked against the rules the real service enforces
(``devtools.gemini_rules``: tool responses must answer an open call, no mid-call ``clientContent``
on the 3.x family, 16-bit PCM audio with its rate, no audio outside an activity window while
automatic activity detection is off, ...). A breach closes the connection as the real service
does and is recorded in ``violations``; ``relax=`` names rules to record without enforcing, for a
test that plays a lenient older server. ``activity_windows`` says when each ``activityStart`` and
``activityEnd`` arrived.

The protocol records live in ``devtools.gemini_protocol``, the rules in ``devtools.gemini_rules``,
the script steps in ``devtools.gemini_steps`` and the server messages in
``devtools.gemini_messages``; this module re-exports all of them.
"""

from __future__ import annotations

import asyncio
import json
import re
import ssl
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

import trustme
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

from devtools.gemini_messages import (
    PacedSend,
    generation_complete,
    input_transcription,
    interrupted,
    model_audio,
    not_resumable,
    output_transcription,
    resumption_update,
    send,
    send_tool_call,
    tool_call_cancellation,
    transcription_fragments,
    turn_complete,
)
from devtools.gemini_protocol import (
    BAD_KEY_REASON,
    DEFAULT_STEP_TIMEOUT,
    EXPIRED_KEY_REASON,
    GO_AWAY_CLOSE,
    INVALID_ARGUMENT,
    MAX_CLOSE_REASON_BYTES,
    MODEL_AUDIO_RATE,
    RESUME_WHILE_OPEN,
    UNKNOWN_HANDLE,
    UNKNOWN_MODEL_CODE,
    UNKNOWN_MODEL_REASON,
    USER_AUDIO_RATE,
    WS_PATH,
    AudioChunk,
    ClientMessage,
    EmulatorScriptError,
    FunctionResponse,
    Setup,
    _audio_in,
    _function_responses,
    _heard_audio,
    close_reason,
    pick,
    tone,
)
from devtools.gemini_rules import (
    RULES,
    ActivityWindow,
    Referee,
    SessionState,
    Violation,
    _Connection,
    _Session,
)
from devtools.gemini_steps import (
    Close,
    GoAway,
    Pause,
    Refuse,
    Resumed,
    Send,
    Step,
    ToolCall,
    WaitForAudio,
    WaitForClientContent,
    WaitForToolResponse,
    close,
    go_away,
    pause,
    refuse,
    refuse_expired_key,
    refuse_invalid_config,
    refuse_unknown_model,
    resumed,
    tool_call,
    wait_for_audio,
    wait_for_client_content,
    wait_for_tool_response,
)

__all__ = [
    "BAD_KEY_REASON",
    "DEFAULT_STEP_TIMEOUT",
    "EXPIRED_KEY_REASON",
    "GO_AWAY_CLOSE",
    "INVALID_ARGUMENT",
    "MAX_CLOSE_REASON_BYTES",
    "MODEL_AUDIO_RATE",
    "RESUME_WHILE_OPEN",
    "RULES",
    "UNKNOWN_HANDLE",
    "UNKNOWN_MODEL_CODE",
    "UNKNOWN_MODEL_REASON",
    "USER_AUDIO_RATE",
    "WS_PATH",
    "ActivityWindow",
    "AudioChunk",
    "ClientMessage",
    "Close",
    "EmulatorScriptError",
    "FunctionResponse",
    "GeminiLiveEmulator",
    "GoAway",
    "PacedSend",
    "Pause",
    "Refuse",
    "Resumed",
    "Send",
    "SessionState",
    "Setup",
    "Step",
    "ToolCall",
    "Violation",
    "WaitForAudio",
    "WaitForClientContent",
    "WaitForToolResponse",
    "_Connection",
    "close",
    "close_reason",
    "generation_complete",
    "go_away",
    "input_transcription",
    "interrupted",
    "model_audio",
    "not_resumable",
    "output_transcription",
    "pause",
    "pick",
    "refuse",
    "refuse_expired_key",
    "refuse_invalid_config",
    "refuse_unknown_model",
    "resumed",
    "resumption_update",
    "send",
    "send_tool_call",
    "tone",
    "tool_call",
    "tool_call_cancellation",
    "transcription_fragments",
    "turn_complete",
    "wait_for_audio",
    "wait_for_client_content",
    "wait_for_tool_response",
]


# --- the server -----------------------------------------------------------------------------


class GeminiLiveEmulator:
    """A TLS websocket server on 127.0.0.1 that plays a Gemini Live script.

    Args:
        script: The steps to play, in order.
        step_timeout: Seconds a wait step may take before the script fails.
        refuse_first: Refuse this many connections (the first ones) right after their setup,
            before the script sees them.
        refuse_code: The close code of those refusals (1011: the service is unavailable;
            1011 "The service is currently unavailable." is logged in
            kazunori279/adk-streaming-guide issue 11).
        auto_resumption: Issue session-resumption handles by itself (see the module text).
        relax: Rules (``RULES``) to record without enforcing, to play a lenient older server.
        models: The model names the service serves (``"models/..."``); a setup naming another
            is refused as the real service refuses an unknown or retired model (1008, see
            ``UNKNOWN_MODEL_REASON``). None serves every name.

    Attributes:
        received: Every client message, in arrival order, across connections.
        errors: Script failures (the script stops at the first one).
        refused: ``(connection, code)`` of every connection refused outside the script.
        go_away_closes: Connections still open when their goAway time ran out (so closed).
        violations: Every breach of the protocol the client made (see ``devtools.gemini_rules``).
        activity_windows: The client's ``activityStart``/``activityEnd`` windows, with times.
    """

    def __init__(
        self,
        script: list[Step] | None = None,
        *,
        step_timeout: float = DEFAULT_STEP_TIMEOUT,
        refuse_first: int = 0,
        refuse_code: int = 1011,
        auto_resumption: bool = False,
        relax: Iterable[str] = (),
        models: Iterable[str] | None = None,
    ):
        self.script = list(script or [])
        self.step_timeout = step_timeout
        self.refuse_first = refuse_first
        self.refuse_code = refuse_code
        self.auto_resumption = auto_resumption
        self.referee = Referee(relax)
        self.models = None if models is None else frozenset(models)
        self.refused: list[tuple[int, int]] = []
        self.go_away_closes: list[int] = []
        self._sessions: list[_Session] = []
        self._handles: dict[str, SessionState] = {}
        self._handle_sessions: dict[str, _Session] = {}
        self._timers: list[asyncio.Task[None]] = []
        self.received: list[ClientMessage] = []
        self.errors: list[EmulatorScriptError] = []
        self._connections: list[_Connection] = []
        self._setups: list[Setup] = []
        self._pending: asyncio.Queue[_Connection] = asyncio.Queue()
        self._changed = asyncio.Condition()
        self._script_done = asyncio.Event()
        self._ca = trustme.CA()
        self._server: Server | None = None
        self._driver: asyncio.Task[None] | None = None
        self.port = 0

    # lifecycle

    async def __aenter__(self) -> GeminiLiveEmulator:
        server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
        self._server = await serve(self._handle, "127.0.0.1", 0, ssl=server_ctx)
        self.port = self._server.sockets[0].getsockname()[1]
        self._driver = asyncio.create_task(self._play(), name="gemini-emulator-script")
        return self

    async def __aexit__(self, exc_type: object, exc: object, tb: object) -> None:
        for timer in self._timers:
            timer.cancel()
        await asyncio.gather(*self._timers, return_exceptions=True)
        if self._driver:
            self._driver.cancel()
            await asyncio.gather(self._driver, return_exceptions=True)
        if self._server:
            self._server.close()
            await self._server.wait_closed()
        # A failed step should fail the test even if nobody called finished().
        if exc_type is None and self.errors:
            raise self.errors[0]

    # client-side settings

    @property
    def base_url(self) -> str:
        """The ``https://`` base URL to give google-genai (it switches to ``wss://`` itself)."""
        return f"https://127.0.0.1:{self.port}"

    @property
    def ca_pem(self) -> bytes:
        """The test CA certificate (PEM), for a client in another process to trust."""
        return self._ca.cert_pem.bytes()

    @property
    def ssl_context(self) -> ssl.SSLContext:
        """A client SSL context that trusts the emulator's test CA."""
        ctx = ssl.create_default_context()
        self._ca.configure_trust(ctx)
        return ctx

    def http_options(self) -> Any:
        """google-genai ``HttpOptions`` pointing at the emulator (websocket SSL via ``ssl``)."""
        from google.genai.types import HttpOptions

        return HttpOptions(base_url=self.base_url, async_client_args={"ssl": self.ssl_context})

    # what the client sent

    @property
    def connection_count(self) -> int:
        """How many connections the client has opened."""
        return len(self._connections)

    @property
    def setups(self) -> list[Setup]:
        """The setup of each connection, in order."""
        return list(self._setups)

    @property
    def audio_chunks(self) -> list[AudioChunk]:
        """Every realtime audio chunk, in order."""
        return [chunk for message in self.received for chunk in _audio_in(message)]

    @property
    def heard_audio_chunks(self) -> list[AudioChunk]:
        """The audio chunks the server took in (not those it discarded), in order."""
        return [chunk for message in self.received for chunk in _heard_audio(message)]

    @property
    def violations(self) -> list[Violation]:
        """Every breach of the protocol by the client, in order."""
        return list(self.referee.violations)

    @property
    def activity_windows(self) -> list[ActivityWindow]:
        """The client's activity windows (``activityStart`` ... ``activityEnd``), in order."""
        return list(self.referee.activity_windows)

    def violated(self, rule: str) -> list[Violation]:
        """The violations of one rule (a name from ``RULES``)."""
        if rule not in RULES:
            raise ValueError(f"unknown rule {rule!r}; known: {sorted(RULES)}")
        return [v for v in self.referee.violations if v.rule == rule]

    @property
    def audio_bytes(self) -> int:
        """Total PCM bytes of realtime audio received."""
        return sum(len(chunk.data) for chunk in self.audio_chunks)

    def expire_handles(self) -> None:
        """Forget every handle issued so far, as when the service stops accepting them.

        A resume with such a handle is then refused with 1007 (see ``UNKNOWN_HANDLE``).
        """
        self._handles.clear()
        self._handle_sessions.clear()

    @property
    def session_count(self) -> int:
        """How many sessions were started (a resume continues one, it does not start one)."""
        return len(self._sessions)

    def session_state(self, session: int = 0) -> SessionState:
        """A copy of what session ``session`` holds now."""
        return self._sessions[session].state.copy()

    @property
    def client_contents(self) -> list[ClientMessage]:
        """The client_content messages (turns, turn_complete), in order."""
        return [m for m in self.received if m.kind == "client_content"]

    @property
    def function_responses(self) -> list[FunctionResponse]:
        """Every function response from tool_response messages, in order."""
        return [r for message in self.received for r in _function_responses(message)]

    # The wait methods take ``timeout`` like the step factories do, hence the ASYNC109 waivers.
    async def wait_until(
        self,
        predicate: Callable[[GeminiLiveEmulator], bool],
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> None:
        """Wait until ``predicate(self)`` holds; re-checked on every client message or close.

        Raises:
            TimeoutError: If it does not hold within ``timeout`` (default: the step timeout).
        """
        async with asyncio.timeout(timeout or self.step_timeout):
            async with self._changed:
                await self._changed.wait_for(lambda: predicate(self))

    async def finished(self, timeout: float | None = None) -> None:  # noqa: ASYNC109
        """Wait for the script to end.

        Raises:
            EmulatorScriptError: If a step failed, or the script did not end in time.
        """
        limit = timeout or self.step_timeout
        try:
            async with asyncio.timeout(limit):
                await self._script_done.wait()
        except TimeoutError:
            raise EmulatorScriptError(f"script still running after {limit}s") from None
        if self.errors:
            raise self.errors[0]

    # internals

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _handle(self, ws: ServerConnection) -> None:
        """Record one connection's messages; the script decides whether to accept it."""
        if ws.request is None or ws.request.path != WS_PATH:
            path = ws.request.path if ws.request else None
            self.errors.append(EmulatorScriptError(f"client used unexpected path {path!r}"))
            await ws.close(1008, "unknown method")
            return
        conn = _Connection(len(self._connections), ws, ws.request.headers.get("x-goog-api-key"))
        self._connections.append(conn)
        try:
            async for raw in ws:
                message = json.loads(raw)
                kind, body = next(iter(message.items()))
                record = ClientMessage(
                    conn.index,
                    re.sub(r"(?<!^)([A-Z])", r"_\1", kind).lower(),
                    body,
                    at=time.monotonic(),
                )
                if record.kind == "setup" and not conn.messages:
                    conn.messages.append(record)
                    self.received.append(record)
                    setup = Setup.parse(conn.index, body, conn.api_key)
                    conn.setup = setup
                    self._setups.append(setup)
                    if await self._admit(conn, setup):
                        await self._pending.put(conn)
                else:
                    verdict = self.referee.check(conn, record)
                    if not verdict.heard:
                        record = replace(record, heard=False)
                    conn.messages.append(record)
                    self.received.append(record)
                    await self._consume_into_state(conn, record)
                    if verdict.close is not None:
                        await conn.ws.close(*verdict.close)
                        conn.closed = True
                await self._notify()
        except ConnectionClosed:
            pass  # the client may leave with 1000, 1001, 1006 or 1011 when the pipeline stops
        finally:
            conn.closed = True
            self.referee.connection_closed(conn)
            await self._notify()

    async def _admit(self, conn: _Connection, setup: Setup) -> bool:
        """Attach a connection to its session, or refuse it as the real service would."""
        refusal: tuple[int, str] | None = None
        session: _Session | None = None
        if conn.index < self.refuse_first:
            refusal = (self.refuse_code, "The service is currently unavailable.")
        elif self.models is not None and setup.model not in self.models:
            text = UNKNOWN_MODEL_REASON.format(model=setup.model or "models/")
            refusal = (UNKNOWN_MODEL_CODE, close_reason(text))
        elif (bad_setup := self.referee.admit(conn, setup)) is not None:
            refusal = bad_setup
        elif setup.resumption_handle is not None:
            session = self._handle_sessions.get(setup.resumption_handle)
            if session is None:
                refusal = UNKNOWN_HANDLE
            elif session.connection is not None and session.connection.ws.state is State.OPEN:
                refusal = RESUME_WHILE_OPEN
        if refusal is not None:
            self.refused.append((conn.index, refusal[0]))
            await conn.ws.close(*refusal)
            conn.closed = True
            return False
        if session is None:
            session = _Session(len(self._sessions))
            self._sessions.append(session)
        else:
            assert setup.resumption_handle is not None
            session.state = self._handles[setup.resumption_handle].copy()
        session.connection = conn
        conn.session = session
        return True

    async def _consume_into_state(self, conn: _Connection, message: ClientMessage) -> None:
        """Fold a client message into its session's state (and answer with a handle)."""
        session = conn.session
        if session is None:
            return
        state = session.state
        state.audio_bytes += sum(len(chunk.data) for chunk in _heard_audio(message))
        # The referee has already moved answered ids from open to answered.
        answered = [r.id for r in _function_responses(message) if r.id]
        if answered and not state.open_tool_calls and self.auto_resumption and not conn.closed:
            await self._issue_handle(conn)

    async def _issue_handle(self, conn: _Connection) -> None:
        session = conn.session
        assert session is not None
        handle = f"emu-{session.index}-{len(self._handles)}"
        await self.send(conn, {"sessionResumptionUpdate": {"newHandle": handle, "resumable": True}})

    async def send(self, conn: _Connection, message: dict[str, Any]) -> None:
        """Send one server message, keeping the session's state and handles in step."""
        await conn.ws.send(json.dumps(message))
        session = conn.session
        if session is None:
            return
        state = session.state
        calls = pick(pick(message, "tool_call"), "function_calls", []) or []
        state.open_tool_calls.extend(str(pick(call, "id")) for call in calls)
        cancelled = pick(pick(message, "tool_call_cancellation"), "ids", []) or []
        for call_id in map(str, cancelled):
            if call_id in state.open_tool_calls:
                state.open_tool_calls.remove(call_id)
            state.cancelled_tool_calls.append(call_id)
        if calls or pick(message.get("serverContent"), "model_turn"):
            self.referee.model_spoke(state)
        update = message.get("sessionResumptionUpdate")
        if update and update.get("newHandle") and update.get("resumable", True):
            # The handle restores the state as it is now.
            self._handles[update["newHandle"]] = state.copy()
            self._handle_sessions[update["newHandle"]] = session
        if not self.auto_resumption:
            return
        if calls:
            # No resumable handle while a function call is open (Elo's Pipecat notes, December
            # 2026: "During function calls the server sends sessionResumptionUpdate with
            # resumable: false"); a handle of a not-resumable state is empty (google-genai
            # types.LiveServerSessionResumptionUpdate.new_handle: "Empty if resumable=false").
            await conn.ws.send(json.dumps({"sessionResumptionUpdate": {"resumable": False}}))
        elif pick(message.get("serverContent"), "turn_complete") and not state.open_tool_calls:
            await self._issue_handle(conn)

    def close_after(self, conn: _Connection, seconds: float) -> None:
        """Close ``conn`` as the server does once a goAway's time is up (in the background)."""
        self._timers.append(asyncio.create_task(self._close_later(conn, seconds)))

    async def _close_later(self, conn: _Connection, seconds: float) -> None:
        await asyncio.sleep(seconds)
        if conn.ws.state is State.OPEN:
            self.go_away_closes.append(conn.index)
            await conn.ws.close(*GO_AWAY_CLOSE)
        conn.closed = True
        await self._notify()

    async def _accept_next(self) -> _Connection:
        conn = await self._pending.get()
        await conn.ws.send(json.dumps({"setupComplete": {}}))
        return conn

    async def _play(self) -> None:
        conn: _Connection | None = None
        try:
            for index, step in enumerate(self.script):
                try:
                    if step.takes_new_connection:
                        target = await self._pending.get()
                        if isinstance(step, Resumed):
                            conn = target
                    else:
                        if conn is None or conn.closed:
                            conn = await self._accept_next()
                        target = conn
                    await step.run(self, target)
                except Exception as e:  # any failure ends the script and fails the test
                    self.errors.append(EmulatorScriptError(f"step {index} {step!r} failed: {e!r}"))
                    break
        finally:
            self._script_done.set()
        # Keep serving reconnects so a client never hangs waiting for setupComplete.
        while True:
            await self._accept_next()

    async def consume(
        self,
        conn: _Connection,
        done: Callable[[ClientMessage], bool],
        what: str,
        limit: float | None,
    ) -> ClientMessage:
        """Read ``conn``'s messages from the cursor on until ``done`` says so; return that one."""

        def advance() -> ClientMessage | None:
            while conn.cursor < len(conn.messages):
                message = conn.messages[conn.cursor]
                conn.cursor += 1
                if done(message):
                    return message
            if conn.closed:
                raise EmulatorScriptError(f"connection {conn.index} closed during {what}")
            return None

        limit = limit or self.step_timeout
        try:
            async with asyncio.timeout(limit), self._changed:
                while (found := advance()) is None:
                    await self._changed.wait()
                return found
        except TimeoutError:
            raise EmulatorScriptError(f"{what} timed out after {limit}s") from None
