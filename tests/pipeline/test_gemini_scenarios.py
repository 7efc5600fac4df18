"""Whole calls against what the real Gemini Live server does that a tidy script does not.

Each test is a real call (CallSession, WAV caller, ResilientGeminiLive against the strict
emulator, SQLite) playing one behaviour of the real service, as the emulator's step builders
document it: audio in slow bursts, transcripts in late fragments, ``generationComplete`` before
``turnComplete``, ``interrupted``, ``toolCallCancellation``, ``resumable: false`` while a function
call runs, setup refusals, and the 3.x family's rules.
"""

from __future__ import annotations

import wave
from array import array
from pathlib import Path
from typing import Any

import pytest

from devtools.gemini_emulator import (
    GeminiLiveEmulator,
    Step,
    generation_complete,
    go_away,
    input_transcription,
    interrupted,
    model_audio,
    output_transcription,
    pause,
    refuse,
    refuse_expired_key,
    refuse_invalid_config,
    refuse_unknown_model,
    resumed,
    send_tool_call,
    tone,
    tool_call,
    tool_call_cancellation,
    transcription_fragments,
    turn_complete,
    wait_for_audio,
    wait_for_client_content,
    wait_for_tool_response,
)
from storage import CallRecord
from tests.pipeline.harness import (
    NO_IDLE_END,
    call_settings,
    file_transport,
    goodbye,
    greeting,
    run_call,
)

GREETED = "Përshëndetje, jam asistenti automatik i klinikës."
ASKED = "A keni ndonjë orë të lirë nesër?"
MODEL_3 = "models/gemini-3.8-live"


def silent_caller(tmp_path: Path, seconds: float = 1.0) -> Path:
    """A caller who never speaks: no local VAD turn can interrupt Elo."""
    path = tmp_path / "silent.wav"
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(16_000)
        wav.writeframes(bytes(2 * int(16_000 * seconds)))
    return path


def _nonzero(pcm: bytes) -> list[int]:
    """The samples that are not silence: the recording pads Elo's gaps with zeros."""
    return [s for s in array("h", pcm) if s]


def elo_audio(tmp_path: Path) -> bytes:
    """Elo's side of the call as recorded (24 kHz PCM16)."""
    with wave.open(str(tmp_path / "elo.wav"), "rb") as wav:
        assert wav.getframerate() == 24_000
        return wav.readframes(wav.getnframes())


def lines(record: CallRecord, role: str) -> list[str]:
    """The transcript's texts of one side ("elo" or "patient"), in order."""
    return [e["text"] for e in record.transcript if e["role"] == role]


async def silent_call(tmp_path, store, clinic, clock, script: list[Step], **emu_options: Any):
    """Run a call with a silent caller against ``script``; return (record, emulator)."""
    async with GeminiLiveEmulator(script, **emu_options) as emu:
        line = file_transport(tmp_path, silent_caller(tmp_path))
        result = await run_call(tmp_path, emu, store, clinic, clock, transport=line)
        await emu.finished()
    return result.record, emu


# audio and text as the server really sends them -------------------------------------------


@pytest.mark.asyncio
async def test_slow_bursty_audio_plays_whole_and_in_order(tmp_path, store, clinic, clock):
    hello, bye = tone(0.6, frequency=330.0), tone(0.3, frequency=550.0)
    script = [
        wait_for_client_content(),
        # Bursts of 120 ms, at half and at 0.7 times the speed they play at.
        model_audio(data=hello, burst=3, pace=0.5),
        output_transcription(GREETED),
        turn_complete(),
        tool_call("end_call", {"reason": "completed"}, id="bye"),
        model_audio(data=bye, burst=2, pace=0.7),
        output_transcription("Mirupafshim."),
        turn_complete(),
    ]
    record, emu = await silent_call(tmp_path, store, clinic, clock, script)

    assert record.outcome != "failed"
    # Every sample of both turns reached the line, in order (the gaps between bursts are
    # the only silence the recording adds).
    assert _nonzero(elo_audio(tmp_path)) == _nonzero(hello) + _nonzero(bye)
    assert lines(record, "elo") == [GREETED, "Mirupafshim."]
    assert emu.violations == []


@pytest.mark.asyncio
async def test_late_transcript_fragments_end_up_in_their_turn(tmp_path, store, clinic, clock):
    script = [
        wait_for_client_content(),
        model_audio(0.3),
        output_transcription("Përshëndetje, "),
        turn_complete(),
        # The rest of the greeting's transcript arrives after its turn is complete.
        transcription_fragments("jam asistenti automatik i klinikës.", pieces=3),
        pause(0.3),
        *goodbye("completed"),
    ]
    record, _ = await silent_call(tmp_path, store, clinic, clock, script)

    assert record.outcome != "failed"
    assert lines(record, "elo") == [GREETED, "Mirupafshim."]


@pytest.mark.asyncio
async def test_input_transcript_in_fragments_is_one_patient_line(tmp_path, store, clinic, clock):
    script = [
        *greeting(),
        wait_for_audio(seconds=0.5),
        model_audio(0.1),
        # What the model heard arrives in pieces, the last ones after its reply began.
        transcription_fragments(ASKED, pieces=2, kind="input"),
        output_transcription("Po, nesër në orën dhjetë."),
        turn_complete(),
        *goodbye("completed"),
    ]
    async with GeminiLiveEmulator(script) as emu:
        settings = call_settings(tmp_path, emu, pipeline=NO_IDLE_END)
        result = await run_call(tmp_path, emu, store, clinic, clock, settings=settings)
        await emu.finished()

    assert lines(result.record, "patient") == [ASKED]
    # The caller's audio went only inside activity windows, and each window was closed.
    assert emu.violations == []
    assert emu.activity_windows
    assert all(w.ended_at is not None and w.audio_seconds > 0 for w in emu.activity_windows)


