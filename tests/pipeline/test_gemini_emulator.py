"""The unmodified GeminiLiveLLMService in a real pipeline, against the Gemini Live emulator."""

from __future__ import annotations

import asyncio
import base64
import json
import random

import pytest
from pipecat.frames.frames import (
    ErrorFrame,
    FunctionCallResultFrame,
    InputAudioRawFrame,
    InterruptionFrame,
    LLMContextFrame,
    LLMFullResponseEndFrame,
    LLMTextFrame,
    TranscriptionFrame,
    TTSAudioRawFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
    TTSTextFrame,
)
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.services.llm_service import FunctionCallParams
from websockets.asyncio.client import connect

from devtools.gemini_emulator import (
    BAD_KEY_REASON,
    WS_PATH,
    EmulatorScriptError,
    FunctionResponse,
    GeminiLiveEmulator,
    close,
    go_away,
    input_transcription,
    interrupted,
    model_audio,
    output_transcription,
    refuse,
    resumption_update,
    tone,
    tool_call,
    turn_complete,
    wait_for_audio,
    wait_for_client_content,
)
from tests.pipeline.conftest import (
    DOWN,
    GEMINI_INSTRUCTION,
    GEMINI_MODEL,
    GEMINI_VOICE,
    UP,
)

USER_RATE = 16_000
FRAME_BYTES = USER_RATE * 2 // 50  # 20 ms of 16 kHz PCM16


def opening_context() -> LLMContextFrame:
    """The context an outbound call starts with: the service seeds it and the model speaks."""
    return LLMContextFrame(LLMContext(messages=[{"role": "user", "content": "Start the call."}]))


def user_audio(seconds: float, seed: int = 0) -> list[InputAudioRawFrame]:
    """Noise cut into 20 ms microphone frames; every frame differs, so order can be checked."""
    rng = random.Random(seed)
    return [
        InputAudioRawFrame(audio=rng.randbytes(FRAME_BYTES), sample_rate=USER_RATE, num_channels=1)
        for _ in range(round(seconds * 50))
    ]


class Microphone:
    """Streams frames into a pipeline every 20 ms, as a live call does, until the block ends.

    The service drops audio until its session is ready, and nothing outside it says when that
    is, so tests keep streaming instead of guessing the moment.
    """

    def __init__(self, pipe, frames: list[InputAudioRawFrame]):
        self._pipe = pipe
        self._frames = frames
        self.sent: list[bytes] = []
        self._task: asyncio.Task[None] | None = None

    async def _stream(self) -> None:
        for frame in self._frames:
            await self._pipe.queue(frame)
            self.sent.append(frame.audio)
            await asyncio.sleep(0.02)

    async def __aenter__(self) -> Microphone:
        self._task = asyncio.create_task(self._stream())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


@pytest.mark.asyncio
async def test_setup_carries_model_voice_instruction_and_tools(make_gemini_llm, live_pipeline):
    async with GeminiLiveEmulator([wait_for_client_content()]) as emu:
        async with live_pipeline(make_gemini_llm(emu)) as pipe:
            await pipe.queue(opening_context())
            await emu.finished()

    [setup] = emu.setups
    assert setup.model == GEMINI_MODEL
    assert setup.voice == GEMINI_VOICE
    assert setup.system_instruction == GEMINI_INSTRUCTION
    assert setup.function_names == ["find_free_slots", "end_call"]
    [find_slots, _] = setup.function_declarations
    assert find_slots["parameters"]["required"] == ["day"]
    assert "day" in find_slots["parameters"]["properties"]
    assert setup.api_key == "test-key"
    assert setup.resumption_handle is None
    # The opening context is seeded as a completed user turn, so the model speaks first.
    [opening] = emu.client_contents
    assert opening.body["turnComplete"] is True
    assert opening.body["turns"][0]["parts"][0]["text"] == "Start the call."


