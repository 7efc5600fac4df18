"""The emulator refuses or discards what the real Gemini Live server does (a bare client)."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from devtools.gemini_emulator import (
    INVALID_ARGUMENT,
    MAX_CLOSE_REASON_BYTES,
    WS_PATH,
    EmulatorScriptError,
    GeminiLiveEmulator,
    model_audio,
    not_resumable,
    refuse_expired_key,
    refuse_invalid_config,
    refuse_unknown_model,
    send_tool_call,
    tone,
    tool_call_cancellation,
    transcription_fragments,
    turn_complete,
    wait_for_audio,
    wait_for_client_content,
    wait_for_tool_response,
)

MODEL_25 = "models/gemini-2.5-flash-native-audio-preview-09-2025"
MODEL_3 = "models/gemini-3.8-live"
MANUAL_TURNS = {"automaticActivityDetection": {"disabled": True}}


async def _open(emu: GeminiLiveEmulator, **setup: Any) -> ClientConnection:
    ws = await connect(f"wss://127.0.0.1:{emu.port}{WS_PATH}", ssl=emu.ssl_context)
    await ws.send(json.dumps({"setup": {"model": MODEL_25, **setup}}))
    return ws


async def _accepted(emu: GeminiLiveEmulator, **setup: Any) -> ClientConnection:
    ws = await _open(emu, **setup)
    assert json.loads(await ws.recv()) == {"setupComplete": {}}
    return ws


async def _closed(ws: ClientConnection) -> tuple[int | None, str | None]:
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await ws.recv()
    rcvd = closed.value.rcvd
    return (rcvd.code, rcvd.reason) if rcvd else (None, None)


async def _audio(ws: ClientConnection, data: bytes, mime: str = "audio/pcm;rate=16000") -> None:
    blob = {"mimeType": mime, "data": base64.b64encode(data).decode()}
    await ws.send(json.dumps({"realtimeInput": {"audio": blob}}))


async def _answer(ws: ClientConnection, call_id: str) -> None:
    answer = {"functionResponses": [{"id": call_id, "name": "f", "response": {"ok": 1}}]}
    await ws.send(json.dumps({"toolResponse": answer}))


async def _seed(ws: ClientConnection, *, turn_complete: bool = True) -> None:
    turns = [{"role": "user", "parts": [{"text": "Start the call."}]}]
    await ws.send(json.dumps({"clientContent": {"turns": turns, "turnComplete": turn_complete}}))


# tool responses ---------------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("answers", "why"),
    [
        (["t1", "t1"], "answered already"),
        (["nope"], "never issued"),
    ],
)
async def test_a_tool_response_for_no_open_call_closes_1007(answers, why):
    script = [wait_for_audio(nbytes=2), send_tool_call("f", id="t1")]
    async with GeminiLiveEmulator(script) as emu:
        ws = await _accepted(emu)
        await _audio(ws, b"\0\0")
        assert "toolCall" in json.loads(await ws.recv())
        for call_id in answers:
            await _answer(ws, call_id)
        assert await _closed(ws) == INVALID_ARGUMENT
        await emu.finished()

    [violation] = emu.violated("tool_response_id")
    assert why in violation.detail
    assert violation.closed_with == 1007


@pytest.mark.asyncio
async def test_a_tool_response_after_its_cancellation_closes_1007():
    script = [
        wait_for_audio(nbytes=2),
        send_tool_call("f", id="t1"),
        tool_call_cancellation("t1"),
    ]
    async with GeminiLiveEmulator(script) as emu:
        ws = await _accepted(emu)
        await _audio(ws, b"\0\0")
        assert "toolCall" in json.loads(await ws.recv())
        assert json.loads(await ws.recv()) == {"toolCallCancellation": {"ids": ["t1"]}}
        await emu.finished()
        await _answer(ws, "t1")
        assert await _closed(ws) == INVALID_ARGUMENT

    assert "cancelled" in emu.violated("tool_response_id")[0].detail
    assert emu.session_state().cancelled_tool_calls == ["t1"]


@pytest.mark.asyncio
async def test_a_non_blocking_call_stays_open_while_responses_will_continue():
    script = [send_tool_call("f", id="t1"), wait_for_tool_response("t1")]
    async with GeminiLiveEmulator(script) as emu:
        ws = await _accepted(emu)
        await ws.recv()
        partial = {"id": "t1", "name": "f", "response": {"step": 1}, "willContinue": True}
        await ws.send(json.dumps({"toolResponse": {"functionResponses": [partial]}}))
        await _answer(ws, "t1")
        await emu.finished()
        await ws.close()

    assert emu.violations == []
    assert emu.session_state().answered_tool_calls == ["t1"]


# clientContent on the 3.x family ----------------------------------------------------------


@pytest.mark.asyncio
async def test_3x_refuses_client_content_without_the_history_config():
    async with GeminiLiveEmulator([]) as emu:
        ws = await _accepted(emu, model=MODEL_3)
        await _seed(ws)
        assert await _closed(ws) == INVALID_ARGUMENT
    assert "historyConfig" in emu.violated("client_content")[0].detail


@pytest.mark.asyncio
async def test_3x_takes_initial_history_then_refuses_client_content_mid_call():
    history = {"initialHistoryInClientContent": True}
    async with GeminiLiveEmulator([wait_for_client_content(turn_complete=True)]) as emu:
        ws = await _accepted(emu, model=MODEL_3, historyConfig=history)
        await _seed(ws, turn_complete=False)  # history may come in several messages
        await _seed(ws, turn_complete=True)
        await ws.send(json.dumps({"realtimeInput": {"text": " "}}))
        await emu.finished()
        await _seed(ws, turn_complete=False)  # e.g. a note appended later in the call
        assert await _closed(ws) == INVALID_ARGUMENT

    [violation] = emu.violations
    assert (violation.rule, violation.closed_with) == ("client_content", 1007)
    assert "mid-call" in violation.detail


@pytest.mark.asyncio
async def test_3x_initial_history_ends_with_the_first_realtime_input():
    history = {"initialHistoryInClientContent": True}
    async with GeminiLiveEmulator([]) as emu:
        ws = await _accepted(emu, model=MODEL_3, historyConfig=history)
        await _audio(ws, b"\0\0")
        await _seed(ws, turn_complete=False)
        assert await _closed(ws) == INVALID_ARGUMENT


@pytest.mark.asyncio
async def test_25_and_a_relaxed_server_accept_client_content_mid_call():
    async with GeminiLiveEmulator([]) as emu:
        ws = await _accepted(emu)  # 2.5
        await _seed(ws)
        await _audio(ws, b"\0\0")
        await _seed(ws, turn_complete=False)
        await emu.wait_until(lambda e: len(e.client_contents) == 2)
        await ws.close()
    assert emu.violations == []

    async with GeminiLiveEmulator([], relax={"client_content"}) as emu:
        ws = await _accepted(emu, model=MODEL_3)
        await _seed(ws)
        await emu.wait_until(lambda e: len(e.client_contents) == 1)
        await ws.close()
    [violation] = emu.violations
    assert (violation.rule, violation.closed_with) == ("client_content", None)


def test_an_unknown_rule_name_is_refused():
    with pytest.raises(ValueError, match="unknown rules"):
        GeminiLiveEmulator([], relax={"no_such_rule"})


# audio ------------------------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("mime", "data", "why"),
    [
        ("audio/wav", b"\0\0", "not audio/pcm"),
        ("audio/pcm", b"\0\0", "names no rate"),
        ("audio/pcm;rate=16000", b"\0\0\0", "whole 16-bit samples"),
        ("audio/pcm;rate=1000", b"\0\0", "outside"),
    ],
)
async def test_audio_that_is_not_16_bit_pcm_with_its_rate_closes_1007(mime, data, why):
    async with GeminiLiveEmulator([]) as emu:
        ws = await _accepted(emu)
        await _audio(ws, data, mime)
        assert await _closed(ws) == INVALID_ARGUMENT
    [violation] = emu.violated("audio_format")
    assert why in violation.detail
    assert emu.heard_audio_chunks == []


@pytest.mark.asyncio
async def test_3x_refuses_the_deprecated_media_chunks():
    blob = {"mimeType": "audio/pcm;rate=16000", "data": base64.b64encode(b"\0\0").decode()}
    async with GeminiLiveEmulator([]) as emu:
        ws = await _accepted(emu, model=MODEL_3)
        await ws.send(json.dumps({"realtimeInput": {"mediaChunks": [blob]}}))
        assert await _closed(ws) == INVALID_ARGUMENT
    assert emu.violated("media_chunks")


@pytest.mark.asyncio
async def test_without_aad_audio_outside_a_window_is_discarded_and_the_turn_needs_its_end():
    script = [wait_for_audio(nbytes=4), send_tool_call("f", id="heard")]
    async with GeminiLiveEmulator(script) as emu:
        ws = await _accepted(emu, realtimeInputConfig=MANUAL_TURNS)
        await _audio(ws, b"\1\1" * 8)  # before activityStart: discarded
        await ws.send(json.dumps({"realtimeInput": {"activityStart": {}}}))
        await _audio(ws, b"\2\2" * 2)
        await _audio(ws, b"\3\3" * 2)
        # Enough audio arrived, but the user's turn is not over: the model does not answer.
        await emu.wait_until(lambda e: len(e.heard_audio_chunks) == 2)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(ws.recv(), 0.3)
        await ws.send(json.dumps({"realtimeInput": {"activityEnd": {}}}))
        assert "toolCall" in json.loads(await ws.recv())
        await emu.finished()
        await ws.close()

    [outside] = emu.violations
    assert (outside.rule, outside.closed_with) == ("audio_outside_activity", None)
    assert [c.data for c in emu.heard_audio_chunks] == [b"\2\2" * 2, b"\3\3" * 2]
    assert len(emu.audio_chunks) == 3  # all that was sent, for tests that look at the wire
    assert emu.session_state().audio_bytes == 8
    [window] = emu.activity_windows
    assert window.ended_at is not None and window.started_at <= window.ended_at
    assert window.audio_seconds == pytest.approx(8 / 32_000)


@pytest.mark.asyncio
async def test_a_turn_never_ended_fails_the_wait_and_is_recorded_at_close():
    script = [wait_for_audio(nbytes=2, timeout=0.5)]
    emu = GeminiLiveEmulator(script)
    with pytest.raises(EmulatorScriptError, match="timed out"):
        async with emu:
            ws = await _accepted(emu, realtimeInputConfig=MANUAL_TURNS)
            await ws.send(json.dumps({"realtimeInput": {"activityStart": {}}}))
            await _audio(ws, b"\0\0" * 4)
            with pytest.raises(EmulatorScriptError):
                await emu.finished()
            await ws.close()
            await emu.wait_until(lambda e: bool(e.violated("activity_end_missing")))
    [window] = emu.activity_windows
    assert window.ended_at is None


@pytest.mark.asyncio
async def test_activity_signals_with_aad_on_are_recorded():
    async with GeminiLiveEmulator([]) as emu:
        ws = await _accepted(emu)
        await ws.send(json.dumps({"realtimeInput": {"activityEnd": {}}}))
        await emu.wait_until(lambda e: bool(e.violations))
        await ws.close()
    assert {v.rule for v in emu.violations} == {"activity_signal"}


# setup refusals ---------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_an_unknown_model_is_refused_1008_with_the_real_text_cut_to_a_close_frame():
    model = "models/gemini-9.9-live-retired-preview-with-a-long-name"
    async with GeminiLiveEmulator([refuse_unknown_model()]) as emu:
        code, reason = await _closed(await _open(emu, model=model))
        await emu.finished()
    assert code == 1008
    assert reason.startswith(f"{model} is not found for API version v1beta")
    assert len(reason.encode()) == MAX_CLOSE_REASON_BYTES


@pytest.mark.asyncio
async def test_expired_key_and_invalid_config_are_refused_1007():
    async with GeminiLiveEmulator([refuse_expired_key(), refuse_invalid_config()]) as emu:
        expired = await _closed(await _open(emu))
        invalid = await _closed(await _open(emu))
        await emu.finished()
    assert expired == (1007, "API key expired. Please renew the API key.")
    assert invalid == INVALID_ARGUMENT


# what the server plays --------------------------------------------------------------------


@pytest.mark.asyncio
async def test_paced_audio_and_late_fragments_arrive_whole_and_in_order():
    pcm = tone(0.4)
    script = [
        model_audio(data=pcm, burst=3, pace=4.0),
        turn_complete(),
        transcription_fragments("Ora dhjetë është e lirë.", pieces=3),
    ]
    async with GeminiLiveEmulator(script) as emu:
        ws = await _accepted(emu)
        got = [json.loads(await ws.recv()) for _ in range(10 + 1 + 3)]
        await emu.finished()
        await ws.close()

    audio = [m["serverContent"]["modelTurn"]["parts"][0]["inlineData"]["data"] for m in got[:10]]
    assert b"".join(base64.b64decode(a) for a in audio) == pcm
    assert got[10]["serverContent"]["turnComplete"] is True
    fragments = [m["serverContent"]["outputTranscription"]["text"] for m in got[11:]]
    assert len(fragments) == 3
    assert "".join(fragments) == "Ora dhjetë është e lirë."


@pytest.mark.asyncio
async def test_a_wait_may_stop_at_the_audio_to_barge_in_on_the_user():
    script = [wait_for_audio(nbytes=2, turn_end=False), not_resumable()]
    async with GeminiLiveEmulator(script) as emu:
        ws = await _accepted(emu, realtimeInputConfig=MANUAL_TURNS)
        await ws.send(json.dumps({"realtimeInput": {"activityStart": {}}}))
        await _audio(ws, b"\0\0")
        # No activityEnd yet: the server may still act (here: a resumption update).
        assert json.loads(await ws.recv()) == {"sessionResumptionUpdate": {"resumable": False}}
        await emu.finished()
        await ws.close()


def _tools(behavior: str) -> list[dict[str, Any]]:
    return [{"functionDeclarations": [{"name": "book", "behavior": behavior}]}]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("setup", "why"),
    [
        ({"model": "models/gemini-3.8-live-extended-thinking"}, "thinkingLevel"),
        (
            {
                "model": "models/gemini-3.8-live-extended-thinking",
                "generationConfig": {"thinkingConfig": {"thinkingLevel": "LOW"}},
                "tools": _tools("BLOCKING"),
            },
            "no BLOCKING",
        ),
        (
            {"model": "models/gemini-3.1-flash-live-preview", "tools": _tools("NON_BLOCKING")},
            "no NON_BLOCKING",
        ),
    ],
)
async def test_a_setup_the_model_cannot_take_is_refused_1007(setup, why):
    async with GeminiLiveEmulator([]) as emu:
        assert await _closed(await _open(emu, **setup)) == INVALID_ARGUMENT
    [violation] = emu.violated("setup")
    assert why in violation.detail
    assert emu.session_count == 0


@pytest.mark.asyncio
async def test_a_setup_the_model_takes_is_accepted():
    setups = [
        {"model": MODEL_3, "tools": _tools("BLOCKING")},
        {
            "model": "models/gemini-3.8-live-extended-thinking",
            "generationConfig": {"thinkingConfig": {"thinkingLevel": "LOW"}},
            "tools": _tools("NON_BLOCKING"),
        },
    ]
    async with GeminiLiveEmulator([]) as emu:
        for setup in setups:
            await (await _accepted(emu, **setup)).close()
    assert emu.violations == []


@pytest.mark.asyncio
async def test_a_model_the_service_does_not_serve_is_refused_1008():
    async with GeminiLiveEmulator([], models={MODEL_3}) as emu:
        code, reason = await _closed(await _open(emu))  # the 2.5 preview, retired here
        await (await _accepted(emu, model=MODEL_3)).close()
    assert code == 1008
    assert reason.startswith(f"{MODEL_25} is not found")
    assert emu.refused == [(0, 1008)]
