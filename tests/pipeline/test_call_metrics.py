"""What a real call records in the metrics (the real pipeline against the Gemini emulator).

Metrics are counted in the test process itself (outside `elo serve` a process exports its own),
so each test compares a scrape before and after its call.
"""

from __future__ import annotations

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
)
from pipeline.call.spec import CallTimeouts
from tests.pipeline.harness import (
    BOOKING,
    CALL_ID,
    NAME,
    PHONE,
    SPOKEN_PHONE,
    call_settings,
    greeting,
    new_call,
    run_call,
)
from tests.telemetry.scrape import Scrape

OUTBOUND = {"direction": "outbound"}


def grown(before: Scrape, after: Scrape, name: str, **labels: str) -> float:
    return after.value(name, **labels) - before.value(name, **labels)


@pytest.mark.asyncio
async def test_a_booking_call_counts_its_outcome_tools_booking_revenue_and_latency(
    tmp_path: Path, store: Any, clinic: Any, clock: Any
) -> None:
    script = [
        *greeting(),
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
    before = Scrape.in_process()
    async with GeminiLiveEmulator(script) as emu:
        result = await run_call(tmp_path, emu, store, clinic, clock)
    after = Scrape.in_process()

    assert result.record.outcome == "booked"
    assert grown(before, after, "elo_calls_total", outcome="booked", **OUTBOUND) == 1
    assert after.total("elo_calls_total") - before.total("elo_calls_total") == 1
    assert grown(before, after, "elo_bookings_total", **OUTBOUND) == 1
    assert grown(before, after, "elo_revenue_booked_lek_total", **OUTBOUND) == 2000
    duration = {"answered": "true", **OUTBOUND}
    assert grown(before, after, "elo_call_duration_seconds_count", **duration) == 1
    for tool in ("check_available_slots", "schedule_appointment", "end_call"):
        assert grown(before, after, "elo_tool_calls_total", tool=tool, result="ok") == 1, tool
        assert grown(before, after, "elo_tool_duration_seconds_count", tool=tool) == 1, tool
    # The observer's own measure, each reply once: the histogram holds what the call measured.
    samples = result.summary["latency_ms"]["samples"]
    assert samples >= 1
    assert grown(before, after, "elo_model_response_latency_seconds_count") == samples
    # Elo's own share, each reply that started from silence once (the greeting and the three
    # replies here: the output goes quiet between them), small beside the reply latency.
    pipeline = result.summary["pipeline_ms"]
    assert pipeline["samples"] >= 2
    assert grown(before, after, "elo_pipeline_added_latency_seconds_count") == pipeline["samples"]
    assert 0 <= pipeline["p50"] <= pipeline["p95"]
    assert after.value("elo_active_calls", **OUTBOUND) == before.value(
        "elo_active_calls", **OUTBOUND
    )
    assert after.total("elo_errors_total") == before.total("elo_errors_total")
    # Nothing of the patient or the call reaches the metrics.
    for secret in (NAME, "Arbër", PHONE, PHONE[1:], SPOKEN_PHONE, "691234567", CALL_ID):
        assert secret not in after.text


@pytest.mark.asyncio
async def test_bad_unknown_and_refused_tool_calls_are_counted_by_result(
    tmp_path: Path, store: Any, clinic: Any, clock: Any
) -> None:
    script = [
        *greeting(),
        tool_call("schedule_appointment", {"patient_name": NAME}, id="bad"),
        tool_call("book_me_anything", {"phone": PHONE}, id="made-up"),
        tool_call("check_available_slots", {"preferred_date": "2026-12-02"}, id="ok"),
        tool_call("check_available_slots", {"preferred_date": "2026-12-03"}, id="capped"),
        model_audio(0.1),
        turn_complete(),
        tool_call("end_call", {"reason": "completed"}, id="bye"),
        model_audio(0.1),
        output_transcription("Mirupafshim."),
        turn_complete(),
    ]
    before = Scrape.in_process()
    async with GeminiLiveEmulator(script) as emu:
        # Three tool calls per call: the fourth is refused; end_call is never capped.
        settings = call_settings(
            tmp_path, emu, pipeline={"silence_timeout_secs": 120}, limits={"tool_calls_per_call": 3}
        )
        await run_call(tmp_path, emu, store, clinic, clock, settings=settings)
    after = Scrape.in_process()

    def tool(name: str, result: str) -> float:
        return grown(before, after, "elo_tool_calls_total", tool=name, result=result)

    assert tool("schedule_appointment", "input_error") == 1
    assert tool("unknown", "input_error") == 1  # a made-up name never becomes a label
    assert tool("check_available_slots", "ok") == 1
    assert tool("check_available_slots", "refused") == 1
    assert tool("end_call", "ok") == 1
    assert "book_me_anything" not in after.text
    # A refused call never ran: no duration.
    assert (
        grown(before, after, "elo_tool_duration_seconds_count", tool="check_available_slots") == 1
    )


@pytest.mark.asyncio
async def test_a_model_that_cannot_be_reached_counts_a_failed_call_and_its_errors(
    tmp_path: Path, store: Any, clinic: Any, clock: Any
) -> None:
    before = Scrape.in_process()
    async with GeminiLiveEmulator([refuse()]) as emu:
        settings = call_settings(tmp_path, emu)
        call = new_call(
            tmp_path,
            emu,
            store,
            clinic,
            clock,
            settings=settings,
            timeouts=CallTimeouts(first_audio=3),
        )
        result = await call.run()
    after = Scrape.in_process()

    assert result.record.outcome == "failed"
    assert grown(before, after, "elo_calls_total", outcome="failed", **OUTBOUND) == 1
    assert grown(before, after, "elo_errors_total", kind="model_connect") == 1
    assert grown(before, after, "elo_errors_total", kind="pipeline") >= 1
