"""CallAnalytics: exact numbers for scripted calls, timed by the frames' push times."""

from __future__ import annotations

import json

import pytest
from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    EndFrame,
    InterruptionFrame,
    StartFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.processors.filters.identity_filter import IdentityFilter
from pipecat.tests.utils import run_test

from config.settings_call import LimitsSettings
from pipeline.limits import CallLimiter
from pipeline.observers import CallAnalytics
from tests.conftest import FixedClock
from tests.pipeline.observers.script import (
    UP,
    audio,
    both_ways,
    feed,
    patient_says,
    tool_call,
    tool_result,
)
from tools.catalog import default_registry

BOOKED = {"status": "booked", "appointment_id": 7, "service": {"id": "checkup", "price_lek": 3000}}
TAKEN = {"error": "slot taken", "hint": "Offer another time."}


def booking_limiter(*results) -> CallLimiter:
    """A call's limiter that the tool gate has told of these schedule_appointment results.

    Bookings are counted once, at the gate (see pipeline.limits), and analytics read them there.
    """
    limiter = CallLimiter(LimitsSettings(), tools=default_registry())
    for result in results:
        limiter.record("schedule_appointment", result)
    return limiter


def vad_stop(stop_secs: float = 0.5) -> VADUserStoppedSpeakingFrame:
    return VADUserStoppedSpeakingFrame(stop_secs=stop_secs)


def scripted_call() -> CallAnalytics:
    """A call with four Elo turns, three patient turns, one barge-in and three tool calls."""
    # The results of the two bookings below, as the tool gate saw them.
    analytics = CallAnalytics(limiter=booking_limiter(BOOKED, TAKEN))
    feed(
        analytics,
        (0, StartFrame()),
        # Elo's greeting: no patient speech before it, so no latency sample.
        (100, TTSStartedFrame()),
        (120, audio()),
        *both_ways(150, BotStartedSpeakingFrame),
        (2000, TTSStoppedFrame()),
        *both_ways(2100, BotStoppedSpeakingFrame),
        # Patient turn 1 (VAD copies go both ways too). Pipecat interrupts at every turn start;
        # with Elo silent there is nothing to count.
        (3000, VADUserStartedSpeakingFrame()),
        (3000, VADUserStartedSpeakingFrame(), UP),
        *both_ways(3010, UserStartedSpeakingFrame),
        *both_ways(3011, InterruptionFrame),
        (4500, vad_stop()),  # speech ended at 4000
        (4500, vad_stop(), UP),
        *both_ways(4510, UserStoppedSpeakingFrame),
        # Elo answers: first audio at 4820, latency 820 ms; it books an appointment.
        (4800, TTSStartedFrame()),
        (4820, audio()),
        *both_ways(4840, BotStartedSpeakingFrame),
        *both_ways(5000, lambda: tool_call("schedule_appointment", "t1", {})),
        *both_ways(5200, lambda: tool_result("schedule_appointment", "t1", {}, BOOKED)),
        (7000, TTSStoppedFrame()),
        *both_ways(7050, BotStoppedSpeakingFrame),
        # Patient turn 2 with a pause: the first VAD stop is not the end of speech (9000 is).
        (8000, VADUserStartedSpeakingFrame()),
        *both_ways(8005, UserStartedSpeakingFrame),
        (8500, vad_stop()),
        (8600, VADUserStartedSpeakingFrame()),
        (9500, vad_stop()),
        *both_ways(9510, UserStoppedSpeakingFrame),
        # Elo's audio arrives without a TTSStartedFrame first: latency 1200 ms.
        (10200, audio()),
        (10300, audio()),
        # Patient turn 3 barges in: one interruption however many frames announce it.
        (11000, VADUserStartedSpeakingFrame()),
        *both_ways(11010, UserStartedSpeakingFrame),
        *both_ways(11011, InterruptionFrame),
        *both_ways(11012, InterruptionFrame),
        (11020, TTSStoppedFrame()),
        *both_ways(11030, BotStoppedSpeakingFrame),
        (11500, vad_stop()),  # speech ended at 11000
        *both_ways(11510, UserStoppedSpeakingFrame),
        # The transport reports Elo audible first: latency 900 ms.
        (11700, TTSStartedFrame()),
        *both_ways(11900, BotStartedSpeakingFrame),
        (12000, audio()),
        *both_ways(12100, lambda: tool_call("check_available_slots", "t2", {})),
        *both_ways(12300, lambda: tool_result("check_available_slots", "t2", {}, {"free": []})),
        *both_ways(12400, lambda: tool_call("schedule_appointment", "t3", {})),
        *both_ways(12500, lambda: tool_result("schedule_appointment", "t3", {}, TAKEN)),
        (13000, TTSStoppedFrame()),
        *both_ways(13050, BotStoppedSpeakingFrame),
        (15000, EndFrame()),
    )
    return analytics


