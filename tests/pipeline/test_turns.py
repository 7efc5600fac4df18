"""Turn ends with Elo's default VAD and turn strategy: short answers are heard, one turn each.

Issue 9 measured the old defaults (Smart Turn, Pipecat's VAD parameters) missing the Albanian
"Po." entirely and holding "Tomorrow at ten, please." for Smart Turn's 3 s fallback. The speed is
the benchmark's business (``make bench-turns``, docs/benchmarks.md); these tests hold the counts:
through the real pipeline, each utterance gives the model exactly one activityStart/activityEnd
pair. Recordings come from the committed corpus (bench/corpus/turns).
"""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest
from pipecat.audio.vad.vad_analyzer import VADState

from bench.corpus.turns.make_corpus import HERE as CORPUS
from bench.corpus.turns.make_corpus import line_noise
from config.settings import load_settings
from devtools.gemini_emulator import GeminiLiveEmulator, pause
from pipeline.file_transport import WavFileTransport
from pipeline.stages import make_turn_strategies, make_vad
from tests.pipeline.harness import HANG_GUARD_SECS, call_settings, greeting, new_call


def _count(emu: GeminiLiveEmulator, name: str) -> int:
    return sum(1 for m in emu.received if m.kind == "realtime_input" and name in m.body)


@pytest.mark.slow
@pytest.mark.asyncio
@pytest.mark.parametrize(
    "name",
    ["sq_yes_16k_clean.wav", "sq_no_8k_clean.wav", "en_date_16k_clean.wav"],
    ids=["Po", "Jo-phone-band", "Tomorrow-at-ten-please"],
)
async def test_each_utterance_is_exactly_one_user_turn(name, tmp_path, store, clinic, clock):
    played = asyncio.Event()

    async def finished() -> None:
        played.set()

    async with GeminiLiveEmulator([*greeting(), pause(120)]) as emu:
        transport = WavFileTransport(
            input_path=CORPUS / name,
            output_path=tmp_path / "elo.wav",
            realtime=True,
            delay_secs=1.5,  # Elo greets first
            on_input_finished=finished,
        )
        rate = transport.input_sample_rate
        settings = call_settings(tmp_path, emu, pipeline={"input_sample_rate": rate})
        call = new_call(tmp_path, emu, store, clinic, clock, settings=settings, transport=transport)
        task = asyncio.create_task(call.run())

        def turn_over(e: GeminiLiveEmulator) -> bool:
            ends = _count(e, "activityEnd")
            return ends >= 1 and ends == _count(e, "activityStart")

        try:
            # The whole recording played (its quiet tail too), then no activity window is open.
            await asyncio.wait_for(played.wait(), timeout=HANG_GUARD_SECS)
            await emu.wait_until(turn_over, timeout=HANG_GUARD_SECS)
        finally:
            await call.cancel(reason="test done")
            await asyncio.wait({task}, timeout=HANG_GUARD_SECS)
    assert (_count(emu, "activityStart"), _count(emu, "activityEnd")) == (1, 1)
    kinds = [
        next(iter(m.body))
        for m in emu.received
        if m.kind == "realtime_input" and {"activityStart", "activityEnd"} & set(m.body)
    ]
    assert kinds == ["activityStart", "activityEnd"]


@pytest.mark.asyncio
@pytest.mark.parametrize("rate", [8000, 16000])
async def test_line_noise_alone_never_starts_a_turn(rate: int):
    settings = load_settings(env_file=None, pipeline={"input_sample_rate": rate})
    vad = make_vad(settings)
    assert vad is not None
    vad.set_sample_rate(rate)
    # The corpus's own line noise, as loud as under its loudest utterances, for 5 s.
    noise = np.round(line_noise(5 * rate, rate, speech_rms=3000.0, seed=9)).astype("<i2")
    step = rate // 50 * 2
    pcm = noise.tobytes()
    states = set()
    try:
        for i in range(0, len(pcm), step):
            states.add(await vad.analyze_audio(pcm[i : i + step]))
    finally:
        await vad.cleanup()
    assert VADState.SPEAKING not in states


def _stop(settings: Any) -> Any:
    strategies = make_turn_strategies(settings)
    assert strategies.stop is not None and len(strategies.stop) == 1
    return strategies.stop[0]


def test_the_default_turn_ends_on_vad_silence_without_waiting_for_a_transcript():
    from pipecat.turns.user_start import VADUserTurnStartStrategy
    from pipecat.turns.user_stop import SpeechTimeoutUserTurnStopStrategy

    settings = load_settings(env_file=None)
    strategies = make_turn_strategies(settings)
    assert [type(s) for s in strategies.start or []] == [VADUserTurnStartStrategy]
    stop = _stop(settings)
    assert isinstance(stop, SpeechTimeoutUserTurnStopStrategy)
    assert stop.wait_for_transcript is False
    assert stop._user_speech_timeout == 0.0  # the VAD's stop_secs is the whole wait


def test_smart_turn_is_a_setting_with_its_fallback():
    from pipecat.turns.user_stop import TurnAnalyzerUserTurnStopStrategy

    settings = load_settings(
        env_file=None, pipeline={"turn_stop": "smart_turn", "smart_turn_fallback_secs": 0.8}
    )
    stop = _stop(settings)
    assert isinstance(stop, TurnAnalyzerUserTurnStopStrategy)
    assert stop.wait_for_transcript is False
    assert stop._turn_analyzer.params.stop_secs == 0.8
