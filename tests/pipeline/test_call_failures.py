"""Calls that do not go to plan, each a real call: the real pipeline and GeminiLiveLLMService
against the local emulator, tools on a real SQLite file, and the outcome checked in ``calls``.

Every test also checks that the call leaves nothing running behind it.
"""

from __future__ import annotations

import json
import sqlite3
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from loguru import logger

from config.logs import configure_logging
from devtools.gemini_emulator import (
    GeminiLiveEmulator,
    close,
    input_transcription,
    model_audio,
    output_transcription,
    resumption_update,
    tool_call,
    turn_complete,
    wait_for_audio,
)
from pipeline.call.spec import CallTimeouts
from pipeline.transports import make_transport
from storage import CallRecord
from tests.pipeline.harness import (
    BOOKING,
    CALL_ID,
    NAME,
    NO_IDLE_END,
    SPOKEN_PHONE,
    assert_nothing_left_running,
    call_settings,
    file_transport,
    goodbye,
    greeting,
    run_call,
    tool_results,
)

# Every way the phone number could be written in a log line.
PHONE_FORMS = ("0691234567", "069 123 4567", "+355691234567", "355691234567", "+355 69 123 4567")
SECOND_BOOKING = {**BOOKING, "preferred_date": "2026-12-03T10:00"}


def _silent_wav(path: Path, seconds: float = 0.5) -> Path:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(16000)
        wav.writeframes(bytes(2 * int(16000 * seconds)))
    return path


def _rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def _texts(record: CallRecord, role: str) -> list[str]:
    return [e["text"] for e in record.transcript if e["role"] == role]


# --- end_call reasons -----------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("said", "reason"),
    [
        ("Mos më telefononi më, ju lutem.", "opted_out"),
        ("Jo faleminderit, nuk jam i interesuar.", "declined"),
    ],
)
async def test_end_call_reason_is_the_outcome_and_the_call_ends_after_the_goodbye(
    tmp_path, store, clinic, clock, said, reason
):
    script = [
        *greeting(),
        wait_for_audio(seconds=0.5),
        input_transcription(said),
        *goodbye(reason, "Në rregull. Mirupafshim."),
    ]
    async with GeminiLiveEmulator(script) as emu:
        # The silence timeout is far beyond the hang guard: only end_call can end this call.
        result = await run_call(tmp_path, emu, store, clinic, clock)
        await emu.finished(timeout=5)
    await assert_nothing_left_running()

    record = await store.calls.get(call_id=CALL_ID)
    assert record is not None and record.ended_at is not None
    assert (record.outcome, record.outcome_reason) == (reason, reason)
    assert result.record.outcome == reason
    # The goodbye turn was heard and recorded before the call ended.
    assert _texts(record, "patient") == [said]
    assert _texts(record, "elo")[-1] == "Në rregull. Mirupafshim."
    assert tool_results(emu)["bye"]["status"] == "ending"
    assert record.counters["tool_calls_by_name"] == {"end_call": 1}
    assert record.tool_calls == 1 and record.appointments_booked == 0
    assert _rows(tmp_path / "elo.db", "SELECT COUNT(*) FROM appointments") == [(0,)]


@pytest.mark.asyncio
async def test_end_call_without_a_goodbye_after_it_still_ends_the_call(
    tmp_path, store, clinic, clock
):
    # The model said goodbye first and then called end_call: no turn follows the result.
    script = [
        *greeting(),
        wait_for_audio(seconds=0.5),
        input_transcription("Jo, faleminderit."),
        model_audio(0.1),
        output_transcription("Në rregull. Mirupafshim."),
        turn_complete(),
        tool_call("end_call", {"reason": "declined"}, id="bye"),
    ]
    async with GeminiLiveEmulator(script) as emu:
        result = await run_call(
            tmp_path, emu, store, clinic, clock, timeouts=CallTimeouts(goodbye=1.0)
        )
        await emu.finished(timeout=5)
    await assert_nothing_left_running()

    assert (result.record.outcome, result.record.outcome_reason) == ("declined", "declined")
    stored = await store.calls.get(call_id=CALL_ID)
    assert stored is not None and stored.ended_at is not None
    assert _texts(stored, "elo")[-1] == "Në rregull. Mirupafshim."


