"""Outbound-call telephony in real calls: greeting on answer, transfer to staff, voicemail.

Each call is the real pipeline and GeminiLiveLLMService against the local emulator, with tools on
a real SQLite file (the harness in ``tests.pipeline.harness``). The telephony side is a small
fake of the narrow :class:`pipeline.telephony.Telephony` interface.
"""

from __future__ import annotations

import asyncio
import json
import wave
from pathlib import Path
from typing import Any

import pytest
from pipecat.frames.frames import VADUserStartedSpeakingFrame, VADUserStoppedSpeakingFrame
from pipecat.processors.frame_processor import FrameDirection

from devtools.gemini_emulator import (
    GeminiLiveEmulator,
    input_transcription,
    model_audio,
    output_transcription,
    pause,
    send,
    tool_call,
    turn_complete,
    wait_for_audio,
)
from pipeline.call.spec import CallTimeouts
from pipeline.metadata import CallMetadata
from pipeline.observers.watchdogs import LongGreetingWatch
from tests.pipeline.harness import (
    CALL_ID,
    CALLER,
    FIXTURES,
    NAME,
    NO_GOODBYE_FALLBACK,
    NO_IDLE_END,
    PHONE,
    assert_nothing_left_running,
    call_settings,
    file_transport,
    goodbye,
    greeting,
    new_call,
    run_call,
    tool_results,
    until_done,
)
from tools.call_port import TransferOutcome

CLINIC_TARGET = "tel:+35542223344"
GREETING_CUE = "Pacienti sapo u përgjigj"  # the start of the session's "greet now" message
HINT_CUE = "voicemail_detected"  # the long-greeting note names the tool to call


class FakeTelephony:
    """The telephony side of a call: records each transfer and answers with ``outcome``."""

    def __init__(self, outcome: TransferOutcome) -> None:
        self.outcome = outcome
        self.transfers: list[str] = []

    async def transfer(self, *, to: str) -> TransferOutcome:
        self.transfers.append(to)
        return self.outcome


def _contents(emu: GeminiLiveEmulator) -> list[str]:
    """Every client_content the model received, as text."""
    return [json.dumps(m.body, ensure_ascii=False) for m in emu.client_contents]


def _raw_tool_call(name: str, args: dict[str, Any], id: str) -> Any:
    # Sent without waiting for the answer: a tool that ends the call may take the session
    # down before its result reaches the model, as on a real line.
    return send({"toolCall": {"functionCalls": [{"id": id, "name": name, "args": args}]}})


# --- greeting on answer -----------------------------------------------------------------------


@pytest.mark.asyncio
async def test_with_wait_for_answer_elo_greets_only_once_the_callee_answered(
    tmp_path, store, clinic, clock
):
    script = [*greeting(), wait_for_audio(seconds=0.5), *goodbye("completed")]
    async with GeminiLiveEmulator(script) as emu:
        settings = call_settings(tmp_path, emu, pipeline=NO_IDLE_END)
        metadata = CallMetadata(call_id=CALL_ID, patient_name=NAME, phone=PHONE)
        options = {"timeouts": CallTimeouts(goodbye=NO_GOODBYE_FALLBACK), "wait_for_answer": True}
        call = new_call(
            tmp_path, emu, store, clinic, clock, settings=settings, metadata=metadata, **options
        )
        running = asyncio.create_task(call.run())
        await asyncio.wait_for(call.ready.wait(), timeout=10)
        assert call.running
        await emu.wait_until(lambda e: len(e.setups) >= 1, timeout=10)
        # The line is up and the caller's audio is flowing, but nobody has answered yet.
        # (A pause, not a timing assertion: whatever happens in it must not be a greeting.)
        await asyncio.sleep(2.0)
        assert emu.client_contents == []
        assert not running.done()

        await call.callee_answered()
        await call.callee_answered()  # a second answer does not greet twice
        result = await until_done(running)
        await emu.finished(timeout=5)
    await assert_nothing_left_running()

    contents = _contents(emu)
    assert len(contents) == 1 and GREETING_CUE in contents[0]
    assert result.record.outcome == "completed"
    assert not call.running and call.ready.is_set()


