"""The patient talks while a tool runs, and the server withdraws tool calls (issue 9, section 2).

Whole calls: the real pipeline and ResilientGeminiLive against the emulator, tools on the real
SQLite file. A slow tool is the real registry tool behind a wait, so a barge-in (the committed
caller recording) or a ``toolCallCancellation`` lands while it runs.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from pipecat.services.llm_service import LLMService

from devtools.gemini_emulator import (
    GeminiLiveEmulator,
    Step,
    pause,
    send_tool_call,
    tool_call_cancellation,
    wait_for_audio,
    wait_for_client_content,
    wait_for_tool_response,
)
from devtools.gemini_protocol import pick
from pipeline.call.session import CallResult, CallSession
from pipeline.call.spec import CallSpec, CallTimeouts
from pipeline.metadata import CallMetadata
from pipeline.tool_calls import ToolCallReconciler
from storage import Store
from tests.pipeline.harness import (
    BOOKING,
    CALL_ID,
    NAME,
    NO_GOODBYE_FALLBACK,
    NO_IDLE_END,
    PHONE,
    call_settings,
    emulator_app,
    file_transport,
    goodbye,
    tool_results,
    until_done,
)
from tools.catalog import CLINIC_TOOLS, default_registry
from tools.registry import ToolRegistry, ToolSpec

SLOTS = {"preferred_date": "2026-12-02"}
# The caller's recording starts 1 s into the call; this much of it means they are talking.
TALKING_BYTES = 16_000 * 2 // 2  # 0.5 s of 16 kHz 16-bit mono


def slowed(
    name: str,
    wait: Callable[[], Awaitable[object]],
    runs: list[str],
    *,
    timeout_secs: float | None = None,
) -> ToolRegistry:
    """The clinic registry with ``name`` waiting for ``wait()`` before it runs for real.

    ``timeout_secs`` replaces the tool's declared timeout (``ToolSpec.timeout_secs``).
    """
    specs: list[ToolSpec] = []
    for spec in CLINIC_TOOLS:
        if spec.name == name:
            real = spec.handler

            async def handler(args: Any, ctx: Any, real: Any = real) -> dict[str, Any]:
                runs.append("started")
                await wait()
                result = await real(args, ctx)
                runs.append("finished")
                return result

            spec = dataclasses.replace(spec, handler=handler)
            if timeout_secs is not None:
                spec = dataclasses.replace(spec, timeout_secs=timeout_secs)
        specs.append(spec)
    return ToolRegistry(specs)


async def run(
    tmp_path: Path,
    emu: GeminiLiveEmulator,
    store: Store,
    clinic: Any,
    clock: Any,
    registry: ToolRegistry,
) -> CallResult:
    """One call with the caller's recording and ``registry``, to its end."""
    session = CallSession(
        emulator_app(
            call_settings(tmp_path, emu, pipeline=NO_IDLE_END),
            clinic,
            store,
            clock,
            emu,
            registry=registry,
        ),
        CallSpec(
            metadata=CallMetadata(
                call_id=CALL_ID, patient_name=NAME, phone=PHONE, reason="kontrolli"
            ),
            transport=file_transport(tmp_path),
            timeouts=CallTimeouts(goodbye=NO_GOODBYE_FALLBACK),
        ),
    )
    return await until_done(asyncio.create_task(session.run()))


async def _now() -> None:
    """No wait."""


def caller_talking(emu: GeminiLiveEmulator) -> Callable[[], Awaitable[object]]:
    """Wait until the caller has been talking a while (Pipecat has seen their speech start)."""
    return lambda: emu.wait_until(lambda e: e.audio_bytes >= TALKING_BYTES, timeout=10)


def notes(emu: GeminiLiveEmulator) -> list[str]:
    """Realtime text the model received (Elo's mid-call notes)."""
    texts = [str(m.body.get("text", "")) for m in emu.received if m.kind == "realtime_input"]
    return [t for t in texts if t]