def test_scripted_call_counts_exactly() -> None:
    analytics = scripted_call()
    assert analytics.summary() == {
        "duration_s": 15.0,
        "turns": 7,
        "patient_turns": 3,
        "elo_turns": 4,
        "interruptions": 1,
        "tool_calls": 3,
        "tool_calls_by_name": {"check_available_slots": 1, "schedule_appointment": 2},
        "bookings": 1,
        "revenue_booked_lek": 3000,
        # Samples 820, 1200 and 900 ms; nearest rank: p50 is the 2nd of 3, p95 the 3rd.
        "latency_ms": {"samples": 3, "p50": 900, "p95": 1200},
        "pipeline_ms": {"samples": 0, "p50": None, "p95": None},
        "refusals": {},
    }
    assert (analytics.turns, analytics.tool_calls, analytics.bookings) == (7, 3, 1)
    assert analytics.revenue_lek == 3000
    # JSON-ready for the counters column.
    assert json.loads(json.dumps(analytics.summary())) == analytics.summary()


@pytest.mark.parametrize(
    ("count", "p50", "p95"),
    [(1, 100, 100), (2, 100, 200), (5, 300, 500), (20, 1000, 1900), (21, 1100, 2000)],
)
def test_percentiles_use_nearest_rank(count: int, p50: int, p95: int) -> None:
    analytics = CallAnalytics()
    steps = []
    # Replies with latencies 100, 200, ... ms, in shuffled order.
    for i, n in enumerate(sorted(range(1, count + 1), key=lambda n: (n * 7) % count)):
        base = i * 10_000
        steps += [
            (base, UserStartedSpeakingFrame()),
            (base + 1000, UserStoppedSpeakingFrame()),
            (base + 1000 + n * 100, TTSStartedFrame()),
            (base + 1000 + n * 100, audio()),
            (base + 5000, TTSStoppedFrame()),
        ]
    feed(analytics, *steps)
    assert analytics.summary()["latency_ms"] == {"samples": count, "p50": p50, "p95": p95}
    assert analytics.latency_ms(100) == count * 100


def test_a_vad_stop_is_used_for_one_turn_only() -> None:
    analytics = CallAnalytics()
    feed(
        analytics,
        (0, UserStartedSpeakingFrame()),
        (1000, vad_stop()),  # speech ended at 500
        (1010, UserStoppedSpeakingFrame()),
        (1500, audio()),  # 1000 ms
        (2000, TTSStoppedFrame()),
        # A turn ended without a VAD stop of its own: timed from the turn's end.
        (5000, UserStartedSpeakingFrame()),
        (6000, UserStoppedSpeakingFrame()),
        (6300, audio()),  # 300 ms
    )
    assert analytics.summary()["latency_ms"] == {"samples": 2, "p50": 300, "p95": 1000}


def test_each_latency_is_handed_on_once_in_seconds_as_it_is_measured() -> None:
    heard: list[float] = []
    analytics = CallAnalytics(on_latency=heard.append)
    feed(
        analytics,
        (0, UserStartedSpeakingFrame()),
        (1000, vad_stop()),  # speech ended at 500
        (1010, UserStoppedSpeakingFrame()),
        (1500, audio()),  # 1000 ms
        (1520, audio()),  # the same reply: nothing more
        (2000, TTSStoppedFrame()),
    )
    assert heard == [1.0]
    feed(
        analytics,
        (5000, UserStartedSpeakingFrame()),
        (6000, UserStoppedSpeakingFrame()),
        (6300, audio()),  # 300 ms
    )
    assert heard == [1.0, 0.3]
    assert analytics.summary()["latency_ms"]["samples"] == len(heard)


def test_no_samples_gives_no_percentiles() -> None:
    analytics = CallAnalytics()
    assert analytics.summary()["latency_ms"] == {"samples": 0, "p50": None, "p95": None}
    assert analytics.summary()["duration_s"] == 0.0
    assert analytics.summary()["pipeline_ms"] == {"samples": 0, "p50": None, "p95": None}