@pytest.mark.asyncio
async def test_ready_is_set_when_the_call_is_refused_before_it_starts(
    tmp_path, store, clinic, clock
):
    from pipeline.call.session import CallRefusedError

    await store.dnc.add(phone=PHONE, reason="asked", source="cli")
    async with GeminiLiveEmulator([]) as emu:
        settings = call_settings(tmp_path, emu)
        metadata = CallMetadata(call_id=CALL_ID, phone=PHONE)
        options = {"wait_for_answer": True}
        call = new_call(
            tmp_path, emu, store, clinic, clock, settings=settings, metadata=metadata, **options
        )
        running = asyncio.create_task(call.run())
        await asyncio.wait_for(call.ready.wait(), timeout=10)
        assert not call.running  # how a dialer tells "refused" from "ready to dial"
        with pytest.raises(CallRefusedError):
            await running
        await call.callee_answered()  # harmless after the end
    assert emu.connection_count == 0


# --- transfer_to_human ------------------------------------------------------------------------


def _asks_for_a_person() -> list[Any]:
    return [
        *greeting(),
        wait_for_audio(seconds=0.5),
        input_transcription("Dua të flas me dikë nga klinika."),
        model_audio(0.1),
        output_transcription("Po ju lidh me një koleg."),
    ]


@pytest.mark.asyncio
async def test_a_successful_transfer_records_transferred_and_ends_elos_side(
    tmp_path, store, clinic, clock
):
    telephony = FakeTelephony(TransferOutcome(ok=True))
    script = [
        *_asks_for_a_person(),
        _raw_tool_call("transfer_to_human", {"reason": "wants a person"}, id="tr"),
    ]
    async with GeminiLiveEmulator(script) as emu:
        # Silence timeout and goodbye wait are far beyond the hang guard: only the transfer
        # can end this call.
        result = await run_call(tmp_path, emu, store, clinic, clock, telephony=telephony)
        await emu.finished(timeout=5)
    await assert_nothing_left_running()

    assert telephony.transfers == [CLINIC_TARGET]
    record = result.record
    assert (record.outcome, record.outcome_reason) == ("transferred", "transferred to staff")
    assert record.counters["tool_calls_by_name"] == {"transfer_to_human": 1}
    assert await store.follow_ups.list() == []


class LeavingTelephony(FakeTelephony):
    """LiveKit's SIP leg hangs up right after an accepted REFER, before the answer arrives.

    livekit/sip be5d3f57 pkg/sip/outbound.go outboundCall.transferCall: the bridge ends its
    leg once the REFER is accepted, so the room sees the participant leave first.
    """

    call: Any = None

    async def transfer(self, *, to: str) -> TransferOutcome:
        self.transfers.append(to)
        await self.call.callee_left()
        return self.outcome


@pytest.mark.asyncio
async def test_a_transfer_whose_leg_hangs_up_first_is_still_transferred(
    tmp_path, store, clinic, clock
):
    telephony = LeavingTelephony(TransferOutcome(ok=True))
    script = [
        *_asks_for_a_person(),
        _raw_tool_call("transfer_to_human", {"reason": "wants a person"}, id="tr"),
    ]
    async with GeminiLiveEmulator(script) as emu:
        settings = call_settings(tmp_path, emu, pipeline=NO_IDLE_END)
        call = new_call(
            tmp_path,
            emu,
            store,
            clinic,
            clock,
            settings=settings,
            telephony=telephony,
            timeouts=CallTimeouts(goodbye=NO_GOODBYE_FALLBACK),
        )
        telephony.call = call
        result = await until_done(asyncio.create_task(call.run()))
        await emu.finished(timeout=5)
    await assert_nothing_left_running()

    assert telephony.transfers == [CLINIC_TARGET]
    assert (result.record.outcome, result.record.outcome_reason) == (
        "transferred",
        "transferred to staff",
    )