async def appointments(store: Store) -> int:
    """How many appointments the database holds, whatever their status."""
    return await store.appointments.count()


def caller_done() -> Step:
    """Wait for the end of the caller's turn (``activityEnd``) before the model goes on."""
    return wait_for_audio(nbytes=TALKING_BYTES, timeout=15)


def slow_call(tool: str, args: dict[str, Any], id: str) -> list[Step]:
    """The model calls ``tool`` while the caller starts talking, and waits for its answer."""
    return [
        wait_for_client_content(),
        send_tool_call(tool, args, id=id),
        wait_for_audio(nbytes=TALKING_BYTES, turn_end=False),
        wait_for_tool_response(id, timeout=15),
        caller_done(),
        *goodbye("completed"),
    ]


# barge-in ---------------------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.slow
async def test_a_read_interrupted_by_the_caller_still_answers(tmp_path, store, clinic, clock):
    runs: list[str] = []
    async with GeminiLiveEmulator(slow_call("check_available_slots", SLOTS, "slots")) as emu:
        registry = slowed("check_available_slots", caller_talking(emu), runs)
        result = await run(tmp_path, emu, store, clinic, clock, registry)
        await emu.finished()

    assert runs == ["started", "finished"]
    assert "free_slots" in tool_results(emu)["slots"] or "slots" in tool_results(emu)
    assert result.record.outcome != "failed"
    assert emu.violations == []


@pytest.mark.asyncio
@pytest.mark.slow
async def test_without_the_fix_pipecat_cancels_the_read_and_the_session_waits(
    tmp_path, store, clinic, clock, monkeypatch
):
    # The control: Pipecat's own interruption handling cancels the handler and answers nothing,
    # so the server's wait for the answer times out. Shows the barge-in really reaches the tool.
    monkeypatch.setattr(
        ToolCallReconciler, "_handle_interruptions", LLMService._handle_interruptions
    )
    runs: list[str] = []
    script = [
        wait_for_client_content(),
        send_tool_call("check_available_slots", SLOTS, id="slots"),
        wait_for_audio(nbytes=TALKING_BYTES, turn_end=False),
        pause(3.0),
        *goodbye("completed"),
    ]
    async with GeminiLiveEmulator(script) as emu:
        registry = slowed("check_available_slots", caller_talking(emu), runs)
        await run(tmp_path, emu, store, clinic, clock, registry)
        await emu.finished()

    assert runs == ["started"]  # cancelled before it ran for real
    assert "slots" not in tool_results(emu)


@pytest.mark.asyncio
@pytest.mark.slow
async def test_a_booking_interrupted_by_the_caller_is_booked_once_and_counted(
    tmp_path, store, clinic, clock
):
    runs: list[str] = []
    async with GeminiLiveEmulator(slow_call("schedule_appointment", BOOKING, "book")) as emu:
        registry = slowed("schedule_appointment", caller_talking(emu), runs)
        result = await run(tmp_path, emu, store, clinic, clock, registry)
        await emu.finished()

    answer = tool_results(emu)["book"]
    assert answer["status"] == "booked"
    assert await appointments(store) == 1
    record = result.record
    assert record.appointments_booked == 1
    assert record.revenue_booked == answer["service"]["price_lek"] > 0
    assert [e["name"] for e in record.transcript if e["role"] == "tool" and "result" in e] == [
        "schedule_appointment",
        "end_call",
    ]
    assert emu.violations == []


# toolCallCancellation ---------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_call_cancelled_before_it_runs_is_not_run(tmp_path, store, clinic, clock):
    runs: list[str] = []
    script = [
        wait_for_client_content(),
        tool_call_cancellation("book"),
        send_tool_call("schedule_appointment", BOOKING, id="book"),
        pause(1.0),
        *goodbye("completed"),
    ]
    async with GeminiLiveEmulator(script) as emu:
        registry = slowed("schedule_appointment", _now, runs)
        result = await run(tmp_path, emu, store, clinic, clock, registry)
        await emu.finished()

    assert runs == []
    assert await appointments(store) == 0
    assert "book" not in tool_results(emu)
    assert result.record.appointments_booked == 0
    assert emu.violations == []