@pytest.mark.asyncio
async def test_generation_complete_then_turn_complete_is_one_bot_turn(
    tmp_path, store, clinic, clock
):
    script = [
        wait_for_client_content(),
        model_audio(0.2),
        output_transcription(GREETED),
        generation_complete(),  # the model is done generating; playback is not
        pause(0.2),
        turn_complete(),
        *goodbye("completed"),
    ]
    record, emu = await silent_call(tmp_path, store, clinic, clock, script)

    assert record.outcome != "failed"
    assert lines(record, "elo") == [GREETED, "Mirupafshim."]
    assert emu.violations == []


@pytest.mark.asyncio
async def test_interrupted_ends_elos_turn_and_the_call_goes_on(tmp_path, store, clinic, clock):
    # The WAV transport writes Elo's audio as it comes, not at playback pace, so the audio
    # that an interruption drops is checked at the frame level instead
    # (tests/pipeline/test_gemini_emulator.py, test_interrupted_stops_the_bot_turn).
    script = [
        wait_for_client_content(),
        output_transcription("Përshëndetje, jam"),
        model_audio(1.0),
        interrupted(),  # the server heard the caller barge in
        turn_complete(),  # interrupted > turn_complete, no generationComplete
        *goodbye("completed"),
    ]
    record, emu = await silent_call(tmp_path, store, clinic, clock, script)

    assert record.outcome != "failed"
    elo = [e for e in record.transcript if e["role"] == "elo"]
    assert [(e["text"], e.get("interrupted", False)) for e in elo] == [
        ("Përshëndetje, jam", True),
        ("Mirupafshim.", False),
    ]
    assert emu.violations == []


# function calls ---------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_tool_call_cancellation_does_not_end_the_call(tmp_path, store, clinic, clock):
    script = [
        wait_for_client_content(),
        send_tool_call("check_available_slots", {"preferred_date": "2026-12-02"}, id="slots"),
        tool_call_cancellation("slots"),  # the caller barged in: the call is withdrawn
        pause(1.0),
        *goodbye("completed"),
    ]
    record, emu = await silent_call(tmp_path, store, clinic, clock, script)

    # Only that the call survives on its session; how Elo reconciles the withdrawn call is
    # H2's to test.
    assert record.outcome != "failed"
    assert emu.connection_count == 1


@pytest.mark.asyncio
async def test_no_resume_while_a_function_call_is_open(tmp_path, store, clinic, clock):
    script = [
        *greeting(),  # auto_resumption: a resumable handle after this turn
        wait_for_audio(seconds=0.5),
        input_transcription(ASKED),
        send_tool_call("check_available_slots", {"preferred_date": "2026-12-02"}, id="slots"),
        go_away("6s"),  # arrives with resumable: false, while the call is open
        wait_for_tool_response("slots"),  # the answer brings a resumable handle again
        resumed(),
        model_audio(0.1),
        output_transcription("Nesër në orën dhjetë është e lirë."),
        turn_complete(),
        *goodbye("completed"),
    ]
    async with GeminiLiveEmulator(script, auto_resumption=True) as emu:
        settings = call_settings(tmp_path, emu, pipeline=NO_IDLE_END)
        result = await run_call(tmp_path, emu, store, clinic, clock, settings=settings)
        await emu.finished()

    assert result.record.outcome != "failed"
    first, second = emu.setups
    # The resume used the handle issued after the answer (emu-0-1), not the one from before
    # the call (emu-0-0), which would have lost it.
    assert (first.resumption_handle, second.resumption_handle) == (None, "emu-0-1")
    assert emu.session_count == 1
    assert emu.session_state().answered_tool_calls == ["slots", "bye"]
    assert emu.violations == []


# setup refusals ---------------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "refusal",
    [refuse_unknown_model, refuse, refuse_expired_key, refuse_invalid_config],
    ids=["unknown-model-1008", "bad-key-1008", "expired-key-1007", "invalid-config-1007"],
)
async def test_a_refused_setup_fails_the_call_without_retrying(
    tmp_path, store, clinic, clock, refusal
):
    async with GeminiLiveEmulator([refusal()]) as emu:
        result = await run_call(tmp_path, emu, store, clinic, clock)
        await emu.finished()

    assert result.record.outcome == "failed"
    assert result.record.outcome_reason  # its wording is H1's (issue 9 section 1)
    assert emu.connection_count == 1  # 1007/1008 are final: the same setup is not sent again


# the 3.x family ---------------------------------------------------------------------------


def _3x_settings(tmp_path: Path, emu: GeminiLiveEmulator, **calling: Any) -> Any:
    settings = call_settings(tmp_path, emu, pipeline=NO_IDLE_END)
    google = settings.google.model_copy(update={"model": MODEL_3})
    updates: dict[str, Any] = {"google": google}
    if calling:
        updates["calling"] = settings.calling.model_copy(update=calling)
    return settings.model_copy(update=updates)


@pytest.mark.asyncio
async def test_a_long_first_utterance_on_3x_sends_no_mid_call_client_content(
    tmp_path, store, clinic, clock
):
    script = [
        *greeting(),
        wait_for_audio(seconds=2.0, timeout=15),  # a long first utterance: maybe a machine
        input_transcription(ASKED),
        pause(1.5),  # the note about the long greeting would go out now
        *goodbye("completed"),
    ]
    async with GeminiLiveEmulator(script) as emu:
        settings = _3x_settings(tmp_path, emu, voicemail_min_greeting_secs=1.0)
        result = await run_call(tmp_path, emu, store, clinic, clock, settings=settings)
        await emu.finished()

    assert result.record.outcome != "failed"
    assert emu.violated("client_content") == []
