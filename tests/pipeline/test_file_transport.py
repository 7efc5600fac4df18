"""The WAV file transport through a real Pipecat pipeline (no model: an echo stands in for Elo)."""

from __future__ import annotations

import asyncio
import math
import struct
import wave
from pathlib import Path

import pytest
from pipecat.frames.frames import EndFrame, Frame, InputAudioRawFrame, OutputAudioRawFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineWorker
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.workers.runner import WorkerRunner

from pipeline.file_transport import AudioFileError, WavFileTransport, read_wav


def _tone_wav(path: Path, *, seconds: float, rate: int = 16000) -> bytes:
    samples = [
        int(8000 * math.sin(2 * math.pi * 440 * n / rate)) for n in range(int(seconds * rate))
    ]
    pcm = struct.pack(f"<{len(samples)}h", *samples)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(pcm)
    return pcm


class Echo(FrameProcessor):
    """Turns the caller's audio into Elo's audio, so the output file must equal the input."""

    def __init__(self) -> None:
        super().__init__()
        self.frames = 0

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, InputAudioRawFrame):
            self.frames += 1
            await self.push_frame(
                OutputAudioRawFrame(
                    audio=frame.audio, sample_rate=frame.sample_rate, num_channels=1
                )
            )
        else:
            await self.push_frame(frame, direction)


async def _run_echo(
    tmp_path: Path,
    *,
    realtime: bool,
    start_when: asyncio.Event | None = None,
    echo: Echo | None = None,
) -> tuple[bytes, bytes, Echo]:
    caller = tmp_path / "caller.wav"
    pcm = _tone_wav(caller, seconds=0.5)
    out = tmp_path / "out" / "elo.wav"
    worker: PipelineWorker | None = None

    async def finished() -> None:
        assert worker is not None
        await worker.queue_frame(EndFrame())

    transport = WavFileTransport(
        input_path=caller,
        output_path=out,
        out_sample_rate=16000,
        realtime=realtime,
        on_input_finished=finished,
        start_when=start_when,
    )
    echo = echo or Echo()
    worker = PipelineWorker(
        Pipeline([transport.input(), echo, transport.output()]), idle_timeout_secs=10
    )
    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)
    await asyncio.wait_for(runner.run(), timeout=30)

    assert transport.input_seconds == pytest.approx(0.5)
    with wave.open(str(out), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 16000)
        return pcm, wav.readframes(wav.getnframes()), echo


@pytest.mark.asyncio
async def test_recording_is_played_and_elos_side_is_recorded(tmp_path: Path) -> None:
    pcm, written, echo = await _run_echo(tmp_path, realtime=False)
    # The whole recording came out in order, followed only by the line's silence.
    assert written[: len(pcm)] == pcm
    assert set(written[len(pcm) :]) <= {0}
    assert echo.frames >= len(pcm) // 640


@pytest.mark.asyncio
async def test_realtime_output_keeps_the_timeline_with_silence(tmp_path: Path) -> None:
    pcm, written, _ = await _run_echo(tmp_path, realtime=True)
    start = written.find(pcm)
    assert start >= 0, "the recording must come out whole and contiguous"
    assert set(written[:start]) <= {0} and set(written[start + len(pcm) :]) <= {0}


@pytest.mark.asyncio
async def test_the_recording_waits_for_start_when(tmp_path: Path) -> None:
    go = asyncio.Event()

    class ReleasingEcho(Echo):
        """Sets ``go`` once 10 frames (all the line's silence so far) have passed."""

        async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
            await super().process_frame(frame, direction)
            if self.frames >= 10:
                go.set()

    pcm, written, _ = await _run_echo(tmp_path, realtime=False, start_when=go, echo=ReleasingEcho())
    start = written.find(pcm)
    assert start >= 10 * 640, "the recording started before start_when was set"
    assert set(written[:start]) <= {0}


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: None, "does not exist"),
        (lambda p: p.write_bytes(b"not a wav"), "not a WAV"),
    ],
)
def test_unusable_recordings_are_refused_clearly(tmp_path: Path, make, message) -> None:
    path = tmp_path / "x.wav"
    make(path)
    with pytest.raises(AudioFileError, match=message):
        read_wav(path)


def test_wrong_rate_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "cd.wav"
    _tone_wav(path, seconds=0.1, rate=44100)
    with pytest.raises(AudioFileError, match="8000 or 16000 Hz"):
        read_wav(path)