# --- malformed tool calls -------------------------------------------------------------------


@pytest.mark.asyncio
async def test_malformed_tool_calls_get_error_results_and_the_call_goes_on(
    tmp_path, store, clinic, clock
):
    script = [
        *greeting(),
        wait_for_audio(seconds=0.5),
        input_transcription("Dua një kontroll."),
        # A tool that does not exist.
        tool_call("delete_all_patients", {"confirm": True}, id="unknown"),
        # Wrong argument types.
        tool_call("check_available_slots", {"preferred_date": 20261202}, id="types"),
        # Required fields missing.
        tool_call("schedule_appointment", {"patient_name": NAME}, id="missing"),
        # Then a well-formed call still works.
        tool_call("check_available_slots", {"preferred_date": "2026-12-02"}, id="good"),
        model_audio(0.1),
        output_transcription("Ora nëntë është e lirë."),
        turn_complete(),
        *goodbye("completed"),
    ]
    async with GeminiLiveEmulator(script) as emu:
        await run_call(tmp_path, emu, store, clinic, clock)
        await emu.finished(timeout=5)
    await assert_nothing_left_running()

    responses = tool_results(emu)
    for bad in ("unknown", "types", "missing"):
        assert isinstance(responses[bad], dict), (bad, responses[bad])
        assert responses[bad]["error"] and responses[bad]["hint"], bad
    assert "check_available_slots" in responses["unknown"]["hint"]  # it lists the real tools
    assert "available" in responses["good"] and "error" not in responses["good"]

    # Nothing was written: no appointment, no patient beyond those seeded (none here).
    db = tmp_path / "elo.db"
    assert _rows(db, "SELECT COUNT(*) FROM appointments") == [(0,)]
    assert _rows(db, "SELECT COUNT(*) FROM patients") == [(0,)]
    record = await store.calls.get(call_id=CALL_ID)
    assert record is not None
    assert record.outcome == "completed"
    assert record.counters["tool_calls_by_name"] == {
        "check_available_slots": 2,
        "delete_all_patients": 1,
        "end_call": 1,
        "schedule_appointment": 1,
    }
    assert record.tool_calls == 5 and record.appointments_booked == 0
    results = [e for e in record.transcript if e["role"] == "tool" and "result" in e]
    assert [("error" in _as_dict(e["result"])) for e in results] == [True, True, True, False, False]


def _as_dict(value: Any) -> dict[str, Any]:
    return json.loads(value) if isinstance(value, str) else value


# --- a dropped model connection -------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_dropped_model_connection_resumes_and_the_call_books(
    tmp_path, store, clinic, clock
):
    script = [
        *greeting(),
        resumption_update("handle-1"),
        wait_for_audio(seconds=0.5),
        input_transcription("Dua një kontroll nesër në orën dhjetë."),
        close(),  # Gemini drops the session mid-call ...
        # ... and the service reconnects; the rest runs on the resumed session.
        wait_for_audio(seconds=0.2),
        tool_call("schedule_appointment", BOOKING, id="book"),
        model_audio(0.1),
        output_transcription("U rezervua."),
        turn_complete(),
        *goodbye("completed"),
    ]
    async with GeminiLiveEmulator(script) as emu:
        result = await run_call(tmp_path, emu, store, clinic, clock)
        await emu.finished(timeout=5)
    await assert_nothing_left_running()

    assert emu.connection_count == 2
    assert emu.setups[0].resumption_handle is None
    assert emu.setups[1].resumption_handle == "handle-1"
    assert tool_results(emu)["book"]["status"] == "booked"
    record = result.record
    assert (record.outcome, record.outcome_reason) == ("booked", "completed")
    assert record.appointments_booked == 1
    assert _rows(tmp_path / "elo.db", "SELECT call_id FROM appointments") == [(CALL_ID,)]
    # What was said before the drop is still in the transcript.
    stored = await store.calls.get(call_id=CALL_ID)
    assert stored is not None
    assert "Dua një kontroll nesër në orën dhjetë." in _texts(stored, "patient")