def test_pipeline_delays_are_kept_in_milliseconds_by_nearest_rank() -> None:
    analytics = CallAnalytics()
    for seconds in (0.040, 0.020, 0.300):
        analytics.add_pipeline_delay(seconds)
    assert analytics.summary()["pipeline_ms"] == {"samples": 3, "p50": 40, "p95": 300}


@pytest.mark.parametrize(("elo_starts_ms", "expected_ms"), [(700, 200), (300, 0)])
def test_reply_that_began_before_the_turn_was_declared_over(elo_starts_ms, expected_ms) -> None:
    # The model's own turn detection can start Elo's answer before local VAD ends the turn.
    analytics = CallAnalytics()
    feed(
        analytics,
        (0, UserStartedSpeakingFrame()),
        (elo_starts_ms, audio()),
        (1000, vad_stop()),  # speech ended at 500
        (1010, UserStoppedSpeakingFrame()),
        (2000, audio()),
        (3000, TTSStoppedFrame()),
    )
    assert analytics.summary()["latency_ms"] == {
        "samples": 1,
        "p50": expected_ms,
        "p95": expected_ms,
    }


def test_without_turn_frames_transcripts_mark_patient_turns() -> None:
    # Local VAD off: no UserStarted/Stopped frames, only Gemini's transcripts (upstream).
    analytics = CallAnalytics()
    feed(
        analytics,
        (0, TTSStartedFrame()),
        (100, TTSStoppedFrame()),
        (200, patient_says("Po."), UP),
        (300, patient_says("Dua një vizitë."), UP),
        (400, TTSStartedFrame()),
        (500, TTSStoppedFrame()),
        (600, patient_says("Faleminderit."), UP),
        (700, patient_says("  "), UP),
    )
    summary = analytics.summary()
    assert (summary["patient_turns"], summary["elo_turns"], summary["turns"]) == (2, 2, 4)


def test_booking_revenue_needs_a_booked_status_and_a_price() -> None:
    limiter = booking_limiter(
        BOOKED,
        {**BOOKED, "appointment_id": 8},  # a second booking
        {"status": "booked", "service": {"price_lek": "3000"}},  # booked, price unusable
        {"status": "scheduled", "service": {"price_lek": 3000}},
        {**BOOKED, "already_booked": True},  # the first booking asked for again
        TAKEN,
        None,
    )
    limiter.record("schedule_follow_up", BOOKED)
    analytics = CallAnalytics(limiter=limiter)
    assert (analytics.bookings, analytics.revenue_lek) == (3, 6000)


@pytest.mark.asyncio
async def test_summary_includes_the_limiters_refusals(clock: FixedClock) -> None:
    limiter = CallLimiter(
        LimitsSettings(tool_calls_per_minute=1),
        tools=default_registry(),
        clock=clock,
    )
    analytics = CallAnalytics(limiter=limiter)
    assert await limiter.check("get_clinic_info") is None
    assert await limiter.check("get_clinic_info") is not None
    assert analytics.summary()["refusals"] == {"tool_calls_per_minute": 1}


@pytest.mark.asyncio
async def test_counts_in_a_running_pipeline() -> None:
    # Data and control frames only: Pipecat lets system frames overtake them, so a script
    # mixing the two would not arrive in the order written.
    analytics = CallAnalytics(limiter=booking_limiter(BOOKED))
    sent = [
        TTSStartedFrame(),
        audio(),
        TTSStoppedFrame(),
        patient_says("Dua një vizitë."),
        TTSStartedFrame(),
        audio(),
        tool_call("schedule_appointment", "t1", {}),
        tool_result("schedule_appointment", "t1", {}, BOOKED),
        TTSStoppedFrame(),
    ]
    down, _ = await run_test(IdentityFilter(), frames_to_send=sent, observers=[analytics])
    assert [f.id for f in down] == [f.id for f in sent]
    summary = analytics.summary()
    assert (summary["patient_turns"], summary["elo_turns"]) == (1, 2)
    assert summary["tool_calls_by_name"] == {"schedule_appointment": 1}
    assert (summary["bookings"], summary["revenue_booked_lek"]) == (1, 3000)
    assert summary["duration_s"] > 0