@pytest.mark.asyncio
async def test_user_audio_in_and_model_audio_and_transcripts_out(make_gemini_llm, live_pipeline):
    reply = tone(0.12)
    script = [
        wait_for_client_content(turn_complete=True),
        wait_for_audio(seconds=0.2),
        input_transcription("Hello, who is this?"),
        model_audio(data=reply),
        output_transcription("This is Elo from the clinic."),
        turn_complete(),
    ]
    async with GeminiLiveEmulator(script) as emu:
        async with live_pipeline(make_gemini_llm(emu)) as pipe:
            await pipe.queue(opening_context())
            async with Microphone(pipe, user_audio(3.0)) as mic:
                await emu.finished()
            await pipe.wait_for(LLMFullResponseEndFrame)
            [heard] = await pipe.wait_for(TranscriptionFrame, direction=UP)

    # What arrived is an unbroken run of what the microphone sent, at least the 0.2 s awaited.
    received = [chunk.data for chunk in emu.audio_chunks]
    first = mic.sent.index(received[0])
    assert received == mic.sent[first : first + len(received)]
    assert len(received) >= 10
    assert {chunk.mime_type for chunk in emu.audio_chunks} == {"audio/pcm;rate=16000"}

    audio = pipe.frames(TTSAudioRawFrame)
    assert {(f.sample_rate, f.num_channels) for f in audio} == {(24_000, 1)}
    assert b"".join(f.audio for f in audio) == reply
    kinds = [type(f) for f in pipe.down]
    last_audio = len(kinds) - 1 - kinds[::-1].index(TTSAudioRawFrame)
    assert kinds.index(TTSStartedFrame) < kinds.index(TTSAudioRawFrame)
    assert kinds.index(TTSStoppedFrame) > last_audio
    assert [f.text for f in pipe.frames(TTSTextFrame)] == ["This is Elo from the clinic."]
    assert [f.text for f in pipe.frames(LLMTextFrame)] == ["This is Elo from the clinic."]
    assert heard.text == "Hello, who is this?"
    assert not pipe.frames(TranscriptionFrame, DOWN)


@pytest.mark.asyncio
async def test_tool_call_reaches_handler_and_result_round_trips(make_gemini_llm, live_pipeline):
    script = [
        wait_for_client_content(),
        tool_call("find_free_slots", {"day": "2026-12-02"}, id="call-42"),
        model_audio(0.06),
        output_transcription("Wednesday at nine is free."),
        turn_complete(),
    ]
    calls: list[FunctionCallParams] = []

    async def find_free_slots(params: FunctionCallParams) -> None:
        calls.append(params)
        await params.result_callback({"slots": ["2026-12-02T09:00"]})

    async with GeminiLiveEmulator(script) as emu:
        llm = make_gemini_llm(emu)
        llm.register_function("find_free_slots", find_free_slots)
        async with live_pipeline(llm) as pipe:
            await pipe.queue(opening_context())
            await emu.finished()
            await pipe.wait_for(LLMFullResponseEndFrame)

    [call] = calls
    assert (call.function_name, call.tool_call_id) == ("find_free_slots", "call-42")
    assert call.arguments == {"day": "2026-12-02"}
    assert emu.function_responses == [
        FunctionResponse(0, "call-42", "find_free_slots", {"slots": ["2026-12-02T09:00"]})
    ]
    # The model's answer to the result follows the result through the pipeline.
    kinds = [type(f) for f in pipe.down]
    assert kinds.index(FunctionCallResultFrame) < kinds.index(TTSAudioRawFrame)
    assert [f.text for f in pipe.frames(TTSTextFrame)] == ["Wednesday at nine is free."]


@pytest.mark.asyncio
async def test_dropped_socket_reconnects_with_last_resumption_handle(
    make_gemini_llm, live_pipeline
):
    script = [
        wait_for_client_content(),
        resumption_update("handle-1"),
        model_audio(0.04),
        turn_complete(),
        resumption_update("handle-2"),
        resumption_update("not-resumable", resumable=False),
        go_away("1s"),
        close(1011, "Internal error encountered."),
        # Runs on the client's next connection.
        wait_for_audio(seconds=0.04),
        model_audio(0.04),
        turn_complete(),
    ]
    async with GeminiLiveEmulator(script) as emu:
        async with live_pipeline(make_gemini_llm(emu)) as pipe:
            await pipe.queue(opening_context())
            async with Microphone(pipe, user_audio(3.0)):
                await emu.finished()
            await pipe.wait_for(TTSStoppedFrame, count=2)

    first, second = emu.setups
    assert first.resumption_handle is None
    assert second.resumption_handle == "handle-2"
    assert second.system_instruction == GEMINI_INSTRUCTION
    # Resumed sessions keep their history server-side: the context is not seeded again.
    assert [m.connection for m in emu.client_contents] == [0]
    assert any(chunk.connection == 1 for chunk in emu.audio_chunks)
    assert not pipe.frames(ErrorFrame, UP)


@pytest.mark.asyncio
async def test_refused_connection_is_only_logged(make_gemini_llm, live_pipeline, log_capture):
    """A bad key (close 1008 after setup) is logged; no ErrorFrame, no retry, no audio.

    This is the unmodified service's behaviour that the call pipeline's own failure
    handling has to cover (watchdog or a connection-task wrapper).
    """
    async with GeminiLiveEmulator([refuse()]) as emu:
        async with live_pipeline(make_gemini_llm(emu, api_key="bad-key")) as pipe:
            await pipe.queue(opening_context())
            logged = await log_capture.wait_for("1008")
            await emu.finished()
            # The pipeline is still up and passes audio on, though nothing reaches a model.
            await pipe.queue(*user_audio(0.06))
            await pipe.wait_for(InputAudioRawFrame, count=3)

    assert BAD_KEY_REASON in logged
    assert emu.setups[0].api_key == "bad-key"
    assert emu.connection_count == 1
    assert emu.audio_chunks == []
    assert not pipe.frames(ErrorFrame, UP)
    assert not pipe.frames(TTSAudioRawFrame)