@pytest.mark.asyncio
async def test_a_failed_transfer_leaves_a_callback_and_the_call_goes_on(
    tmp_path, store, clinic, clock
):
    telephony = FakeTelephony(TransferOutcome(ok=False, reason="no answer (SIP 480)"))
    script = [
        *_asks_for_a_person(),
        tool_call("transfer_to_human", {"reason": "wants a person"}, id="tr"),
        model_audio(0.1),
        output_transcription("Një koleg do t'ju telefonojë sa më shpejt."),
        turn_complete(),
        *goodbye("call_back_later"),
    ]
    async with GeminiLiveEmulator(script) as emu:
        result = await run_call(tmp_path, emu, store, clinic, clock, telephony=telephony)
        await emu.finished(timeout=5)
    await assert_nothing_left_running()

    assert telephony.transfers == [CLINIC_TARGET]
    response = tool_results(emu)["tr"]
    assert response["status"] == "transfer_failed" and "call them back" in response["hint"]
    [follow_up] = await store.follow_ups.list()
    assert follow_up.call_id == CALL_ID and follow_up.source == "agent"
    assert follow_up.reason is not None and "SIP 480" in follow_up.reason
    patient = await store.patients.get(phone=PHONE)
    assert patient is not None and follow_up.patient_id == patient.id
    # The call went on to its goodbye and ended as a callback owed.
    assert (result.record.outcome, result.record.outcome_reason) == (
        "follow_up",
        "call_back_later",
    )


@pytest.mark.asyncio
async def test_a_call_without_telephony_falls_back_to_a_callback(tmp_path, store, clinic, clock):
    script = [
        *_asks_for_a_person(),
        tool_call("transfer_to_human", {"reason": "wants a person"}, id="tr"),
        *goodbye("call_back_later"),
    ]
    async with GeminiLiveEmulator(script) as emu:
        await run_call(tmp_path, emu, store, clinic, clock)
        await emu.finished(timeout=5)
    await assert_nothing_left_running()

    assert tool_results(emu)["tr"]["status"] == "transfer_failed"
    [follow_up] = await store.follow_ups.list()
    assert follow_up.reason is not None and "not available on this call" in follow_up.reason


# --- voicemail --------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_voicemail_detected_leaves_the_message_and_the_outcome_is_voicemail(
    tmp_path, store, clinic, clock
):
    script = [
        *greeting(),
        wait_for_audio(seconds=0.5),
        input_transcription("Lini një mesazh pas sinjalit."),
        tool_call("voicemail_detected", {"evidence": "leave a message after the tone"}, id="vm"),
        model_audio(0.1),
        output_transcription("Përshëndetje, ju telefonon asistenti automatik i klinikës."),
        turn_complete(),
        *goodbye("voicemail"),
    ]
    async with GeminiLiveEmulator(script) as emu:
        result = await run_call(tmp_path, emu, store, clinic, clock)
        await emu.finished(timeout=5)
    await assert_nothing_left_running()

    response = tool_results(emu)["vm"]
    assert response["status"] == "leave_message"
    assert NAME not in response["message"] and "kontroll" not in response["message"]
    assert result.record.outcome == "voicemail"


@pytest.mark.asyncio
async def test_voicemail_with_hang_up_ends_the_call_at_once(tmp_path, store, clinic, clock):
    script = [
        *greeting(),
        wait_for_audio(seconds=0.5),
        _raw_tool_call("voicemail_detected", {"evidence": "beep"}, id="vm"),
    ]
    async with GeminiLiveEmulator(script) as emu:
        settings = call_settings(
            tmp_path, emu, pipeline=NO_IDLE_END, calling={"voicemail_action": "hang_up"}
        )
        result = await run_call(tmp_path, emu, store, clinic, clock, settings=settings)
        await emu.finished(timeout=5)
    await assert_nothing_left_running()

    assert (result.record.outcome, result.record.outcome_reason) == (
        "voicemail",
        "answering machine",
    )


# --- the long-greeting hint -------------------------------------------------------------------


def _long_greeting_wav(path: Path) -> Path:
    """The fixture's speech without its pauses: one utterance of about four and a half seconds."""
    segments = json.loads((FIXTURES / "segments.json").read_text())["caller_sq_16k.wav"]
    with wave.open(str(CALLER), "rb") as wav:
        rate = wav.getframerate()
        pcm = wav.readframes(wav.getnframes())
    speech = b"".join(pcm[int(a * rate) * 2 : int(b * rate) * 2] for a, b in segments["segments"])
    lead = bytes(2 * int(0.3 * rate))
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        # Twice over: about 5.8 s of speech, far above the 3 s threshold used below.
        out.writeframes(lead + speech + speech)
    return path


