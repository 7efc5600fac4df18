"""ResilientGeminiLive in a real pipeline against the emulator: goAway, drops, refused connects."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from pipecat.adapters.llm.schemas.function_schema import FunctionSchema
from pipecat.adapters.llm.schemas.tools_schema import ToolsSchema
from pipecat.frames.frames import ErrorFrame, TTSAudioRawFrame, TTSStoppedFrame
from pipecat.services.llm_service import FunctionCallParams

from devtools.gemini_emulator import (
    GeminiLiveEmulator,
    Step,
    close,
    go_away,
    model_audio,
    pause,
    resumed,
    resumption_update,
    send_tool_call,
    tool_call,
    turn_complete,
    wait_for_audio,
    wait_for_client_content,
    wait_for_tool_response,
)
from pipeline.gemini import ResilientGeminiLive
from tests.pipeline.conftest import END_CALL, FIND_SLOTS, GEMINI_INSTRUCTION, GEMINI_MODEL, UP
from tests.pipeline.test_gemini_emulator import Microphone, opening_context, user_audio


def _llm(emu: GeminiLiveEmulator, **overrides: Any) -> ResilientGeminiLive:
    params: dict[str, Any] = {
        "api_key": "test-key",
        "settings": ResilientGeminiLive.Settings(
            model=GEMINI_MODEL, voice="Puck", system_instruction=GEMINI_INSTRUCTION
        ),
        "tools": ToolsSchema(standard_tools=[FIND_SLOTS, END_CALL]),
        "http_options": emu.http_options(),
        "connect_budget_secs": 5.0,
    }
    params.update(overrides)
    return ResilientGeminiLive(**params)


def _slow_slots(llm: ResilientGeminiLive, until: Callable[[], Awaitable[object]]) -> list[str]:
    """Register a find_free_slots that answers 09:00 once ``until()`` is done.

    Returns:
        The ids of the tool calls it ran, in order (filled in as they run).
    """
    runs: list[str] = []

    async def find_free_slots(params: FunctionCallParams) -> None:
        runs.append(params.tool_call_id)
        await until()
        await params.result_callback({"slots": ["09:00"]})

    llm.register_function("find_free_slots", find_free_slots)
    return runs


def _unbroken(received: list[bytes], sent: list[bytes]) -> bool:
    """Each chunk once (a replay may send some twice), in order, none missing in between."""
    unique = list(dict.fromkeys(received))
    first = sent.index(unique[0])
    return unique == sent[first : first + len(unique)]


@pytest.mark.asyncio
async def test_first_connect_refused_twice_then_the_session_proceeds(live_pipeline):
    script = [wait_for_client_content(), model_audio(0.04), turn_complete()]
    async with GeminiLiveEmulator(script, refuse_first=2) as emu:
        async with live_pipeline(_llm(emu)) as pipe:
            await pipe.queue(opening_context())
            await emu.finished()
            await pipe.wait_for(TTSStoppedFrame)

    assert emu.refused == [(0, 1011), (1, 1011)]
    assert emu.connection_count == 3
    assert [m.connection for m in emu.client_contents] == [2]  # seeded once, on the session
    assert not pipe.frames(ErrorFrame, UP)


@pytest.mark.asyncio
async def test_connect_refused_every_time_is_a_permanent_error(live_pipeline):
    async with GeminiLiveEmulator([], refuse_first=10**6) as emu:
        async with live_pipeline(_llm(emu, connect_budget_secs=1.0)) as pipe:
            await pipe.queue(opening_context())
            [error] = await pipe.wait_for(ErrorFrame, direction=UP)

    assert "could not connect to the model service" in error.error
    assert emu.connection_count >= 1 and emu.session_count == 0
    assert not pipe.frames(TTSAudioRawFrame)


@pytest.mark.asyncio
async def test_a_bad_key_is_not_retried(live_pipeline):
    async with GeminiLiveEmulator([], refuse_first=10**6, refuse_code=1008) as emu:
        async with live_pipeline(_llm(emu)) as pipe:
            await pipe.queue(opening_context())
            [error] = await pipe.wait_for(ErrorFrame, direction=UP)

    assert "1008" in error.error
    assert emu.connection_count == 1


@pytest.mark.asyncio
async def test_go_away_during_a_tool_call_resumes_after_its_result_and_runs_it_once(
    live_pipeline,
):
    script = [
        wait_for_client_content(),
        model_audio(0.04),
        turn_complete(),
        send_tool_call("find_free_slots", {"day": "2026-12-02"}, id="c1"),
        go_away("4s"),
        wait_for_tool_response("c1"),
        resumed(),
        # The model asks again for a call it already made: answered from the stored result.
        tool_call("find_free_slots", {"day": "2026-12-02"}, id="c1"),
        model_audio(0.04),
        turn_complete(),
    ]
    async with GeminiLiveEmulator(script, auto_resumption=True) as emu:
        llm = _llm(emu)
        # The goAway lands while the tool is running.
        runs = _slow_slots(llm, until=llm.go_away.wait)
        async with live_pipeline(llm) as pipe:
            await pipe.queue(opening_context())
            await emu.finished(timeout=8)
            await pipe.wait_for(TTSStoppedFrame, count=2)

    assert runs == ["c1"]
    assert llm.resumptions == 1
    assert emu.go_away_closes == []
    first, second = emu.setups
    assert first.resumption_handle is None and second.resumption_handle is not None
    # The result went out on the old socket before the resume; the repeat got it again.
    assert [(r.connection, r.id) for r in emu.function_responses] == [(0, "c1"), (1, "c1")]
    assert emu.function_responses[0].response == emu.function_responses[1].response
    assert emu.session_count == 1
    assert [m.connection for m in emu.client_contents] == [0]
    assert not pipe.frames(ErrorFrame, UP)


@pytest.mark.asyncio
async def test_close_1011_mid_turn_resumes_and_no_caller_audio_is_lost(live_pipeline):
    script = [
        wait_for_client_content(),
        resumption_update("handle-1"),
        wait_for_audio(seconds=0.2),
        model_audio(0.04),  # the model's turn has started ...
        close(1011, "Internal error encountered."),  # ... and the socket drops mid-turn
        wait_for_audio(seconds=0.2),
        model_audio(0.04),
        turn_complete(),
    ]
    async with GeminiLiveEmulator(script) as emu:
        llm = _llm(emu)
        async with live_pipeline(llm) as pipe:
            await pipe.queue(opening_context())
            async with Microphone(pipe, user_audio(4.0)) as mic:
                await emu.finished(timeout=8)
            await pipe.wait_for(TTSStoppedFrame)

    assert llm.resumptions == 1
    assert [s.resumption_handle for s in emu.setups] == [None, "handle-1"]
    assert {chunk.connection for chunk in emu.audio_chunks} == {0, 1}
    assert _unbroken([c.data for c in emu.audio_chunks], mic.sent)
    assert not pipe.frames(ErrorFrame, UP)


@pytest.mark.asyncio
async def test_go_away_resumes_before_the_close_holding_input_meanwhile(live_pipeline):
    script = [
        wait_for_client_content(),
        model_audio(0.04),
        turn_complete(),
        wait_for_audio(seconds=0.2),
        go_away("3s"),
        resumed(),
        wait_for_audio(seconds=0.2),
        model_audio(0.04),
        turn_complete(),
    ]
    async with GeminiLiveEmulator(script, auto_resumption=True) as emu:
        llm = _llm(emu)
        async with live_pipeline(llm) as pipe:
            await pipe.queue(opening_context())
            async with Microphone(pipe, user_audio(5.0)) as mic:
                await emu.finished(timeout=8)
            await pipe.wait_for(TTSStoppedFrame, count=2)
            await asyncio.sleep(0)

    assert llm.resumptions == 1
    # Resumed proactively: the client closed the old socket before the goAway deadline did.
    assert emu.go_away_closes == []
    assert emu.refused == []
    assert emu.setups[1].resumption_handle is not None
    assert _unbroken([c.data for c in emu.audio_chunks], mic.sent)
    assert not pipe.frames(ErrorFrame, UP)


@dataclass
class _ExpireHandles(Step):
    async def run(self, emu: GeminiLiveEmulator, conn: Any) -> None:
        emu.expire_handles()


@pytest.mark.asyncio
async def test_a_refused_resume_falls_back_to_a_fresh_seeded_session(live_pipeline):
    script = [
        wait_for_client_content(),
        resumption_update("handle-1"),
        model_audio(0.04),
        turn_complete(),
        _ExpireHandles(),
        close(1011, "Internal error encountered."),
        # The resume with handle-1 is refused; a fresh session gets the conversation again.
        wait_for_client_content(),
        model_audio(0.04),
        turn_complete(),
    ]
    async with GeminiLiveEmulator(script) as emu:
        async with live_pipeline(_llm(emu)) as pipe:
            await pipe.queue(opening_context())
            await emu.finished(timeout=8)
            await pipe.wait_for(TTSStoppedFrame, count=2)

    assert [s.resumption_handle for s in emu.setups] == [None, "handle-1", None]
    assert emu.refused == [(1, 1007)]
    assert emu.session_count == 2
    assert [m.connection for m in emu.client_contents] == [0, 2]
    assert not pipe.frames(ErrorFrame, UP)


def _texts(emu: GeminiLiveEmulator) -> list[tuple[int, str]]:
    """Realtime text the client sent (notes to the model), with the connection."""
    return [
        (m.connection, m.body["text"])
        for m in emu.received
        if m.kind == "realtime_input" and "text" in m.body
    ]


@pytest.mark.asyncio
@pytest.mark.parametrize("asked_again_after", [0.0, 0.8], ids=["while-running", "after-result"])
async def test_a_tool_still_running_at_the_go_away_deadline_is_answered_when_asked_again(
    live_pipeline, log_capture, asked_again_after
):
    # The session resumes from a handle issued before c1, so the resumed session never issued
    # c1: its answer is held (the server refuses an answer to an id it did not issue, rule
    # tool_response_id) until the resumed model asks again, then sent once, never run twice.
    script = [
        wait_for_client_content(),
        model_audio(0.04),
        turn_complete(),  # a resumable handle from before the call
        send_tool_call("find_free_slots", {"day": "2026-12-02"}, id="c1"),
        go_away("2.5s"),
        resumed(),  # at the deadline (margin 2 s), with the tool still running
        pause(asked_again_after),
        tool_call("find_free_slots", {"day": "2026-12-02"}, id="c1"),  # asked again
        model_audio(0.04),
        turn_complete(),
    ]
    async with GeminiLiveEmulator(script, auto_resumption=True) as emu:
        llm = _llm(emu, resume_margin_secs=2.0)

        async def resumed_then_a_moment() -> None:
            await emu.wait_until(lambda e: e.connection_count == 2, timeout=5)
            await asyncio.sleep(0.3)

        runs = _slow_slots(llm, until=resumed_then_a_moment)
        async with live_pipeline(llm) as pipe:
            await pipe.queue(opening_context())
            await emu.finished(timeout=8)
            await pipe.wait_for(TTSStoppedFrame, count=2)

    assert runs == ["c1"]
    await log_capture.wait_for("goAway deadline near")
    assert emu.go_away_closes == []
    assert emu.violations == []
    assert [(r.connection, r.id) for r in emu.function_responses] == [(1, "c1")]
    assert emu.function_responses[0].response == {"slots": ["09:00"]}
    assert emu.session_count == 1
    assert _texts(emu) == []  # a read: nothing to report
    assert not pipe.frames(ErrorFrame, UP)


@pytest.mark.asyncio
async def test_a_write_finished_for_a_call_the_resumed_session_lost_is_reported_as_a_note(
    live_pipeline,
):
    # The resumed model does not ask again: the booking happened, so it is told as a note
    # instead of an answer the server would refuse.
    script = [
        wait_for_client_content(),
        model_audio(0.04),
        turn_complete(),
        send_tool_call("book", {"day": "2026-12-02"}, id="b1"),
        go_away("2.5s"),
        resumed(),
        pause(1.0),
        model_audio(0.04),
        turn_complete(),
    ]
    book = FunctionSchema(
        name="book", description="Book.", properties={"day": {"type": "string"}}, required=[]
    )
    async with GeminiLiveEmulator(script, auto_resumption=True) as emu:
        llm = _llm(emu, resume_margin_secs=2.0, tools=ToolsSchema(standard_tools=[book]))
        llm.declare_tools(blocking=["book"], writes=["book"])
        booked: list[str] = []

        async def book_handler(params: FunctionCallParams) -> None:
            await emu.wait_until(lambda e: e.connection_count == 2, timeout=5)
            booked.append(params.tool_call_id)
            await params.result_callback({"status": "confirmed", "day": "2026-12-02"})

        llm.register_function("book", book_handler)
        async with live_pipeline(llm) as pipe:
            await pipe.queue(opening_context())
            await emu.finished(timeout=8)
            await emu.wait_until(lambda e: bool(_texts(e)), timeout=5)

    assert booked == ["b1"]
    assert emu.violations == []
    assert emu.function_responses == []
    [(connection, note)] = _texts(emu)
    assert connection == 1 and '"status": "confirmed"' in note
    assert llm.notes_sent == 1
    assert not pipe.frames(ErrorFrame, UP)