@pytest.mark.asyncio
async def test_emulator_accepts_camel_case_and_rejects_a_wrong_tool_id():
    """A bare client: camelCase keys, a text nudge, URL-safe base64, then a wrong tool id."""
    script = [
        wait_for_audio(nbytes=4),
        tool_call("end_call", id="call-1"),
    ]
    emu = GeminiLiveEmulator(script, step_timeout=2.0)
    with pytest.raises(EmulatorScriptError, match="call-1"):
        async with emu:
            async with connect(f"wss://127.0.0.1:{emu.port}{WS_PATH}", ssl=emu.ssl_context) as ws:
                await ws.send(
                    json.dumps({"setup": {"model": "models/x", "systemInstruction": "Hi"}})
                )
                assert json.loads(await ws.recv()) == {"setupComplete": {}}
                await ws.send(json.dumps({"realtimeInput": {"text": " "}}))
                # google-genai sends URL-safe base64; these bytes use both its special chars.
                data = base64.urlsafe_b64encode(b"\xfb\xff\xfe\xff").decode()
                blob = {"mimeType": "audio/pcm;rate=16000", "data": data}
                await ws.send(json.dumps({"realtimeInput": {"audio": blob}}))
                call = json.loads(await ws.recv())
                assert call["toolCall"]["functionCalls"][0]["id"] == "call-1"
                answer = {"functionResponses": [{"id": "call-2", "name": "end_call"}]}
                await ws.send(json.dumps({"toolResponse": answer}))
                with pytest.raises(EmulatorScriptError):
                    await emu.finished()

    assert emu.setups[0].system_instruction == "Hi"
    assert [chunk.data for chunk in emu.audio_chunks] == [b"\xfb\xff\xfe\xff"]
    assert [m.kind for m in emu.received] == [
        "setup",
        "realtime_input",
        "realtime_input",
        "tool_response",
    ]


@pytest.mark.asyncio
async def test_refused_reconnect_is_only_logged_too(make_gemini_llm, live_pipeline, log_capture):
    """After a mid-call drop the service reconnects once; a refusal then ends it silently."""
    script = [wait_for_client_content(), close(), refuse()]
    async with GeminiLiveEmulator(script) as emu:
        async with live_pipeline(make_gemini_llm(emu)) as pipe:
            await pipe.queue(opening_context())
            await emu.finished()
            await log_capture.wait_for("1008")

    assert emu.connection_count == 2
    assert not pipe.frames(ErrorFrame, UP)


@pytest.mark.asyncio
async def test_three_quick_drops_in_a_row_push_an_error_frame(make_gemini_llm, live_pipeline):
    """Sessions that die within 10 s of opening count as consecutive failures; the third errors.

    Each drop comes after the client has re-seeded its context, so no send races the close.
    """
    drop_after_seed = [wait_for_client_content(), close()]
    async with GeminiLiveEmulator(drop_after_seed * 3) as emu:
        async with live_pipeline(make_gemini_llm(emu)) as pipe:
            await pipe.queue(opening_context())
            await emu.finished()
            errors = await pipe.wait_for(ErrorFrame, direction=UP)

    assert ["Max consecutive failures" in e.error for e in errors] == [True]
    assert emu.connection_count == 3
    # Without a resumption handle each new session is seeded with the context again.
    assert [m.connection for m in emu.client_contents] == [0, 1, 2]


@pytest.mark.asyncio
async def test_interrupted_stops_the_bot_turn(make_gemini_llm, live_pipeline):
    """``interrupted`` reaches the output (which drops queued audio) and the context side.

    The output transport clearing its queue on ``InterruptionFrame`` is Pipecat's
    (``transports/base_output.py``); what the service owes it is the frame, both ways. The
    frame is a system frame, so its place among the audio frames is not fixed.
    """
    first, second = tone(0.12, frequency=330.0), tone(0.08, frequency=550.0)
    script = [
        wait_for_client_content(),
        model_audio(data=first),
        interrupted(),
        turn_complete(),  # interrupted > turn_complete, as the real server orders them
        model_audio(data=second),
        turn_complete(),
    ]
    async with GeminiLiveEmulator(script) as emu:
        async with live_pipeline(make_gemini_llm(emu)) as pipe:
            await pipe.queue(opening_context())
            await emu.finished()
            await pipe.wait_for(LLMFullResponseEndFrame, count=2)
            await pipe.wait_for(InterruptionFrame)
            await pipe.wait_for(InterruptionFrame, direction=UP)

    # The next turn plays after the interrupted one, and nothing else arrives.
    assert b"".join(f.audio for f in pipe.frames(TTSAudioRawFrame)) == first + second
    assert emu.violations == []
