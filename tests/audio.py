"""Recorded audio for tests: read a WAV fixture and cut it into Pipecat input frames.

Transports deliver caller audio as a stream of short ``InputAudioRawFrame`` chunks (20 ms is
what LiveKit and WebRTC use); :func:`audio_frames` turns a recorded file into the same stream so
processors see what a call would give them. Frames are plain objects: a test pushes them as fast
as it likes, so nothing here waits in real time.

The committed callers live in ``tests/fixtures/audio`` (see its README.md); :func:`caller_fixtures`
reads the speech boundaries measured when they were generated.
"""

from __future__ import annotations

import json
import wave
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pipecat.frames.frames import InputAudioRawFrame

FIXTURES_DIR = Path(__file__).resolve().parent / "fixtures" / "audio"
FRAME_MS = 20
SAMPLE_WIDTH = 2  # bytes per sample: PCM16


class AudioFormatError(ValueError):
    """A WAV file is not the mono 16-bit PCM that transports deliver."""


@dataclass(frozen=True)
class WavAudio:
    """Decoded PCM16 audio from a WAV file.

    Attributes:
        pcm: Little-endian signed 16-bit samples, interleaved if more than one channel.
        sample_rate: Samples per second per channel.
        num_channels: Channel count (always 1 for files read by :func:`read_wav`).
    """

    pcm: bytes
    sample_rate: int
    num_channels: int

    @property
    def num_samples(self) -> int:
        """Samples per channel."""
        return len(self.pcm) // (SAMPLE_WIDTH * self.num_channels)

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.num_samples / self.sample_rate


@dataclass(frozen=True)
class CallerFixture:
    """One committed caller recording and the speech segments measured when it was made.

    Attributes:
        path: The WAV file.
        voice: The espeak-ng voice that spoke it ("sq", "en").
        sample_rate: Its sample rate in Hz.
        duration: Its length in seconds.
        texts: What was said, one entry per segment.
        segments: (start, end) of each utterance in seconds from the start of the file.
    """

    path: Path
    voice: str
    sample_rate: int
    duration: float
    texts: tuple[str, ...]
    segments: tuple[tuple[float, float], ...]


def read_wav(path: Path | str) -> WavAudio:
    """Read a mono 16-bit PCM WAV file.

    Args:
        path: The file to read.

    Returns:
        The decoded audio.

    Raises:
        AudioFormatError: The file is not a WAV, or is not mono 16-bit PCM; the message says what
            it is instead.
    """
    try:
        with wave.open(str(path), "rb") as wav:
            channels, width, rate = wav.getnchannels(), wav.getsampwidth(), wav.getframerate()
            pcm = wav.readframes(wav.getnframes())
    except (wave.Error, EOFError) as exc:
        # wave rejects float and compressed encodings itself ("unknown format: 3").
        raise AudioFormatError(f"{path}: not a PCM WAV file ({exc}); need mono 16-bit PCM") from exc
    if channels != 1 or width != SAMPLE_WIDTH:
        raise AudioFormatError(
            f"{path}: {channels} channel(s) of {8 * width}-bit samples; need mono 16-bit PCM"
        )
    return WavAudio(pcm=pcm, sample_rate=rate, num_channels=channels)


def silence(seconds: float, sample_rate: int) -> WavAudio:
    """Digital silence of the given length.

    Args:
        seconds: Length in seconds.
        sample_rate: Sample rate in Hz.

    Returns:
        Mono PCM16 zeros.
    """
    return WavAudio(
        pcm=bytes(round(seconds * sample_rate) * SAMPLE_WIDTH),
        sample_rate=sample_rate,
        num_channels=1,
    )


def audio_frames(
    audio: WavAudio | Path | str,
    *,
    trailing_silence: float = 0.0,
    frame_ms: int = FRAME_MS,
) -> list[InputAudioRawFrame]:
    """Cut audio into consecutive input frames of ``frame_ms`` each, as a transport would.

    The last chunk is padded with silence to a whole frame, so every frame has the same size.

    Args:
        audio: Decoded audio, or a WAV path to read with :func:`read_wav`.
        trailing_silence: Seconds of silence appended after the audio, e.g. so that a VAD sees the
            caller go quiet for long enough to end the turn.
        frame_ms: Frame length in milliseconds.

    Returns:
        The frames, carrying the file's sample rate and channel count.
    """
    if not isinstance(audio, WavAudio):
        audio = read_wav(audio)
    frame_bytes = audio.sample_rate * frame_ms // 1000 * SAMPLE_WIDTH * audio.num_channels
    pcm = audio.pcm + bytes(round(trailing_silence * audio.sample_rate) * SAMPLE_WIDTH)
    remainder = len(pcm) % frame_bytes
    if remainder:
        pcm += bytes(frame_bytes - remainder)
    return [
        InputAudioRawFrame(
            audio=pcm[offset : offset + frame_bytes],
            sample_rate=audio.sample_rate,
            num_channels=audio.num_channels,
        )
        for offset in range(0, len(pcm), frame_bytes)
    ]


def frames_duration(frames: Iterable[InputAudioRawFrame]) -> float:
    """Total length in seconds of a sequence of audio frames.

    Args:
        frames: Audio frames, possibly of different rates.

    Returns:
        The sum of each frame's samples divided by its rate.
    """
    return sum(frame.num_frames / frame.sample_rate for frame in frames)


def caller_fixtures(directory: Path = FIXTURES_DIR) -> dict[str, CallerFixture]:
    """The committed caller recordings, by file name, from ``segments.json``.

    Args:
        directory: The fixture folder (written by its ``make_fixtures.sh``).

    Returns:
        One entry per WAV file.
    """
    manifest = json.loads((directory / "segments.json").read_text(encoding="utf-8"))
    return {
        name: CallerFixture(
            path=directory / name,
            voice=entry["voice"],
            sample_rate=entry["sample_rate"],
            duration=entry["duration"],
            texts=tuple(entry["texts"]),
            segments=tuple((start, end) for start, end in entry["segments"]),
        )
        for name, entry in manifest.items()
    }


def segment_times(events: Sequence[tuple[float, bool]]) -> list[tuple[float, float | None]]:
    """Pair speech start/stop events into segments.

    Args:
        events: (time, started) pairs in order: ``True`` for a start, ``False`` for a stop.

    Returns:
        (start, stop) per segment; stop is None if the stream ended while speaking.

    Raises:
        ValueError: Two starts or two stops in a row.
    """
    segments: list[tuple[float, float | None]] = []
    for time, started in events:
        if started:
            if segments and segments[-1][1] is None:
                raise ValueError(f"speech started again at {time:.2f} s without a stop")
            segments.append((time, None))
        else:
            if not segments or segments[-1][1] is not None:
                raise ValueError(f"speech stopped at {time:.2f} s without a start")
            segments[-1] = (segments[-1][0], time)
    return segments
