"""The observers and the limiter filling a real call row and the daily roll-up (real SQLite)."""

from __future__ import annotations

from datetime import date

import pytest
from pipecat.frames.frames import TTSStartedFrame, TTSStoppedFrame
from pipecat.processors.filters.identity_filter import IdentityFilter
from pipecat.tests.utils import SleepFrame, run_test

from pipeline.limits import CallLimiter
from pipeline.observers import CallAnalytics, TranscriptLogger
from pipeline.tool_bridge import make_tool_caller
from tests.pipeline.observers.script import (
    audio,
    elo_says,
    patient_says,
    tool_call,
    tool_result,
)

CALL_ID = "call-1"


@pytest.mark.asyncio
async def test_a_call_fills_its_row_and_the_daily_roll_up(
    store, settings, make_context, registry, clock
) -> None:
    await store.calls.start(call_id=CALL_ID)
    ctx = make_context(call_id=CALL_ID)

    limiter = CallLimiter(
        settings.limits,
        tools=registry,
        clock=clock,
    )
    analytics = CallAnalytics(limiter=limiter)
    saved: list[int] = []

    async def save_progress(entries):
        await store.calls.save_progress(
            call_id=CALL_ID,
            transcript=entries,
            counters=analytics.summary(),
            turns=analytics.turns,
            tool_calls=analytics.tool_calls,
        )
        saved.append(len(entries))

    transcript = TranscriptLogger(on_update=save_progress, clock=clock, min_interval=0)

    # The model's booking runs through the tool gate, the limiter and the registry, as the tool
    # handler does.
    tool = make_tool_caller(registry, ctx, gate=limiter)
    args = {
        "patient_name": "Arbër Çela",
        "phone_number": "069 123 4567",
        "service_type": "checkup",
        "preferred_date": "2026-12-02T10:00",
    }
    booked = await tool("schedule_appointment", args)
    assert booked["status"] == "booked"
    price = booked["service"]["price_lek"]

    await run_test(
        IdentityFilter(),
        frames_to_send=[
            TTSStartedFrame(),
            audio(),
            elo_says("Mirëdita, jam Elo."),
            TTSStoppedFrame(),
            patient_says("Dua një vizitë nesër në dhjetë."),
            # Let the first saves land mid-call.
            SleepFrame(sleep=0.05),
            TTSStartedFrame(),
            audio(),
            tool_call("schedule_appointment", "t1", args),
            tool_result("schedule_appointment", "t1", args, booked),
            elo_says("U rezervua."),
            TTSStoppedFrame(),
        ],
        observers=[transcript, analytics],
    )
    # Saved as the call went on, and the whole transcript by the end of the run.
    assert len(saved) >= 2
    row = await store.calls.get(call_id=CALL_ID)
    assert row.transcript == transcript.entries
    assert [e["role"] for e in row.transcript] == ["elo", "patient", "tool", "tool", "elo"]
    assert row.transcript[1]["text"] == "Dua një vizitë nesër në dhjetë."

    # What the call runner does when the call ends: a last save, then close the call.
    await save_progress(transcript.entries)
    await store.calls.finish(
        call_id=CALL_ID,
        outcome="booked",
        appointments_booked=analytics.bookings,
        revenue_booked=analytics.revenue_lek,
    )
    row = await store.calls.get(call_id=CALL_ID)
    assert row.counters == analytics.summary()
    assert row.counters["tool_calls_by_name"] == {"schedule_appointment": 1}
    assert row.counters["refusals"] == {}
    assert (row.turns, row.tool_calls) == (3, 1)
    assert (row.appointments_booked, row.revenue_booked) == (1, price)
    assert row.ended_at is not None

    (day,) = await store.calls.daily(first_day=date(2026, 12, 1), last_day=date(2026, 12, 1))
    assert day.total_calls == 1
    assert day.appointments_booked == 1
    assert day.revenue_generated == price
    assert day.conversion_rate == 1.0
