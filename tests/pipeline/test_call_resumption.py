"""Whole calls whose model connection is moved or refused: goAway mid-booking, slow first connects.

Each is a real call (CallSession, WAV caller, ResilientGeminiLive against the emulator, SQLite).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from devtools.gemini_emulator import (
    GeminiLiveEmulator,
    go_away,
    input_transcription,
    model_audio,
    output_transcription,
    resumed,
    send_tool_call,
    tool_call,
    turn_complete,
    wait_for_audio,
    wait_for_tool_response,
)
from storage import CallRecord
from tests.pipeline.harness import (
    BOOKING,
    CALL_ID,
    NO_IDLE_END,
    assert_nothing_left_running,
    call_settings,
    goodbye,
    greeting,
    run_call,
    tool_results,
)

ASKED = "Dua një kontroll nesër në orën dhjetë."
GREETED = "Përshëndetje, jam asistenti automatik i klinikës."
BOOKED = "U rezervua për nesër në orën dhjetë."


def _lines(record: CallRecord) -> list[tuple[str, str]]:
    return [(e["role"], e["text"]) for e in record.transcript if e["role"] in ("patient", "elo")]


def _tools(record: CallRecord) -> list[str]:
    return [e.get("name", "") for e in record.transcript if e["role"] == "tool" and "result" in e]


def _appointments(db: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT call_id FROM appointments").fetchall()


def _booking_after_greeting() -> list[Any]:
    return [
        model_audio(0.1),
        output_transcription(BOOKED),
        turn_complete(),
        *goodbye("completed"),
    ]


@pytest.mark.asyncio
async def test_go_away_in_the_middle_of_a_booking_books_once_and_keeps_the_transcript(
    tmp_path, store, clinic, clock
):
    script = [
        *greeting(),
        wait_for_audio(seconds=0.5),
        input_transcription(ASKED),
        send_tool_call("schedule_appointment", BOOKING, id="book"),
        go_away("8s"),  # arrives while the booking runs
        wait_for_tool_response("book"),
        resumed(),
        # After the resume the model asks for the same call again: it must not book twice.
        tool_call("schedule_appointment", BOOKING, id="book"),
        *_booking_after_greeting(),
    ]
    async with GeminiLiveEmulator(script, auto_resumption=True) as emu:
        result = await run_call(tmp_path, emu, store, clinic, clock)
        await emu.finished(timeout=5)
    await assert_nothing_left_running()

    assert emu.connection_count == 2 and emu.session_count == 1
    assert emu.go_away_closes == []  # resumed before Google's deadline
    assert emu.setups[1].resumption_handle is not None
    assert emu.session_state().answered_tool_calls == ["book", "book", "bye"]
    assert tool_results(emu)["book"]["status"] == "booked"
    assert _appointments(tmp_path / "elo.db") == [(CALL_ID,)]
    record = result.record
    assert (record.outcome, record.appointments_booked) == ("booked", 1)
    stored = await store.calls.get(call_id=CALL_ID)
    assert stored is not None
    assert _lines(stored) == [
        ("elo", GREETED),
        ("patient", ASKED),
        ("elo", BOOKED),
        ("elo", "Mirupafshim."),
    ]
    assert _tools(stored) == ["schedule_appointment", "end_call"]


@pytest.mark.asyncio
async def test_first_connect_refused_twice_then_the_call_proceeds(tmp_path, store, clinic, clock):
    script = [
        *greeting(),
        wait_for_audio(seconds=0.5),
        input_transcription(ASKED),
        tool_call("schedule_appointment", BOOKING, id="book"),
        *_booking_after_greeting(),
    ]
    async with GeminiLiveEmulator(script, refuse_first=2) as emu:
        result = await run_call(tmp_path, emu, store, clinic, clock)
        await emu.finished(timeout=5)
    await assert_nothing_left_running()

    assert emu.refused == [(0, 1011), (1, 1011)]
    assert result.record.outcome == "booked"
    stored = await store.calls.get(call_id=CALL_ID)
    assert stored is not None and _lines(stored)[0] == ("elo", GREETED)


@pytest.mark.slow
@pytest.mark.asyncio
async def test_a_model_that_refuses_every_connect_fails_the_call_within_the_budget(
    tmp_path, store, clinic, clock
):
    async with GeminiLiveEmulator([], refuse_first=10**6) as emu:
        settings = call_settings(
            tmp_path, emu, pipeline={**NO_IDLE_END, "first_audio_timeout_secs": 5}
        )
        result = await run_call(tmp_path, emu, store, clinic, clock, settings=settings)
    await assert_nothing_left_running()

    record = result.record
    assert record.outcome == "failed"
    # The connect budget ran out first, not the first-audio watchdog behind it.
    assert record.outcome_reason is not None
    assert record.outcome_reason.startswith("could not connect to the model service")
    assert emu.connection_count >= 1 and emu.session_count == 0
    stored = await store.calls.get(call_id=CALL_ID)
    assert stored is not None and stored.ended_at is not None and stored.outcome == "failed"
