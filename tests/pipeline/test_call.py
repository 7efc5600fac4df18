"""Whole calls through the real pipeline: recorded caller audio in, the real GeminiLiveLLMService
talking to the local emulator, tools on a real SQLite file, Elo's audio out to a WAV file."""

from __future__ import annotations

import json
import sqlite3
import wave
from pathlib import Path
from typing import Any

import pytest

from devtools.gemini_emulator import (
    GeminiLiveEmulator,
    input_transcription,
    model_audio,
    output_transcription,
    refuse,
    tool_call,
    turn_complete,
    wait_for_audio,
    wait_for_client_content,
)
from pipeline.call.session import CallResult
from pipeline.call.spec import CallTimeouts
from pipeline.metadata import CallMetadata
from storage import Store
from tests.pipeline.harness import (
    BOOKING,
    CALL_ID,
    PHONE,
    call_settings,
    file_transport,
    new_call,
)


async def _run_call(
    tmp_path: Path,
    emu: GeminiLiveEmulator,
    store: Store,
    clinic: Any,
    clock: Any,
    **session: Any,
) -> CallResult:
    # Unlike ``harness.run_call``: the product's own goodbye wait and silence timeout, no guard.
    settings = call_settings(tmp_path, emu)
    call = new_call(tmp_path, emu, store, clinic, clock, settings=settings, **session)
    return await call.run()


@pytest.mark.asyncio
async def test_a_full_booking_call(tmp_path, store, clinic, clock):
    script = [
        wait_for_client_content(),  # Elo is told the patient answered: it speaks first
        model_audio(0.2),
        output_transcription("Përshëndetje, jam asistenti automatik i klinikës."),
        turn_complete(),
        wait_for_audio(seconds=1.0),  # the recorded caller
        input_transcription("Dua një kontroll nesër në orën dhjetë."),
        tool_call("check_available_slots", {"preferred_date": "2026-12-02"}, id="t1"),
        model_audio(0.1),
        output_transcription("Ora dhjetë është e lirë."),
        tool_call("schedule_appointment", BOOKING, id="t2"),
        model_audio(0.1),
        output_transcription("U rezervua."),
        turn_complete(),
        tool_call("end_call", {"reason": "completed"}, id="t3"),
        model_audio(0.1),
        output_transcription("Mirupafshim."),
        turn_complete(),
    ]
    async with GeminiLiveEmulator(script) as emu:
        result = await _run_call(tmp_path, emu, store, clinic, clock)
        await emu.finished(timeout=5)

    setup = emu.setups[0]
    assert setup.model == "models/emulated"
    assert "Arbër Çela" in setup.system_instruction
    assert {"check_available_slots", "schedule_appointment", "end_call"} <= set(
        setup.function_names
    )
    assert "get_clinic_stats" not in setup.function_names
    responses = {r.id: r.response.get("value", r.response) for r in emu.function_responses}
    assert responses["t1"]["available"] is True
    assert responses["t2"]["status"] == "booked"

    # The booking is in the database, made by the agent in this call.
    with sqlite3.connect(tmp_path / "elo.db") as db:
        rows = db.execute(
            "SELECT a.starts_at, a.source, a.call_id, p.phone FROM appointments a"
            " JOIN patients p ON p.id = a.patient_id"
        ).fetchall()
        assert rows == [("2026-12-02T09:00:00Z", "agent", "call-1", PHONE)]
        call_row = db.execute(
            "SELECT outcome, phone, transcript, counters, appointments_booked, revenue_booked"
            " FROM calls WHERE id = 'call-1'"
        ).fetchone()
        daily = db.execute("SELECT total_calls, appointments_booked FROM call_analytics").fetchall()
    outcome, phone, transcript, counters, booked, revenue = call_row
    assert (outcome, phone, booked, revenue) == ("booked", PHONE, 1, 2000)
    entries = json.loads(transcript)
    roles = [e["role"] for e in entries]
    assert "patient" in roles and "elo" in roles and "tool" in roles
    assert any("Dua një kontroll" in e.get("text", "") for e in entries)
    counts = json.loads(counters)
    assert counts["tool_calls_by_name"]["schedule_appointment"] == 1
    assert sum(d[0] for d in daily) == 1 and sum(d[1] for d in daily) == 1
    assert result.record.outcome == "booked"

    # Elo's audio came out of the pipeline into the recording.
    with wave.open(str(tmp_path / "elo.wav"), "rb") as wav:
        assert wav.getframerate() == 24000
        audio = wav.readframes(wav.getnframes())
    assert any(audio)


@pytest.mark.asyncio
async def test_refused_model_connection_fails_the_call_with_a_reason(
    tmp_path, store, clinic, clock
):
    async with GeminiLiveEmulator([refuse()]) as emu:
        result = await _run_call(
            tmp_path, emu, store, clinic, clock, timeouts=CallTimeouts(first_audio=3)
        )
    assert result.record.outcome == "failed"
    assert result.record.outcome_reason
    record = await store.calls.get(call_id="call-1")
    assert record is not None and record.ended_at is not None


@pytest.mark.asyncio
async def test_an_operator_can_cancel_a_running_call(tmp_path, store, clinic, clock):
    import asyncio

    script = [wait_for_client_content(), model_audio(0.2), turn_complete()]
    async with GeminiLiveEmulator(script) as emu:
        settings = call_settings(tmp_path, emu)
        line = file_transport(tmp_path, delay_secs=0.0)
        meta = CallMetadata(call_id=CALL_ID, phone=PHONE)
        call = new_call(
            tmp_path, emu, store, clinic, clock, settings=settings, transport=line, metadata=meta
        )
        running = asyncio.create_task(call.run())
        await emu.wait_until(lambda e: e.connection_count >= 1, timeout=10)
        await call.cancel()
        result = await asyncio.wait_for(running, timeout=15)
    assert (result.record.outcome, result.record.outcome_reason) == (
        "cancelled",
        "cancelled by the operator",
    )
    assert result.record.ended_at is not None


@pytest.mark.asyncio
async def test_a_number_on_the_do_not_call_list_is_never_called(tmp_path, store, clinic, clock):
    from pipeline.call.session import CallRefusedError

    await store.dnc.add(phone=PHONE, reason="asked", source="cli")
    async with GeminiLiveEmulator([]) as emu:
        with pytest.raises(CallRefusedError, match="do-not-call"):
            await _run_call(tmp_path, emu, store, clinic, clock)
        assert emu.connection_count == 0
    assert await store.calls.get(call_id="call-1") is None
