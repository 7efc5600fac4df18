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
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import re
import ssl
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import trustme
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

WS_PATH = "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
MODEL_AUDIO_RATE = 24_000
USER_AUDIO_RATE = 16_000
DEFAULT_STEP_TIMEOUT = 5.0
BAD_KEY_REASON = "API key not valid. Please pass a valid API key."
# The close after a goAway's timeLeft, as logged against the real service
# (kizuna-ai-lab/sokuji issue 179: goAway {"timeLeft":"50s"}, then close 1011 with this reason).
GO_AWAY_CLOSE = (1011, "Deadline expired before operation could complete.")
# A resume while the session's previous socket is open is refused with 1011 (observed against
# the live service: aicc2025/sip-to-ai PR 14, "Gemini rejects a resume with 1011 while an earlier
# socket of the same session is still open").
RESUME_WHILE_OPEN = (1011, "Internal error encountered.")
# A handle the service no longer accepts is refused with 1007 (discuss.ai.google.dev thread
# 186392, "Live sessions are closed at exactly 58:00 with 1011 Deadline expired; resumption
# afterwards fails with 1007"); 1007 is the service's "Request contains an invalid argument."
# (pipecat issue 4403). The emulator treats a handle it never issued the same way.
UNKNOWN_HANDLE = (1007, "Request contains an invalid argument.")


class EmulatorScriptError(AssertionError):
    """A script step failed: a wait timed out, the client left, or a tool id did not match."""


# --- what the client sent -------------------------------------------------------------------


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def pick(body: Any, name: str, default: Any = None) -> Any:
    """Read a protocol field given in snake_case, accepting its camelCase spelling too.

    Args:
        body: A decoded JSON object (anything else yields ``default``).
        name: The field name in snake_case, e.g. ``"system_instruction"``.
        default: What to return when neither spelling is present.

    Returns:
        The field's value, or ``default``.
    """
    if not isinstance(body, dict):
        return default
    if name in body:
        return body[name]
    return body.get(_camel(name), default)


def _texts(content: Any) -> str:
    """Join the text parts of a Content object (``{"parts": [{"text": ...}]}``)."""
    if isinstance(content, str):
        return content
    parts = pick(content, "parts", []) or []
    return "".join(str(pick(part, "text", "")) for part in parts)


@dataclass(frozen=True)
class ClientMessage:
    """One message from the client, as sent.

    Attributes:
        connection: Index of the connection (0 for the first, 1 after a reconnect, ...).
        kind: The top-level key in snake_case: ``setup``, ``client_content``,
            ``realtime_input``, ``tool_response``, or the raw key if unknown.
        body: The value under that key, keys exactly as the client spelled them.
    """

    connection: int
    kind: str
    body: dict[str, Any]


@dataclass(frozen=True)
class Setup:
    """The setup message of one connection, with the fields tests ask about.

    Attributes:
        connection: Index of the connection.
        model: The model name, e.g. ``"models/gemini-2.5-flash-native-audio-preview-09-2025"``.
        system_instruction: The system instruction's text ("" when absent).
        voice: The prebuilt voice name, or None.
        function_declarations: Every function declaration across the tools.
        resumption_handle: The session-resumption handle the client resumes, or None.
        api_key: The ``x-goog-api-key`` header of the connection, or None.
        body: The whole setup object.
    """

    connection: int
    model: str | None
    system_instruction: str
    voice: str | None
    function_declarations: list[dict[str, Any]]
    resumption_handle: str | None
    api_key: str | None
    body: dict[str, Any]

    @property
    def function_names(self) -> list[str]:
        """Names of the declared functions, in declaration order."""
        return [str(pick(d, "name")) for d in self.function_declarations]

    @classmethod
    def parse(cls, connection: int, body: dict[str, Any], api_key: str | None) -> Setup:
        """Read a setup object as either google-genai or a hand-written client spells it."""
        generation = pick(body, "generation_config", {}) or {}
        voice_config = pick(pick(generation, "speech_config"), "voice_config")
        declarations = [
            declaration
            for tool in pick(body, "tools", []) or []
            for declaration in pick(tool, "function_declarations", []) or []
        ]
        return cls(
            connection=connection,
            model=pick(body, "model"),
            system_instruction=_texts(pick(body, "system_instruction", "")),
            voice=pick(pick(voice_config, "prebuilt_voice_config"), "voice_name"),
            function_declarations=declarations,
            resumption_handle=pick(pick(body, "session_resumption"), "handle"),
            api_key=api_key,
            body=body,
        )