def server_cancellation_seen(monkeypatch: pytest.MonkeyPatch) -> asyncio.Event:
    """An event set once Elo has handled a toolCallCancellation."""
    cancelled = asyncio.Event()
    real_cancel = ToolCallReconciler._server_cancelled

    async def seen(self: ToolCallReconciler, ids: list[str]) -> None:
        await real_cancel(self, ids)
        cancelled.set()

    monkeypatch.setattr(ToolCallReconciler, "_server_cancelled", seen)
    return cancelled


@pytest.mark.asyncio
async def test_a_running_read_cancelled_by_the_server_sends_nothing(
    tmp_path, store, clinic, clock, monkeypatch
):
    runs: list[str] = []
    cancelled = server_cancellation_seen(monkeypatch)
    script = [
        wait_for_client_content(),
        send_tool_call("check_available_slots", SLOTS, id="slots"),
        tool_call_cancellation("slots"),
        pause(1.0),
        *goodbye("completed"),
    ]
    async with GeminiLiveEmulator(script) as emu:
        registry = slowed("check_available_slots", cancelled.wait, runs)
        result = await run(tmp_path, emu, store, clinic, clock, registry)
        await emu.finished()

    assert "finished" not in runs  # cancelled while it ran (or before it got going)
    assert "slots" not in tool_results(emu)
    assert result.record.outcome != "failed"
    assert emu.connection_count == 1
    assert emu.violations == []


@pytest.mark.asyncio
async def test_a_booking_cancelled_while_it_runs_is_kept_and_reported(
    tmp_path, store, clinic, clock, monkeypatch
):
    runs: list[str] = []
    cancelled = server_cancellation_seen(monkeypatch)
    script = [
        wait_for_client_content(),
        send_tool_call("schedule_appointment", BOOKING, id="book"),
        tool_call_cancellation("book"),
        caller_done(),
        *goodbye("completed"),
    ]
    async with GeminiLiveEmulator(script) as emu:
        registry = slowed("schedule_appointment", cancelled.wait, runs)
        result = await run(tmp_path, emu, store, clinic, clock, registry)
        await emu.finished()

    assert runs == ["started", "finished"]
    assert await appointments(store) == 1
    assert "book" not in tool_results(emu)  # the server no longer waits for it: never answered
    booked = [n for n in notes(emu) if "WAS booked" in n]
    assert len(booked) == 1
    assert '"status": "booked"' in booked[0]
    assert result.record.appointments_booked == 1
    assert result.record.revenue_booked > 0
    assert emu.connection_count == 1
    assert emu.violations == []


@pytest.mark.asyncio
async def test_a_cancellation_after_the_answer_changes_nothing(tmp_path, store, clinic, clock):
    script = [
        wait_for_client_content(),
        send_tool_call("schedule_appointment", BOOKING, id="book"),
        wait_for_tool_response("book", timeout=10),
        tool_call_cancellation("book"),
        pause(0.5),
        *goodbye("completed"),
    ]
    async with GeminiLiveEmulator(script) as emu:
        result = await run(
            tmp_path, emu, store, clinic, clock, slowed("schedule_appointment", _now, [])
        )
        await emu.finished()

    assert tool_results(emu)["book"]["status"] == "booked"
    assert await appointments(store) == 1
    assert [n for n in notes(emu) if "WAS" in n] == []  # the model already has the answer
    assert result.record.appointments_booked == 1
    assert emu.violations == []


# the same booking twice -------------------------------------------------------------------