# --- the per-call booking cap ---------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_second_booking_over_the_cap_is_refused_politely(tmp_path, store, clinic, clock):
    script = [
        *greeting(),
        wait_for_audio(seconds=0.5),
        input_transcription("Dua dy takime, për mua dhe për vëllain."),
        tool_call("schedule_appointment", BOOKING, id="first"),
        tool_call("schedule_appointment", SECOND_BOOKING, id="second"),
        model_audio(0.1),
        output_transcription("Njërin e rezervova; për tjetrin do t'ju telefonojë klinika."),
        turn_complete(),
        *goodbye("completed"),
    ]
    async with GeminiLiveEmulator(script) as emu:
        settings = call_settings(
            tmp_path, emu, pipeline=NO_IDLE_END, limits={"bookings_per_call": 1}
        )
        result = await run_call(tmp_path, emu, store, clinic, clock, settings=settings)
        await emu.finished(timeout=5)
    await assert_nothing_left_running()

    responses = tool_results(emu)
    assert responses["first"]["status"] == "booked"
    refusal = responses["second"]
    assert "booking limit" in refusal["error"] and refusal["hint"]
    assert _rows(tmp_path / "elo.db", "SELECT COUNT(*) FROM appointments") == [(1,)]
    record = result.record
    assert (record.outcome, record.appointments_booked) == ("booked", 1)
    assert result.summary["refusals"] == {"bookings_per_call": 1}
    stored = await store.calls.get(call_id=CALL_ID)
    assert stored is not None
    assert stored.counters["refusals"] == {"bookings_per_call": 1}
    assert stored.counters["tool_calls_by_name"]["schedule_appointment"] == 2
    assert stored.counters["bookings"] == 1


# --- silence --------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.asyncio
async def test_a_call_where_nobody_speaks_after_the_greeting_ends_as_no_response(
    tmp_path, store, clinic, clock
):
    async with GeminiLiveEmulator(greeting()) as emu:
        settings = call_settings(tmp_path, emu, pipeline={"silence_timeout_secs": 5})
        transport = file_transport(tmp_path, _silent_wav(tmp_path / "silence.wav"))
        result = await run_call(
            tmp_path, emu, store, clinic, clock, settings=settings, transport=transport
        )
        await emu.finished(timeout=5)
    await assert_nothing_left_running()

    record = result.record
    assert (record.outcome, record.outcome_reason) == ("no_response", "silence")
    stored = await store.calls.get(call_id=CALL_ID)
    assert stored is not None and stored.ended_at is not None
    assert _texts(stored, "elo") == ["Përshëndetje, jam asistenti automatik i klinikës."]
    assert _texts(stored, "patient") == []
    assert stored.tool_calls == 0


