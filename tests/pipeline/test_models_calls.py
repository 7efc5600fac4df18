"""Elo on both Live protocol families, chosen by configuration, through real calls.

The real pipeline and ``GeminiLiveLLMService`` against the strict local emulator
(devtools/gemini_rules.py refuses mid-call ``clientContent`` on 3.x with 1007, as the real
service does): a greeting, a tool call and the end, and the long-greeting note, on the current
3.x model and on 2.5 native audio; a refused setup ends the call at once naming the setting;
an Albanian call's setup carries no language code Google does not list for Live, an Italian
call's carries it-IT and runs in Italian.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from loguru import logger

from devtools.gemini_emulator import (
    GeminiLiveEmulator,
    input_transcription,
    model_audio,
    output_transcription,
    pause,
    refuse,
    refuse_expired_key,
    refuse_invalid_config,
    refuse_unknown_model,
    tool_call,
    turn_complete,
    wait_for_audio,
    wait_for_client_content,
)
from devtools.gemini_protocol import pick
from pipeline.call.greeting import greeting_cue
from pipeline.metadata import CallMetadata
from pipeline.models import DEFAULT_LIVE_MODEL, NATIVE_AUDIO_25_MODEL
from tests.pipeline.harness import (
    CALL_ID,
    NAME,
    NO_IDLE_END,
    PHONE,
    call_settings,
    goodbye,
    greeting,
    run_call,
    tool_results,
)

FAMILIES = pytest.mark.parametrize(
    "model", [DEFAULT_LIVE_MODEL, NATIVE_AUDIO_25_MODEL], ids=["3.8-live", "2.5-native-audio"]
)
THINKING = "models/gemini-3.8-live-extended-thinking"
ASKED = "A keni ndonjë orar të lirë nesër?"


def _settings(tmp_path: Path, emu: GeminiLiveEmulator, model: str, **calling: Any) -> Any:
    settings = call_settings(tmp_path, emu, pipeline=NO_IDLE_END)
    updates: dict[str, Any] = {"google": settings.google.model_copy(update={"model": model})}
    if calling:
        updates["calling"] = settings.calling.model_copy(update=calling)
    return settings.model_copy(update=updates)


def _realtime_texts(emu: GeminiLiveEmulator) -> list[str]:
    return [
        str(pick(m.body, "text"))
        for m in emu.received
        if m.kind == "realtime_input" and pick(m.body, "text")
    ]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "model",
    [DEFAULT_LIVE_MODEL, NATIVE_AUDIO_25_MODEL, THINKING],
    ids=["3.8-live", "2.5-native-audio", "3.8-thinking"],
)
async def test_greeting_tool_call_and_end_on_each_family(tmp_path, store, clinic, clock, model):
    script = [
        *greeting(),
        wait_for_audio(seconds=0.5),
        input_transcription(ASKED),
        tool_call("check_available_slots", {"preferred_date": "2026-12-02"}, id="slots"),
        model_audio(0.1),
        output_transcription("Nesër në orën dhjetë është e lirë."),
        turn_complete(),
        *goodbye("completed"),
    ]
    async with GeminiLiveEmulator(script) as emu:
        settings = _settings(tmp_path, emu, model)
        result = await run_call(tmp_path, emu, store, clinic, clock, settings=settings)
        await emu.finished()

    assert emu.setups[0].model == model
    assert result.record.outcome == "completed"
    assert emu.session_state().answered_tool_calls == ["slots", "bye"]
    assert emu.violations == []
    if model != NATIVE_AUDIO_25_MODEL:
        # 3.x takes clientContent only as initial history, declared at setup.
        assert emu.setups[0].initial_history_in_client_content


@pytest.mark.asyncio
@FAMILIES
async def test_the_long_greeting_note_reaches_each_family_as_realtime_text(
    tmp_path, store, clinic, clock, model
):
    script = [
        *greeting(),
        wait_for_audio(seconds=2.0, timeout=15),  # a long first utterance: maybe a machine
        input_transcription(ASKED),
        pause(1.5),  # the note goes out now
        *goodbye("completed"),
    ]
    async with GeminiLiveEmulator(script) as emu:
        settings = _settings(tmp_path, emu, model, voicemail_min_greeting_secs=1.0)
        result = await run_call(tmp_path, emu, store, clinic, clock, settings=settings)
        await emu.finished()

    assert result.record.outcome == "completed"
    notes = [t for t in _realtime_texts(emu) if "voicemail_detected" in t]
    assert len(notes) == 1, _realtime_texts(emu)
    # Only the greeting's history went as clientContent; the note did not.
    assert all("voicemail_detected" not in str(m.body) for m in emu.client_contents)
    assert emu.violated("client_content") == []


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("refusal", "setting"),
    [
        (refuse, "ELO_GOOGLE__API_KEY"),
        (refuse_expired_key, "ELO_GOOGLE__API_KEY"),
        (refuse_unknown_model, "ELO_GOOGLE__MODEL"),
        (refuse_invalid_config, "ELO_GOOGLE__MODEL"),
    ],
    ids=["bad-key-1008", "expired-key-1007", "unknown-model-1008", "invalid-config-1007"],
)
async def test_a_refused_setup_ends_the_call_naming_the_setting(
    tmp_path, store, clinic, clock, refusal, setting
):
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(str(m)), level="WARNING")
    try:
        async with GeminiLiveEmulator([refusal()]) as emu:
            result = await run_call(tmp_path, emu, store, clinic, clock)
            await emu.finished()
    finally:
        logger.remove(sink)

    assert result.record.outcome == "failed"
    reason = result.record.outcome_reason or ""
    assert reason.startswith("the model service refused the setup (")
    assert reason.endswith(f"check {setting}")
    assert emu.connection_count == 1  # not retried
    assert len([line for line in lines if setting in line]) == 1, lines
    assert not any("test-key" in line for line in lines)


@pytest.mark.asyncio
@FAMILIES
async def test_an_albanian_call_sends_no_language_code(tmp_path, store, clinic, clock, model):
    async with GeminiLiveEmulator([*greeting(), *goodbye("completed")]) as emu:
        settings = _settings(tmp_path, emu, model)
        await run_call(tmp_path, emu, store, clinic, clock, settings=settings)
        await emu.finished()

    setup = emu.setups[0]
    generation = pick(setup.body, "generation_config", {}) or {}
    speech = pick(generation, "speech_config", {}) or pick(setup.body, "speech_config", {}) or {}
    assert pick(speech, "language_code") is None, speech
    assert "shqip" in setup.system_instruction


@pytest.mark.asyncio
async def test_an_italian_call_sends_language_it_it_and_runs_in_italian(
    tmp_path, store, clinic, clock
):
    # A contact whose language is Italian: the setup asks for it-IT (a code Google lists for
    # Live), the instruction and the greeting cue are Italian, the date words an Italian
    # patient uses are read in code, and the clinic's texts come back in Italian.
    script = [
        wait_for_client_content(),
        model_audio(0.2),
        output_transcription("Buongiorno, sono l'assistente automatico della clinica."),
        turn_complete(),
        wait_for_audio(seconds=0.5),
        input_transcription("Avete un orario libero domani alle dieci?"),
        tool_call("check_available_slots", {"preferred_date": "domani 10:00"}, id="slots"),
        tool_call("get_clinic_info", {}, id="info"),
        model_audio(0.1),
        output_transcription("Domani alle 10:00 è libero."),
        turn_complete(),
        *goodbye("completed", "Arrivederci."),
    ]
    italian = CallMetadata(
        call_id=CALL_ID, patient_name=NAME, phone=PHONE, reason="controllo", language="it"
    )
    async with GeminiLiveEmulator(script) as emu:
        settings = _settings(tmp_path, emu, DEFAULT_LIVE_MODEL)
        result = await run_call(
            tmp_path, emu, store, clinic, clock, settings=settings, metadata=italian
        )
        await emu.finished()

    assert result.record.outcome == "completed"
    setup = emu.setups[0]
    generation = pick(setup.body, "generation_config", {}) or {}
    speech = pick(generation, "speech_config", {}) or pick(setup.body, "speech_config", {}) or {}
    assert pick(speech, "language_code") == "it-IT", speech
    assert "Parla italiano fin dalla prima parola" in setup.system_instruction
    assert "Stai chiamando il/la paziente" in setup.system_instruction
    assert greeting_cue("it", inbound=False) in str(emu.client_contents[0].body)
    results = tool_results(emu)
    assert "error" not in results["slots"], results["slots"]
    assert str(results["slots"]).count("2026-12-02") >= 1  # "domani" on 1 December
    services = [s["name"] for s in results["info"]["services"]]
    assert "Visita di controllo" in services and "General check-up" not in services
    assert emu.violations == []
