"""Server messages for the Gemini Live emulator's scripts: audio, transcripts, turn signals.

Each builder sends what the real service sends, as the google-genai types and public logs show
it (cited per builder). Re-exported by :mod:`devtools.gemini_emulator`.
"""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass
from typing import Any

from devtools.gemini_protocol import MODEL_AUDIO_RATE, _server_content, tone
from devtools.gemini_rules import StepPlayer, _Connection
from devtools.gemini_steps import Send


@dataclass
class PacedSend(Send):
    """Send messages in bursts of ``burst``, waiting ``gap`` seconds after each burst."""

    burst: int = 1
    gap: float = 0.0

    async def run(self, emu: StepPlayer, conn: _Connection) -> None:
        """Send burst by burst."""
        for start in range(0, len(self.messages), self.burst):
            for message in self.messages[start : start + self.burst]:
                await emu.send(conn, message)
            await asyncio.sleep(self.gap)


def model_audio(
    seconds: float = 0.1,
    *,
    data: bytes | None = None,
    chunk_ms: int = 40,
    frequency: float = 440.0,
    burst: int | None = None,
    pace: float | None = None,
) -> Send:
    """Send model audio as 24 kHz PCM16 modelTurn chunks: ``data``, or a tone of ``seconds``.

    By default every chunk goes at once: the real service generates "as quickly as possible,
    and not in real time" (google-genai ``types.LiveServerContent``). With ``burst`` and/or
    ``pace`` the chunks come in bursts of ``burst`` chunks, on average at ``pace`` times real
    time (0.5: half as fast as it plays), as observed: "The Gemini Live API sends audio in
    bursts [...] Gemini Live sometimes doesn't produce audio as fast as real-time" (livekit/
    agents issue 3604, its maintainer's answer).

    Args:
        seconds: Length of the tone when no ``data`` is given.
        data: PCM16 at 24 kHz to send instead of a tone.
        chunk_ms: Audio per message.
        frequency: Pitch of the tone.
        burst: Chunks per burst (1 when only ``pace`` is given).
        pace: Arrival speed against real time (1.0 when only ``burst`` is given).
    """
    pcm = data if data is not None else tone(seconds, frequency=frequency)
    size = MODEL_AUDIO_RATE * 2 * chunk_ms // 1000
    blob = {"mimeType": f"audio/pcm;rate={MODEL_AUDIO_RATE}"}
    messages = [
        _server_content(
            modelTurn={
                "parts": [
                    {"inlineData": {**blob, "data": base64.b64encode(pcm[i : i + size]).decode()}}
                ]
            }
        )
        for i in range(0, len(pcm), size)
    ]
    label = f"model_audio({len(pcm)} bytes)"
    if burst is None and pace is None:
        return Send(label, messages)
    burst, pace = burst or 1, pace or 1.0
    if burst < 1 or pace <= 0:
        raise ValueError("burst must be >= 1 and pace > 0")
    gap = burst * chunk_ms / 1000 / pace
    return PacedSend(f"{label} burst={burst} pace={pace}", messages, burst=burst, gap=gap)


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
    """Tell the client the user barged in.

    The real order after a barge-in is ``interrupted`` then ``turnComplete``, with no
    ``generationComplete`` (google-genai ``types.LiveServerContent.generation_complete``: "When
    model is interrupted while generating there will be no generation_complete message in
    interrupted turn, it will go through interrupted > turn_complete").
    """
    return Send("interrupted()", [_server_content(interrupted=True)])


def generation_complete() -> Send:
    """The model has generated its whole turn; ``turnComplete`` follows once it has played.

    google-genai ``types.LiveServerContent.generation_complete``: "When model assumes realtime
    playback there will be delay between generation_complete and turn_complete"; seen on the
    wire as ``generationComplete`` then ``turnComplete`` (maximhq/bifrost PR 4988).
    """
    return Send("generation_complete()", [_server_content(generationComplete=True)])


def transcription_fragments(text: str, *, pieces: int = 3, kind: str = "output") -> Send:
    """Send ``text`` as ``pieces`` transcription fragments, one message each.

    Transcripts come in pieces and with no fixed place against the audio or the turn: "The
    transcription is independent to the model turn which means it doesn't imply any ordering
    between transcription and model turn" (google-genai ``types.LiveServerContent.
    output_transcription`` and ``input_transcription``). Put this step after the audio, or
    after ``turn_complete()``, to play late fragments.

    Args:
        text: The whole transcript; the fragments are split at spaces and join back to it.
        pieces: How many fragments (fewer when the text has fewer words).
        kind: ``"output"`` (what the model says) or ``"input"`` (what it heard).
    """
    if kind not in ("output", "input"):
        raise ValueError("kind is 'output' or 'input'")
    words = text.split(" ")
    per = max(1, -(-len(words) // pieces))
    chunks = [" ".join(words[i : i + per]) for i in range(0, len(words), per)]
    # Keep the spaces between fragments, as the service's fragments carry them.
    fragments = [chunk + (" " if i < len(chunks) - 1 else "") for i, chunk in enumerate(chunks)]
    field_name = f"{kind}Transcription"
    return Send(
        f"transcription_fragments({text!r}, {kind})",
        [_server_content(**{field_name: {"text": fragment}}) for fragment in fragments],
    )


def tool_call_cancellation(*ids: str) -> Send:
    """Withdraw tool calls: the user interrupted the turn that made them.

    google-genai ``types.LiveServerToolCallCancellation``: "a previously issued ToolCallMessage
    with the specified ids should have been not executed and should be cancelled [...] This
    message occurs only in cases where the clients interrupt server turns." A response for a
    withdrawn id is then refused (see ``devtools.gemini_rules``).
    """
    return Send(f"tool_call_cancellation{ids!r}", [{"toolCallCancellation": {"ids": list(ids)}}])


def not_resumable() -> Send:
    """Say the session cannot be resumed now (e.g. while a function call runs).

    google-genai ``types.LiveServerSessionResumptionUpdate.resumable``: "we send update empty
    new_handle and resumable=false. Example of such case could be model executing function
    calls"; proto3 JSON leaves the empty handle out.
    """
    return Send("not_resumable()", [{"sessionResumptionUpdate": {"resumable": False}}])


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


def resumption_update(handle: str, *, resumable: bool = True) -> Send:
    """Give the client a session-resumption handle."""
    update = {"newHandle": handle, "resumable": resumable}
    return Send(f"resumption_update({handle!r})", [{"sessionResumptionUpdate": update}])


def send_tool_call(name: str, args: dict[str, Any] | None = None, *, id: str) -> Send:
    """Send a toolCall without waiting for its answer (see :func:`wait_for_tool_response`)."""
    call = {"id": id, "name": name, "args": args or {}}
    return Send(f"send_tool_call({name!r}, id={id!r})", [{"toolCall": {"functionCalls": [call]}}])


def send(*messages: dict[str, Any]) -> Send:
    """Send arbitrary server messages (camelCase), for cases the helpers do not cover."""
    return Send("send()", list(messages))