@dataclass(frozen=True)
class AudioChunk:
    """One realtime audio chunk from the client.

    Attributes:
        connection: Index of the connection.
        mime_type: As sent, e.g. ``"audio/pcm;rate=16000"``.
        data: The decoded PCM bytes.
    """

    connection: int
    mime_type: str
    data: bytes

    @property
    def sample_rate(self) -> int:
        """The rate from the MIME type; 16 kHz when the type names none."""
        match = re.search(r"rate=(\d+)", self.mime_type)
        return int(match.group(1)) if match else USER_AUDIO_RATE

    @property
    def seconds(self) -> float:
        """Duration of the chunk, taking it as mono PCM16."""
        return len(self.data) / (2 * self.sample_rate)


@dataclass(frozen=True)
class FunctionResponse:
    """One function response from a tool_response message.

    Attributes:
        connection: Index of the connection.
        id: The tool call id the client echoes back.
        name: The function name the client reports.
        response: The response object (pipecat wraps a result as ``{"value": ...}``).
    """

    connection: int
    id: str | None
    name: str | None
    response: Any


def _b64decode(data: str) -> bytes:
    """Decode base64 in either alphabet: google-genai sends the URL-safe one."""
    return base64.urlsafe_b64decode(
        data.replace("+", "-").replace("/", "_") + "=" * (-len(data) % 4)
    )


def _audio_in(message: ClientMessage) -> list[AudioChunk]:
    """Audio blobs of a realtime_input message (``audio`` or the legacy ``media_chunks``)."""
    if message.kind != "realtime_input":
        return []
    blobs = [pick(message.body, "audio"), *(pick(message.body, "media_chunks", []) or [])]
    return [
        AudioChunk(message.connection, str(pick(blob, "mime_type", "")), _b64decode(data))
        for blob in blobs
        if (data := pick(blob, "data")) and str(pick(blob, "mime_type", "")).startswith("audio/")
    ]


def _function_responses(message: ClientMessage) -> list[FunctionResponse]:
    if message.kind != "tool_response":
        return []
    return [
        FunctionResponse(message.connection, pick(r, "id"), pick(r, "name"), pick(r, "response"))
        for r in pick(message.body, "function_responses", []) or []
    ]


# --- server messages ------------------------------------------------------------------------


def tone(seconds: float, *, frequency: float = 440.0, rate: int = MODEL_AUDIO_RATE) -> bytes:
    """A mono PCM16 sine tone, half scale.

    Args:
        seconds: Duration.
        frequency: Pitch in Hz.
        rate: Sample rate in Hz.

    Returns:
        Little-endian 16-bit samples.
    """
    samples = array(
        "h",
        (
            int(16_000 * math.sin(2 * math.pi * frequency * i / rate))
            for i in range(int(seconds * rate))
        ),
    )
    return samples.tobytes()


def _server_content(**fields: Any) -> dict[str, Any]:
    return {"serverContent": fields}


# --- the script -----------------------------------------------------------------------------


@dataclass
class SessionState:
    """What a session holds server-side; a resumption handle restores a copy of it.

    Attributes:
        audio_bytes: Realtime audio consumed, in bytes.
        open_tool_calls: Ids of tool calls sent and not answered yet.
        answered_tool_calls: Ids of tool calls answered, in order (a repeat shows a double).
    """

    audio_bytes: int = 0
    open_tool_calls: list[str] = field(default_factory=list)
    answered_tool_calls: list[str] = field(default_factory=list)

    def copy(self) -> SessionState:
        """An independent copy (a snapshot for a handle)."""
        return SessionState(
            self.audio_bytes, list(self.open_tool_calls), list(self.answered_tool_calls)
        )


@dataclass
class _Session:
    index: int
    state: SessionState = field(default_factory=SessionState)
    connection: _Connection | None = None


@dataclass
class _Connection:
    index: int
    ws: ServerConnection
    api_key: str | None
    messages: list[ClientMessage] = field(default_factory=list)
    cursor: int = 0
    closed: bool = False
    session: _Session | None = None