@pytest.mark.asyncio
async def test_the_same_booking_twice_is_one_appointment_counted_once(
    tmp_path, store, clinic, clock
):
    script = [
        wait_for_client_content(),
        send_tool_call("schedule_appointment", BOOKING, id="b1"),
        wait_for_tool_response("b1", timeout=10),
        send_tool_call("schedule_appointment", BOOKING, id="b2"),
        wait_for_tool_response("b2", timeout=10),
        *goodbye("completed"),
    ]
    async with GeminiLiveEmulator(script) as emu:
        result = await run(
            tmp_path, emu, store, clinic, clock, slowed("schedule_appointment", _now, [])
        )
        await emu.finished()

    first, again = tool_results(emu)["b1"], tool_results(emu)["b2"]
    assert first["status"] == again["status"] == "booked"
    assert again["already_booked"] is True
    assert again["appointment_id"] == first["appointment_id"]
    assert await appointments(store) == 1
    assert result.record.appointments_booked == 1
    assert result.record.revenue_booked == first["service"]["price_lek"]
    assert emu.violations == []


# the per-tool declaration ----------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("model", "behavior"),
    [
        # 3.8+ runs calls NON_BLOCKING unless declared BLOCKING: every tool is declared.
        ("models/gemini-3.8-live", "BLOCKING"),
        # 2.5 blocks by default; 3.0-3.7 know no behavior field; thinking variants accept only
        # NON_BLOCKING (Pipecat ``_tag_tool_behaviors``): nothing is declared.
        ("models/gemini-2.5-flash-native-audio-preview-09-2025", None),
        ("models/gemini-3.1-flash-live-preview", None),
        ("models/gemini-3.8-live-extended-thinking", None),
    ],
)
async def test_each_tool_is_declared_as_the_registry_says(
    tmp_path, store, clinic, clock, model, behavior
):
    async with GeminiLiveEmulator([wait_for_client_content(), *goodbye("completed")]) as emu:
        settings = call_settings(tmp_path, emu, pipeline=NO_IDLE_END)
        settings = settings.model_copy(
            update={"google": settings.google.model_copy(update={"model": model})}
        )
        session = CallSession(
            emulator_app(settings, clinic, store, clock, emu),
            CallSpec(
                metadata=CallMetadata(call_id=CALL_ID, patient_name=NAME, phone=PHONE, reason="x"),
                transport=file_transport(tmp_path),
                timeouts=CallTimeouts(goodbye=NO_GOODBYE_FALLBACK),
            ),
        )
        await until_done(asyncio.create_task(session.run()))
        await emu.finished()

    decls = emu.setups[0].function_declarations
    declared = {str(pick(d, "name")): pick(d, "behavior") for d in decls}
    assert declared
    blocking = default_registry().names_where(blocking=True)
    assert {name for name, b in declared.items() if b == "BLOCKING"} == (
        set(declared) & blocking if behavior else set()
    )
    assert all(b in (None, "BLOCKING") for b in declared.values())


def test_the_note_for_a_kept_write_says_what_happened() -> None:
    from pipeline.tool_calls import write_note

    booked = write_note(
        "schedule_appointment", {"status": "booked", "appointment_id": 7}, booking=True
    )
    assert "the appointment WAS booked" in booked
    assert "do not call it again" in booked
    assert '"appointment_id": 7' in booked
    other = write_note("opt_out", {"status": "opted_out"})
    assert "opt_out WAS carried out" in other
    assert len(write_note("schedule_follow_up", {"x": "y" * 5000})) < 1000


@pytest.mark.asyncio
async def test_a_booking_that_outlives_its_timeout_is_kept_and_reported(
    tmp_path, store, clinic, clock
):
    # Pipecat cancels a handler at its timeout; the shielded booking commits after that.
    runs: list[str] = []
    script = [
        wait_for_client_content(),
        send_tool_call("schedule_appointment", BOOKING, id="book"),
        caller_done(),
        *goodbye("completed"),
    ]
    async with GeminiLiveEmulator(script) as emu:
        registry = slowed("schedule_appointment", caller_talking(emu), runs, timeout_secs=0.3)
        await run(tmp_path, emu, store, clinic, clock, registry)
        await emu.finished()

    assert runs == ["started", "finished"]
    assert await appointments(store) == 1
    assert len([n for n in notes(emu) if "WAS booked" in n]) == 1
