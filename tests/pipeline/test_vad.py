"""Silero VAD on recorded callers: two utterances give two turns, at the right places.

The fixtures (tests/fixtures/audio) are espeak-ng callers whose speech boundaries were measured
while generating them (segments.json). The VAD is built by the project's own factory from default
settings, so these tests hold for the configured confidence, start and stop times.

Where the VAD may say "started" or "stopped" relative to the real boundaries:
- never before the speech has lasted ``start_secs`` (it cannot know sooner), and at most
  START_LAG later: Pipecat's rolling volume needs ~0.25 s to rise over ``min_volume``, and a short
  first word followed by a comma pause ("Hello,") restarts the count;
- ``stop_secs`` after the speech ends, within STOP_EARLY/STOP_LAG: the model hears the quiet
  tail of the last sound a little early or late, and it decides once per 32 ms window.
Both windows are far narrower than the 1 s gap between utterances and the utterances themselves.
"""

from __future__ import annotations

import wave
from pathlib import Path

import pytest
from pipecat.audio.vad.vad_analyzer import VADAnalyzer, VADState
from pipecat.frames.frames import (
    InputAudioRawFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.pipeline.worker import PipelineParams
from pipecat.processors.audio.vad_processor import VADProcessor
from pipecat.tests.utils import run_test

from config.settings import load_settings
from pipeline.stages import make_vad
from tests.audio import (
    AudioFormatError,
    CallerFixture,
    audio_frames,
    caller_fixtures,
    frames_duration,
    read_wav,
    segment_times,
    silence,
)

FIXTURES = caller_fixtures()
START_LAG = 0.6
STOP_EARLY = 0.15
STOP_LAG = 0.25
# Enough quiet after the file's own 0.3 s tail for the second turn to end (stop_secs is 0.5).
TRAILING_SILENCE = 1.0


def _vad(sample_rate: int) -> VADAnalyzer:
    vad = make_vad(load_settings(env_file=None, pipeline={"input_sample_rate": sample_rate}))
    assert vad is not None
    vad.set_sample_rate(sample_rate)
    return vad


async def _speech_events(vad: VADAnalyzer, frames: list[InputAudioRawFrame]):
    """(audio time, started) for each turn change, as Pipecat's VADController reports them."""
    events: list[tuple[float, bool]] = []
    state, elapsed = VADState.QUIET, 0.0
    for frame in frames:
        elapsed += frame.num_frames / frame.sample_rate
        new = await vad.analyze_audio(frame.audio)
        # STARTING/STOPPING are undecided; the controller only announces SPEAKING and QUIET.
        if new != state and new in (VADState.SPEAKING, VADState.QUIET):
            events.append((elapsed, new is VADState.SPEAKING))
            state = new
    return events


def _assert_matches_recording(
    found: list[tuple[float, float | None]], fixture: CallerFixture, vad: VADAnalyzer
) -> None:
    start_secs, stop_secs = vad.params.start_secs, vad.params.stop_secs
    assert len(found) == len(fixture.segments) == 2, f"{fixture.path.name}: turns {found}"
    for (started, stopped), (begin, end) in zip(found, fixture.segments, strict=True):
        assert stopped is not None
        assert begin + start_secs <= started <= begin + start_secs + START_LAG, (started, begin)
        assert end + stop_secs - STOP_EARLY <= stopped <= end + stop_secs + STOP_LAG, (stopped, end)


def test_fixtures_are_the_recorded_callers():
    assert sorted(FIXTURES) == [
        "caller_en_16k.wav",
        "caller_en_8k_phone.wav",
        "caller_sq_16k.wav",
        "caller_sq_8k_phone.wav",
    ]
    for fixture in FIXTURES.values():
        audio = read_wav(fixture.path)
        assert audio.sample_rate == fixture.sample_rate
        assert audio.duration == pytest.approx(fixture.duration, abs=1e-3)
        frames = audio_frames(audio)
        # 20 ms frames, the last padded: the file fits in them with less than one frame to spare.
        assert {len(f.audio) for f in frames} == {fixture.sample_rate // 50 * 2}
        assert 0 <= frames_duration(frames) - audio.duration < 0.02
        trailing = audio_frames(audio, trailing_silence=TRAILING_SILENCE)
        assert frames_duration(trailing) == pytest.approx(
            frames_duration(frames) + TRAILING_SILENCE, abs=0.02
        )


@pytest.mark.parametrize(("channels", "width"), [(2, 2), (1, 1)], ids=["stereo-pcm16", "mono-pcm8"])
def test_read_wav_rejects_other_formats(tmp_path: Path, channels: int, width: int):
    path = tmp_path / "odd.wav"
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(width)
        wav.setframerate(16000)
        wav.writeframes(bytes(320 * channels * width))
    with pytest.raises(AudioFormatError, match="need mono 16-bit PCM"):
        read_wav(path)


def test_read_wav_rejects_a_file_that_is_not_wav(tmp_path: Path):
    path = tmp_path / "note.wav"
    path.write_text("not audio")
    with pytest.raises(AudioFormatError, match="not a PCM WAV"):
        read_wav(path)


@pytest.mark.asyncio
@pytest.mark.parametrize("name", sorted(FIXTURES))
async def test_silero_finds_both_utterances(name: str):
    fixture = FIXTURES[name]
    vad = _vad(fixture.sample_rate)
    try:
        frames = audio_frames(fixture.path, trailing_silence=TRAILING_SILENCE)
        found = segment_times(await _speech_events(vad, frames))
        _assert_matches_recording(found, fixture, vad)
    finally:
        await vad.cleanup()


@pytest.mark.asyncio
@pytest.mark.parametrize("sample_rate", [8000, 16000])
async def test_silence_alone_is_never_speech(sample_rate: int):
    vad = _vad(sample_rate)
    try:
        frames = audio_frames(silence(5.0, sample_rate))
        assert await _speech_events(vad, frames) == []
    finally:
        await vad.cleanup()


@pytest.mark.asyncio
@pytest.mark.parametrize("name", sorted(FIXTURES))
async def test_vad_processor_announces_two_turns_and_forwards_all_audio(name: str):
    fixture = FIXTURES[name]
    vad = _vad(fixture.sample_rate)
    frames = audio_frames(fixture.path, trailing_silence=TRAILING_SILENCE)
    # The idle timer watches the wall clock, which says nothing about audio pushed faster than
    # real time; without it the result depends only on the audio.
    processor = VADProcessor(vad_analyzer=vad, audio_idle_timeout=0)

    down, up = await run_test(
        processor,
        frames_to_send=frames,
        pipeline_params=PipelineParams(audio_in_sample_rate=fixture.sample_rate),
    )

    audio_out = [f for f in down if isinstance(f, InputAudioRawFrame)]
    assert [f.audio for f in audio_out] == [f.audio for f in frames]
    # The processor forwards each audio frame before analysing it, so a turn frame's position in
    # the stream gives the audio time at which the VAD decided.
    events, elapsed = [], 0.0
    for frame in down:
        if isinstance(frame, InputAudioRawFrame):
            elapsed += frame.num_frames / frame.sample_rate
        elif isinstance(frame, VADUserStartedSpeakingFrame | VADUserStoppedSpeakingFrame):
            events.append((elapsed, isinstance(frame, VADUserStartedSpeakingFrame)))
    _assert_matches_recording(segment_times(events), fixture, vad)
    # Turn frames are broadcast: the transport side upstream hears about both turns too.
    turn_types = (VADUserStartedSpeakingFrame, VADUserStoppedSpeakingFrame)
    assert [type(f) for f in up if isinstance(f, turn_types)] == list(turn_types) * 2