class Step:
    """One scripted action. Subclasses implement ``run``."""

    # Refuse takes a fresh connection instead of the current one.
    takes_new_connection: ClassVar[bool] = False

    async def run(self, emu: GeminiLiveEmulator, conn: _Connection) -> None:
        """Perform the step on ``conn``."""
        raise NotImplementedError


@dataclass
class Send(Step):
    """Send server messages as they are (camelCase JSON objects)."""

    label: str
    # Left out of the repr: audio payloads would swamp failure messages.
    messages: list[dict[str, Any]] = field(repr=False)

    async def run(self, emu: GeminiLiveEmulator, conn: _Connection) -> None:
        """Send each message in order."""
        for message in self.messages:
            await emu._send(conn, message)


@dataclass
class WaitForAudio(Step):
    """Wait until the client has streamed this much audio (seconds or bytes, whichever given)."""

    seconds: float | None = None
    nbytes: int | None = None
    timeout: float | None = None

    async def run(self, emu: GeminiLiveEmulator, conn: _Connection) -> None:
        """Consume realtime audio messages until the target is reached."""
        got_bytes, got_seconds = 0, 0.0

        def enough(message: ClientMessage) -> bool:
            nonlocal got_bytes, got_seconds
            for chunk in _audio_in(message):
                got_bytes += len(chunk.data)
                got_seconds += chunk.seconds
            return (self.nbytes is not None and got_bytes >= self.nbytes) or (
                self.seconds is not None and got_seconds >= self.seconds - 1e-9
            )

        await emu._consume(conn, enough, f"{self!r}", self.timeout)


@dataclass
class WaitForClientContent(Step):
    """Wait for a client_content message, optionally one with this turn_complete value."""

    turn_complete: bool | None = None
    timeout: float | None = None

    async def run(self, emu: GeminiLiveEmulator, conn: _Connection) -> None:
        """Consume messages up to the matching client_content."""

        def matches(message: ClientMessage) -> bool:
            return message.kind == "client_content" and (
                self.turn_complete is None
                or bool(pick(message.body, "turn_complete", False)) == self.turn_complete
            )

        await emu._consume(conn, matches, f"{self!r}", self.timeout)