@pytest.mark.asyncio
@pytest.mark.parametrize(("long", "hinted"), [(True, True), (False, False)])
async def test_a_long_first_utterance_hints_at_an_answering_machine(
    tmp_path, store, clinic, clock, long, hinted
):
    caller = _long_greeting_wav(tmp_path / "long.wav") if long else CALLER
    # With local VAD the service streams only the callee's speech: 3.5 s of it is past the
    # first utterance of the short recording (1.8 s, then 0.5 s of VAD stop and pre-roll).
    # The note goes out at the VAD stop, with the turn's activityEnd: a short pause lets it land.
    script = [*greeting(), wait_for_audio(3.5, timeout=15), pause(1.0), *goodbye("completed")]
    async with GeminiLiveEmulator(script) as emu:
        settings = call_settings(
            tmp_path, emu, pipeline=NO_IDLE_END, calling={"voicemail_min_greeting_secs": 3.0}
        )
        transport = file_transport(tmp_path, caller)
        await run_call(tmp_path, emu, store, clinic, clock, settings=settings, transport=transport)
        await emu.finished(timeout=5)
    await assert_nothing_left_running()

    # Realtime text, never clientContent: the 3.x family refuses mid-call clientContent.
    assert not [c for c in _contents(emu) if HINT_CUE in c]
    texts = [str(m.body.get("text", "")) for m in emu.received if m.kind == "realtime_input"]
    notes = [t for t in texts if HINT_CUE in t]
    assert len(notes) == (1 if hinted else 0), notes
    if hinted:
        assert "sekretari telefonike" in notes[0]  # in the call's language


def _vad(started: bool, at: float) -> Any:
    if started:
        return VADUserStartedSpeakingFrame(start_secs=0.2, timestamp=at)
    return VADUserStoppedSpeakingFrame(stop_secs=0.5, timestamp=at)


@pytest.mark.parametrize(
    ("frames", "expected"),
    [
        # Speech from 0.8 to 4.0: 3.2 s, reported once even when more utterances follow.
        ([(True, 1.0), (False, 4.5), (True, 5.0), (False, 12.0)], [3.2]),
        # A person's short "Alo?" first: no note, and later long speech does not count.
        ([(True, 1.0), (False, 2.0), (True, 3.0), (False, 12.0)], []),
    ],
)
def test_long_greeting_watch_measures_the_first_utterance_only(
    frames: list[tuple[bool, float]], expected: list[float]
) -> None:
    heard: list[float] = []
    watch = LongGreetingWatch(3.0, heard.append)
    watch.observe(_vad(True, 0.1), FrameDirection.DOWNSTREAM, 0)  # before the answer: ignored
    watch.observe(_vad(False, 0.6), FrameDirection.DOWNSTREAM, 0)
    watch.arm()
    for started, at in frames:
        watch.observe(_vad(started, at), FrameDirection.DOWNSTREAM, 0)
    assert heard == pytest.approx(expected)


def test_long_greeting_watch_is_off_at_zero() -> None:
    heard: list[float] = []
    watch = LongGreetingWatch(0, heard.append)
    watch.arm()
    watch.observe(_vad(True, 1.0), FrameDirection.DOWNSTREAM, 0)
    watch.observe(_vad(False, 30.0), FrameDirection.DOWNSTREAM, 0)
    assert heard == []


@pytest.mark.parametrize("language", ["sq", "en", "it"])
def test_the_prompts_explain_transfer_and_voicemail(clinic: Any, language: str) -> None:
    from pipeline.prompts import build_system_instruction
    from tests.conftest import DEFAULT_NOW

    text = build_system_instruction(clinic, CallMetadata(language=language), now=DEFAULT_NOW)
    assert "transfer_to_human" in text and "voicemail_detected" in text
    assert '"voicemail"' in text and "$" not in text
