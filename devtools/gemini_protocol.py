"""The Gemini Live wire protocol as the emulator reads and writes it.

What the client sends (setup, realtime audio, tool responses), parsed into small records, and the
server-side message helpers. Split from :mod:`devtools.gemini_emulator`, which re-exports all of it.
"""

from __future__ import annotations

import base64
import math
import re
from array import array
from dataclasses import dataclass
from typing import Any

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
# The service's text for a request it refuses as invalid (close 1007): logged for a refused
# tool response (firebase/firebase-js-sdk issue 9264: "WebSocket connection closed by server.
# Reason: 'Request contains an invalid argument.'"), for mid-call clientContent on 3.1
# (yagudaev/voiceclaw PR 248) and for mediaChunks on 3.1 (aicc2025/sip-to-ai PR 5).
INVALID_ARGUMENT = (1007, "Request contains an invalid argument.")
# An expired key is refused at setup with 1007 and this text (yagudaev/voiceclaw PR 155).
EXPIRED_KEY_REASON = "API key expired. Please renew the API key."
# A model the service does not serve for Live is refused at setup with 1008 and this text,
# cut to the 123 bytes a close frame can carry: "1008 None. models/gemini-2.0-flash-exp is not
# found for API version v1alpha, or is not supported for bidiGenerateContent. Call ListMod"
# (a logged test report, see find_string "is not supported for bidiGenerateContent").
UNKNOWN_MODEL_CODE = 1008
UNKNOWN_MODEL_REASON = (
    "{model} is not found for API version v1beta, or is not supported for bidiGenerateContent."
    " Call ListModels to see the list of available models and their supported methods."
)
# RFC 6455 section 5.5: a control frame carries at most 125 bytes, 2 of them the close code.
MAX_CLOSE_REASON_BYTES = 123


def close_reason(text: str) -> str:
    """``text`` cut to what a close frame carries, as the real service cuts its reasons."""
    return text.encode()[:MAX_CLOSE_REASON_BYTES].decode(errors="ignore")


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
        at: ``time.monotonic()`` when it arrived.
        heard: False for input the server discards (audio outside an activity window while
            automatic activity detection is off): it never counts as the user's speech.
    """

    connection: int
    kind: str
    body: dict[str, Any]
    at: float = 0.0
    heard: bool = True


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

    @property
    def gemini_version(self) -> tuple[int, int] | None:
        """Major and minor version from the model id, as Pipecat reads it; None if absent.

        Same pattern as ``GeminiLiveLLMService._gemini_version`` (pipecat
        ``services/google/gemini_live/llm.py``), so both sides agree on the family.
        """
        match = re.search(r"gemini(?:-[a-z]+)*-(\d+)(?:\.(\d+))?", self.model or "")
        return (int(match.group(1)), int(match.group(2) or 0)) if match else None

    @property
    def is_3x(self) -> bool:
        """Whether the model is of the 3.x Live family (or later)."""
        version = self.gemini_version
        return version is not None and version[0] >= 3

    @property
    def activity_detection_disabled(self) -> bool:
        """``realtimeInputConfig.automaticActivityDetection.disabled``: the client marks turns."""
        config = pick(self.body, "realtime_input_config")
        return bool(pick(pick(config, "automatic_activity_detection"), "disabled", False))

    @property
    def initial_history_in_client_content(self) -> bool:
        """``historyConfig.initialHistoryInClientContent``: history may be seeded first."""
        config = pick(self.body, "history_config")
        return bool(pick(config, "initial_history_in_client_content", False))

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
        will_continue: More responses follow for this call (NON_BLOCKING calls only), so the
            call stays open (google-genai ``types.FunctionResponse.will_continue``).
    """

    connection: int
    id: str | None
    name: str | None
    response: Any
    will_continue: bool = False


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
        FunctionResponse(
            message.connection,
            pick(r, "id"),
            pick(r, "name"),
            pick(r, "response"),
            bool(pick(r, "will_continue", False)),
        )
        for r in pick(message.body, "function_responses", []) or []
    ]


def _heard_audio(message: ClientMessage) -> list[AudioChunk]:
    """The audio of ``message`` the server takes in (none of a discarded message)."""
    return _audio_in(message) if message.heard else []


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