@dataclass
class ToolCall(Step):
    """Send a toolCall, then wait for the tool_response that answers it (ids must round-trip)."""

    name: str
    args: dict[str, Any]
    id: str
    timeout: float | None = None

    async def run(self, emu: GeminiLiveEmulator, conn: _Connection) -> None:
        """Send the call and check the next tool_response carries our id."""
        call = {"id": self.id, "name": self.name, "args": self.args}
        await emu._send(conn, {"toolCall": {"functionCalls": [call]}})
        answer = await emu._consume(
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

    async def run(self, emu: GeminiLiveEmulator, conn: _Connection) -> None:
        """Close and wait until the socket is down."""
        await conn.ws.close(self.code, self.reason)
        conn.closed = True


@dataclass
class Refuse(Step):
    """Close the client's next connection right after its setup, as a bad API key does."""

    code: int = 1008
    reason: str = BAD_KEY_REASON
    takes_new_connection: ClassVar[bool] = True

    async def run(self, emu: GeminiLiveEmulator, conn: _Connection) -> None:
        """Close without setupComplete."""
        await conn.ws.close(self.code, self.reason)
        conn.closed = True


@dataclass
class WaitForToolResponse(Step):
    """Wait for the tool_response answering ``id`` (after :func:`send_tool_call`)."""

    id: str
    timeout: float | None = None

    async def run(self, emu: GeminiLiveEmulator, conn: _Connection) -> None:
        """Consume messages up to a tool_response carrying ``id``."""

        def answers(message: ClientMessage) -> bool:
            return any(r.id == self.id for r in _function_responses(message))

        await emu._consume(conn, answers, f"{self!r}", self.timeout)


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

    async def run(self, emu: GeminiLiveEmulator, conn: _Connection) -> None:
        """Send the warning and schedule the close."""
        await emu._send(conn, {"goAway": {"timeLeft": self.time_left}})
        if self.close_after:
            seconds = float(self.time_left.rstrip("s") or 0)
            emu._timers.append(asyncio.create_task(emu._close_later(conn, seconds)))


@dataclass
class Resumed(Step):
    """Wait for the client's next connection and continue the script on it.

    Used after a goAway, so the steps after it never race the client's switch to a new socket.
    """

    takes_new_connection: ClassVar[bool] = True

    async def run(self, emu: GeminiLiveEmulator, conn: _Connection) -> None:
        """Accept the connection (setupComplete); :meth:`GeminiLiveEmulator._play` adopts it."""
        await conn.ws.send(json.dumps({"setupComplete": {}}))


@dataclass
class Pause(Step):
    """Do nothing for a while (e.g. to let the client act between two server messages)."""

    seconds: float

    async def run(self, emu: GeminiLiveEmulator, conn: _Connection) -> None:
        """Sleep."""
        await asyncio.sleep(self.seconds)


def wait_for_audio(
    seconds: float | None = None, *, nbytes: int | None = None, timeout: float | None = None
) -> WaitForAudio:
    """Wait until the client has streamed ``seconds`` (or ``nbytes``) of audio."""
    if seconds is None and nbytes is None:
        raise ValueError("give seconds or nbytes")
    return WaitForAudio(seconds=seconds, nbytes=nbytes, timeout=timeout)


def wait_for_client_content(
    turn_complete: bool | None = None, *, timeout: float | None = None
) -> WaitForClientContent:
    """Wait for a client_content message (e.g. the seeded context turn)."""
    return WaitForClientContent(turn_complete=turn_complete, timeout=timeout)


def model_audio(
    seconds: float = 0.1,
    *,
    data: bytes | None = None,
    chunk_ms: int = 40,
    frequency: float = 440.0,
) -> Send:
    """Send model audio as 24 kHz PCM16 modelTurn chunks: ``data``, or a tone of ``seconds``."""
    pcm = data if data is not None else tone(seconds, frequency=frequency)
    size = MODEL_AUDIO_RATE * 2 * chunk_ms // 1000
    blob = {"mimeType": f"audio/pcm;rate={MODEL_AUDIO_RATE}"}
    return Send(
        f"model_audio({len(pcm)} bytes)",
        [
            _server_content(
                modelTurn={
                    "parts": [
                        {
                            "inlineData": {
                                **blob,
                                "data": base64.b64encode(pcm[i : i + size]).decode(),
                            }
                        }
                    ]
                }
            )
            for i in range(0, len(pcm), size)
        ],
    )


def input_transcription(text: str) -> Send:
    """Send what the model heard the user say."""
    return Send(
        f"input_transcription({text!r})", [_server_content(inputTranscription={"text": text})]
    )


def output_transcription(text: str) -> Send:
    """Send the text of what the model is saying."""
    return Send(
        f"output_transcription({text!r})", [_server_content(outputTranscription={"text": text})]
    )


def interrupted() -> Send:
    """Tell the client the user barged in."""
    return Send("interrupted()", [_server_content(interrupted=True)])


def turn_complete(prompt_tokens: int = 10, response_tokens: int = 5) -> Send:
    """End the model's turn, with the usageMetadata the real service always sends alongside."""
    usage = {
        "promptTokenCount": prompt_tokens,
        "responseTokenCount": response_tokens,
        "totalTokenCount": prompt_tokens + response_tokens,
    }
    return Send(
        "turn_complete()", [{"serverContent": {"turnComplete": True}, "usageMetadata": usage}]
    )


def tool_call(
    name: str, args: dict[str, Any] | None = None, *, id: str, timeout: float | None = None
) -> ToolCall:
    """Call a function and wait for the client's tool_response with the same ``id``."""
    return ToolCall(name=name, args=args or {}, id=id, timeout=timeout)


def resumption_update(handle: str, *, resumable: bool = True) -> Send:
    """Give the client a session-resumption handle."""
    update = {"newHandle": handle, "resumable": resumable}
    return Send(f"resumption_update({handle!r})", [{"sessionResumptionUpdate": update}])


def go_away(time_left: str = "10s", *, close_after: bool = True) -> GoAway:
    """Warn the client that the server closes the connection in ``time_left``, then do so."""
    return GoAway(time_left=time_left, close_after=close_after)


def send_tool_call(name: str, args: dict[str, Any] | None = None, *, id: str) -> Send:
    """Send a toolCall without waiting for its answer (see :func:`wait_for_tool_response`)."""
    call = {"id": id, "name": name, "args": args or {}}
    return Send(f"send_tool_call({name!r}, id={id!r})", [{"toolCall": {"functionCalls": [call]}}])


def wait_for_tool_response(id: str, *, timeout: float | None = None) -> WaitForToolResponse:
    """Wait for the tool_response answering call ``id``."""
    return WaitForToolResponse(id=id, timeout=timeout)


def resumed() -> Resumed:
    """Continue the script on the client's next (resumed) connection."""
    return Resumed()


def close(code: int = 1011, reason: str = "Internal error encountered.") -> Close:
    """Drop the current connection mid-call."""
    return Close(code=code, reason=reason)


def refuse(code: int = 1008, reason: str = BAD_KEY_REASON) -> Refuse:
    """Refuse the next connection after its setup (a bad API key closes with 1008)."""
    return Refuse(code=code, reason=reason)


def pause(seconds: float) -> Pause:
    """Wait a fixed time between two steps."""
    return Pause(seconds)


def send(*messages: dict[str, Any]) -> Send:
    """Send arbitrary server messages (camelCase), for cases the helpers do not cover."""
    return Send("send()", list(messages))


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

    Attributes:
        received: Every client message, in arrival order, across connections.
        errors: Script failures (the script stops at the first one).
        refused: ``(connection, code)`` of every connection refused outside the script.
        go_away_closes: Connections still open when their goAway time ran out (so closed).
    """

    def __init__(
        self,
        script: list[Step] | None = None,
        *,
        step_timeout: float = DEFAULT_STEP_TIMEOUT,
        refuse_first: int = 0,
        refuse_code: int = 1011,
        auto_resumption: bool = False,
    ):
        self.script = list(script or [])
        self.step_timeout = step_timeout
        self.refuse_first = refuse_first
        self.refuse_code = refuse_code
        self.auto_resumption = auto_resumption
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
                    conn.index, re.sub(r"(?<!^)([A-Z])", r"_\1", kind).lower(), body
                )
                conn.messages.append(record)
                self.received.append(record)
                if record.kind == "setup" and len(conn.messages) == 1:
                    setup = Setup.parse(conn.index, body, conn.api_key)
                    self._setups.append(setup)
                    if await self._admit(conn, setup):
                        await self._pending.put(conn)
                else:
                    await self._consume_into_state(conn, record)
                await self._notify()
        except ConnectionClosed:
            pass  # the client may leave with 1000, 1001, 1006 or 1011 when the pipeline stops
        finally:
            conn.closed = True
            await self._notify()

    async def _admit(self, conn: _Connection, setup: Setup) -> bool:
        """Attach a connection to its session, or refuse it as the real service would."""
        refusal: tuple[int, str] | None = None
        session: _Session | None = None
        if conn.index < self.refuse_first:
            refusal = (self.refuse_code, "The service is currently unavailable.")
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
        state.audio_bytes += sum(len(chunk.data) for chunk in _audio_in(message))
        answered = [r.id for r in _function_responses(message) if r.id]
        for call_id in answered:
            if call_id in state.open_tool_calls:
                state.open_tool_calls.remove(call_id)
            state.answered_tool_calls.append(call_id)
        if answered and not state.open_tool_calls and self.auto_resumption:
            await self._issue_handle(conn)

    async def _issue_handle(self, conn: _Connection) -> None:
        session = conn.session
        assert session is not None
        handle = f"emu-{session.index}-{len(self._handles)}"
        await self._send(
            conn, {"sessionResumptionUpdate": {"newHandle": handle, "resumable": True}}
        )

    async def _send(self, conn: _Connection, message: dict[str, Any]) -> None:
        """Send one server message, keeping the session's state and handles in step."""
        await conn.ws.send(json.dumps(message))
        session = conn.session
        if session is None:
            return
        state = session.state
        calls = pick(pick(message, "tool_call"), "function_calls", []) or []
        state.open_tool_calls.extend(str(pick(call, "id")) for call in calls)
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

    async def _consume(
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