@pytest.mark.slow
@pytest.mark.asyncio
async def test_a_call_that_reaches_its_maximum_length_is_wrapped_up(tmp_path, store, clinic, clock):
    """The call's one length limit is the session's watch; reaching it is counted once."""
    async with GeminiLiveEmulator(greeting()) as emu:
        # Silence never ends this call (NO_IDLE_END): only the length limit can.
        settings = call_settings(tmp_path, emu, pipeline=NO_IDLE_END)
        # Below the setting's 60 s minimum: model_copy does not validate.
        pipeline = settings.pipeline.model_copy(update={"max_call_seconds": 3})
        settings = settings.model_copy(update={"pipeline": pipeline})
        transport = file_transport(tmp_path, _silent_wav(tmp_path / "silence.wav"))
        result = await run_call(
            tmp_path, emu, store, clinic, clock, settings=settings, transport=transport
        )
        await emu.finished(timeout=5)
    await assert_nothing_left_running()

    record = result.record
    assert (record.outcome, record.outcome_reason) == ("completed", "maximum call length")
    stored = await store.calls.get(call_id=CALL_ID)
    assert stored is not None and stored.ended_at is not None
    # Ended at the limit (the pipeline's first frame comes just after the watch starts).
    assert 2.0 <= stored.counters["duration_s"] < 3.0 + 5.0
    # Reaching the limit is counted once with the limiter's refusals.
    assert stored.counters["refusals"] == {"call_length": 1}
    assert _texts(stored, "elo") == ["Përshëndetje, jam asistenti automatik i klinikës."]


# --- LiveKit unreachable --------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.asyncio
async def test_an_unreachable_livekit_server_fails_the_call(tmp_path, store, clinic, clock):
    async with GeminiLiveEmulator([]) as emu:
        settings = call_settings(
            tmp_path,
            emu,
            pipeline={"transport": "livekit"},
            livekit={"url": "ws://127.0.0.1:1", "api_key": "key", "api_secret": "secret" * 6},
        )
        transport = make_transport(settings, room="room-1")
        result = await run_call(
            tmp_path, emu, store, clinic, clock, settings=settings, transport=transport
        )
    await assert_nothing_left_running()

    record = result.record
    assert record.outcome == "failed"
    assert record.outcome_reason
    stored = await store.calls.get(call_id=CALL_ID)
    assert stored is not None and stored.ended_at is not None
    assert stored.outcome == "failed"
    assert stored.transcript == []


# --- privacy --------------------------------------------------------------------------------


@pytest.fixture
def _restore_loguru() -> Iterator[None]:
    """Leave loguru without Elo's sinks (and with a no-op patcher) for the other tests."""
    yield
    logger.remove()
    logger.configure(patcher=lambda record: None)


@pytest.mark.asyncio
@pytest.mark.usefixtures("_restore_loguru")
async def test_the_log_file_holds_no_patient_data_while_the_transcript_does(
    tmp_path, store, clinic, clock
):
    said = f"Unë jam {NAME}, numri im është {SPOKEN_PHONE}."
    script = [
        *greeting(),
        wait_for_audio(seconds=0.5),
        input_transcription(said),
        tool_call("schedule_appointment", BOOKING, id="book"),
        model_audio(0.1),
        output_transcription(f"Faleminderit, {NAME}. U rezervua."),
        turn_complete(),
        *goodbye("completed", f"Mirupafshim, {NAME}."),
    ]
    async with GeminiLiveEmulator(script) as emu:
        settings = call_settings(tmp_path, emu, pipeline=NO_IDLE_END)
        configure_logging(settings.logging, console=False)
        result = await run_call(tmp_path, emu, store, clinic, clock, settings=settings)
        await emu.finished(timeout=5)
    await assert_nothing_left_running()
    logger.remove()  # closes the file sink, so everything is on disk

    assert settings.logging.file is not None
    text = settings.logging.file.read_text(encoding="utf-8")
    lines = [json.loads(line) for line in text.splitlines()]
    assert any(line["call_id"] == CALL_ID for line in lines)
    assert any("call ended: booked" in line["message"] for line in lines)
    folded = text.casefold()
    for word in NAME.split():
        assert word.casefold() not in folded, word
    for form in PHONE_FORMS:
        assert form not in text, form

    # The database keeps the full conversation.
    assert result.record.outcome == "booked"
    stored = await store.calls.get(call_id=CALL_ID)
    assert stored is not None
    assert said in _texts(stored, "patient")
    assert f"Faleminderit, {NAME}. U rezervua." in _texts(stored, "elo")
    assert _rows(tmp_path / "elo.db", "SELECT name FROM patients") == [(NAME,)]
