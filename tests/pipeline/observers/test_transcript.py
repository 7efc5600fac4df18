"""TranscriptLogger: both sides and tool calls, saved incrementally, masked in the log."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import pytest
import pytest_asyncio
from loguru import logger
from pipecat.frames.frames import (
    BotStoppedSpeakingFrame,
    CancelFrame,
    EndFrame,
    InterruptionFrame,
    LLMTextFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
)
from pipecat.processors.filters.identity_filter import IdentityFilter
from pipecat.tests.utils import run_test

from pipeline.observers import TranscriptLogger
from tests.conftest import FixedClock
from tests.pipeline.observers.script import (
    DOWN,
    UP,
    audio,
    both_ways,
    elo_says,
    eventually,
    feed,
    patient_says,
    tool_call,
    tool_result,
)

Entries = list[dict[str, Any]]


class Saves:
    """The on_update callback: keeps every transcript it is handed, optionally failing first."""

    def __init__(self, failures: int = 0) -> None:
        self.calls: list[Entries] = []
        self.failures = failures

    async def __call__(self, entries: Entries) -> None:
        if self.failures:
            self.failures -= 1
            raise OSError("disk full")
        self.calls.append(entries)

    @property
    def last(self) -> Entries:
        return self.calls[-1]


@pytest.fixture
def saves() -> Saves:
    return Saves()


@pytest_asyncio.fixture
async def make_logger(task_manager, clock: FixedClock) -> AsyncIterator[Callable[..., Any]]:
    made: list[TranscriptLogger] = []

    async def make(on_update: Saves, min_interval: float = 0.0) -> TranscriptLogger:
        transcript = TranscriptLogger(on_update=on_update, clock=clock, min_interval=min_interval)
        await transcript.setup(task_manager)
        made.append(transcript)
        return transcript

    yield make
    for transcript in made:
        await transcript.cleanup()


def at(clock: FixedClock, seconds: float) -> str:
    return (clock.now + timedelta(seconds=seconds)).isoformat(timespec="milliseconds")


@pytest.mark.asyncio
async def test_entries_for_both_sides_and_tools_in_order(make_logger, saves, clock) -> None:
    transcript = await make_logger(saves)
    start = clock.now
    booking_args = {"service_type": "checkup", "preferred_date": "2026-12-02T10:00"}
    booked = {"status": "booked", "appointment_id": 1, "service": {"price_lek": 3000}}

    def tick(seconds: float) -> None:
        clock.now = start + timedelta(seconds=seconds)

    tick(1)
    feed(transcript, (0, TTSStartedFrame()), (0, elo_says("Mirëdita, ")))
    tick(2)
    # Gemini also pushes each piece as an LLMTextFrame: it must not be counted twice.
    feed(transcript, (0, elo_says("jam Elo.")), (0, LLMTextFrame("jam Elo.")))
    feed(transcript, (0, TTSStoppedFrame()))
    tick(4)
    feed(transcript, (0, patient_says(" Dua një vizitë. "), UP))
    tick(5)
    feed(transcript, (0, elo_says("Po e rezervoj ")))
    tick(6)
    # A broadcast frame reaches the observer twice; one copy counts.
    feed(transcript, *both_ways(0, lambda: tool_call("schedule_appointment", "t1", booking_args)))
    tick(7)
    feed(
        transcript,
        *both_ways(0, lambda: tool_result("schedule_appointment", "t1", booking_args, booked)),
    )
    tick(8)
    feed(transcript, (0, elo_says("U rezervua ")), (0, elo_says("për nesër")))
    tick(9)
    feed(transcript, *both_ways(0, InterruptionFrame))
    feed(transcript, (0, TTSStoppedFrame()), (0, BotStoppedSpeakingFrame()))

    def t(seconds: float) -> str:
        return (start + timedelta(seconds=seconds)).isoformat(timespec="milliseconds")

    expected = [
        {"t": t(1), "role": "elo", "text": "Mirëdita, jam Elo."},
        {"t": t(4), "role": "patient", "text": "Dua një vizitë."},
        {"t": t(5), "role": "elo", "text": "Po e rezervoj"},
        {"t": t(6), "role": "tool", "name": "schedule_appointment", "arguments": booking_args},
        {"t": t(7), "role": "tool", "name": "schedule_appointment", "result": booked},
        {"t": t(8), "role": "elo", "text": "U rezervua për nesër", "interrupted": True},
    ]
    assert transcript.entries == expected
    await transcript.flush()
    assert saves.last == expected


@pytest.mark.asyncio
async def test_each_completed_entry_is_saved_with_all_before_it(make_logger, saves) -> None:
    transcript = await make_logger(saves)
    feed(transcript, (0, patient_says("Alo?"), UP))
    await eventually(lambda: len(saves.calls) == 1)
    assert [e["text"] for e in saves.last] == ["Alo?"]
    # An open Elo turn is not an entry yet, so nothing new is saved for it.
    feed(transcript, (0, elo_says("Mirë")))
    feed(transcript, (0, elo_says("dita.")))
    feed(transcript, (0, TTSStoppedFrame()))
    await eventually(lambda: len(saves.calls) == 2)
    assert [e["text"] for e in saves.last] == ["Alo?", "Mirëdita."]
    assert transcript.saves == 2


@pytest.mark.asyncio
async def test_saves_are_spaced_but_a_later_change_is_still_saved(make_logger, saves) -> None:
    # The clock does not move, so every change after the first save falls inside the interval.
    transcript = await make_logger(saves, min_interval=0.05)
    feed(transcript, (0, patient_says("Një."), UP))
    await eventually(lambda: len(saves.calls) == 1)
    feed(transcript, (0, patient_says("Dy."), UP), (0, patient_says("Tre."), UP))
    # Without any end of call, the pending changes are saved once the interval has passed,
    # together in one save.
    await eventually(lambda: len(saves.calls) == 2)
    assert [e["text"] for e in saves.last] == ["Një.", "Dy.", "Tre."]


@pytest.mark.asyncio
async def test_interval_does_not_hold_back_the_final_save(make_logger, saves) -> None:
    transcript = await make_logger(saves, min_interval=3600)
    feed(transcript, (0, patient_says("Një."), UP))
    await eventually(lambda: len(saves.calls) == 1)
    feed(transcript, (0, patient_says("Dy."), UP), (0, elo_says("Faleminderit.")))
    assert len(saves.calls) == 1
    # The call ends while Elo is still mid-sentence: that text is kept.
    feed(transcript, (0, EndFrame()))
    await eventually(lambda: len(saves.calls) == 2)
    assert [e["text"] for e in saves.last] == ["Një.", "Dy.", "Faleminderit."]
    await transcript.cleanup()
    assert len(saves.calls) == 2  # nothing new to save


@pytest.mark.asyncio
async def test_cancelled_call_is_saved_by_cleanup(make_logger, saves) -> None:
    transcript = await make_logger(saves, min_interval=3600)
    feed(transcript, (0, patient_says("Një."), UP))
    await eventually(lambda: len(saves.calls) == 1)
    feed(transcript, (0, patient_says("Dy."), UP), (0, CancelFrame()))
    await transcript.cleanup()
    assert [e["text"] for e in saves.last] == ["Një.", "Dy."]


@pytest.mark.asyncio
async def test_failed_save_is_repaired_by_the_next(make_logger) -> None:
    saves = Saves(failures=1)
    transcript = await make_logger(saves)
    feed(transcript, (0, patient_says("Një."), UP))
    await eventually(lambda: saves.failures == 0 and transcript._saver.done())
    assert saves.calls == []
    feed(transcript, (0, patient_says("Dy."), UP))
    await eventually(lambda: len(saves.calls) == 1)
    assert [e["text"] for e in saves.last] == ["Një.", "Dy."]


@pytest.mark.asyncio
async def test_log_never_carries_the_words(make_logger, saves) -> None:
    lines: list[str] = []
    sink = logger.add(lambda message: lines.append(str(message)), level="TRACE")
    try:
        transcript = await make_logger(saves)
        feed(
            transcript,
            (0, patient_says("Numri im është sekret"), UP),
            (0, elo_says("Faleminderit shumë")),
            (0, TTSStoppedFrame()),
            (0, tool_call("get_clinic_info", "t1", {"topic": "orari i hapjes"})),
            (0, tool_result("get_clinic_info", "t1", {}, {"answer": "nga e hëna"})),
        )
        await transcript.flush()
    finally:
        logger.remove(sink)
    assert any("patient entry" in line for line in lines)
    for words in ("sekret", "Faleminderit", "orari", "hëna"):
        assert not any(words in line for line in lines), words


@pytest.mark.asyncio
async def test_late_transcription_after_the_turn_ended_joins_that_turn(make_logger, saves) -> None:
    # Gemini sends the tail of a turn's transcription after turnComplete: Pipecat opens a new
    # response for it (TTSStartedFrame, text, no audio), but the words were the turn's.
    transcript = await make_logger(saves)
    feed(transcript, (0, audio()), (0, elo_says("Përshëndetje, ")), (0, TTSStoppedFrame()))
    feed(transcript, (1, TTSStartedFrame()), (1, elo_says("jam ")), (2, elo_says("Elo.")))
    # The next turn: its audio comes first, so its words are an entry of their own.
    feed(transcript, (3, audio()), (3, elo_says("Si mund t'ju ndihmoj?")), (4, TTSStoppedFrame()))
    await transcript.flush()

    assert [(e["role"], e["text"]) for e in saves.last] == [
        ("elo", "Përshëndetje, jam Elo."),
        ("elo", "Si mund t'ju ndihmoj?"),
    ]


@pytest.mark.asyncio
@pytest.mark.parametrize("between", ["patient", "tool", "interrupted"])
async def test_text_after_a_patient_line_a_tool_or_an_interruption_is_a_new_turn(
    make_logger, saves, between
) -> None:
    transcript = await make_logger(saves)
    feed(transcript, (0, audio()), (0, elo_says("Mirëdita.")))
    if between == "interrupted":
        # Text after an interruption may never have been spoken: never added to the turn.
        feed(transcript, *both_ways(1, InterruptionFrame))
    else:
        feed(transcript, (1, TTSStoppedFrame()))
        if between == "patient":
            feed(transcript, (2, patient_says("Po."), UP))
        else:
            feed(transcript, *both_ways(2, lambda: tool_call("get_clinic_info", "t1", {})))
    feed(transcript, (3, elo_says("Faleminderit.")), (4, TTSStoppedFrame()))
    await transcript.flush()

    elo = [e["text"] for e in saves.last if e["role"] == "elo"]
    assert elo == ["Mirëdita.", "Faleminderit."]


@pytest.mark.asyncio
@pytest.mark.parametrize("direction", [DOWN, UP])
async def test_frames_pass_unchanged_with_the_observer_attached(direction, clock) -> None:
    saves = Saves()
    transcript = TranscriptLogger(on_update=saves, clock=clock, min_interval=3600)
    sent = [
        patient_says("Alo?"),
        elo_says("Mirëdita."),
        TTSStoppedFrame(),
        tool_call("get_clinic_info", "t1", {}),
        tool_result("get_clinic_info", "t1", {}, {"answer": "x"}),
    ]
    down, up = await run_test(
        IdentityFilter(),
        frames_to_send=sent,
        frames_to_send_direction=direction,
        observers=[transcript],
    )
    received = down if direction is DOWN else up
    assert [f.id for f in received] == [f.id for f in sent]
    # The observer saw the same frames; the final save happened when the worker cleaned up.
    assert [e["role"] for e in saves.last] == (
        ["patient", "elo", "tool", "tool"] if direction is DOWN else ["patient"]
    )
