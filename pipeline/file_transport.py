"""A transport that plays a WAV recording as the caller and records Elo's side to a WAV file.

Used by ``python bot.py --transport file --input caller.wav --output elo.wav``, ``make demo`` and
the offline tests: recorded calls replay through the real pipeline. The recording is fed in 20 ms
frames at real-time pace (or as fast as possible for tests that do not depend on timing); after it
ends, silence keeps flowing, as on a real line, until the call ends.
"""

from __future__ import annotations

import asyncio
import time
import wave
from collections.abc import Awaitable, Callable
from pathlib import Path

from pipecat.frames.frames import (
    CancelFrame,
    EndFrame,
    InputAudioRawFrame,
    OutputAudioRawFrame,
    StartFrame,
)
from pipecat.pipeline.worker import PipelineWorker
from pipecat.processors.frame_processor import FrameProcessor, FrameProcessorSetup
from pipecat.transports.base_input import BaseInputTransport
from pipecat.transports.base_output import BaseOutputTransport
from pipecat.transports.base_transport import BaseTransport, TransportParams

from config.private_files import create_private_file
from pipeline.call.transport import CallEvents, when_started

FRAME_MS = 20


class AudioFileError(ValueError):
    """The recording cannot be used; the message says why in one line."""


def read_wav(path: Path) -> tuple[bytes, int]:
    """Read a mono 16-bit PCM WAV file.

    Returns:
        The PCM bytes and the sample rate.

    Raises:
        AudioFileError: Missing, not a WAV, not mono 16-bit, or not 8/16 kHz.
    """
    try:
        with wave.open(str(path), "rb") as wav:
            channels, width, rate = wav.getnchannels(), wav.getsampwidth(), wav.getframerate()
            pcm = wav.readframes(wav.getnframes())
    except FileNotFoundError:
        raise AudioFileError(f"{path} does not exist") from None
    except (wave.Error, EOFError) as exc:
        raise AudioFileError(f"{path} is not a WAV file ({exc})") from None
    if channels != 1 or width != 2:
        raise AudioFileError(f"{path} must be mono 16-bit PCM (is {channels} ch, {8 * width} bit)")
    if rate not in (8000, 16000):
        raise AudioFileError(f"{path} must be 8000 or 16000 Hz (is {rate} Hz)")
    return pcm, rate


class WavInputTransport(BaseInputTransport):
    """Pushes a recording as 20 ms input frames, then silence."""

    def __init__(
        self,
        params: TransportParams,
        *,
        pcm: bytes,
        sample_rate: int,
        realtime: bool,
        delay_secs: float = 0.0,
        on_finished: Callable[[], Awaitable[None]] | None = None,
        start_when: asyncio.Event | None = None,
    ) -> None:
        super().__init__(params)
        self._delay = delay_secs
        self._start_when = start_when
        self._pcm = pcm
        self._rate = sample_rate
        self._realtime = realtime
        self._on_finished = on_finished
        self._feeder: asyncio.Task | None = None
        self._clock_start = 0.0
        self._sent = 0

    async def start(self, frame: StartFrame) -> None:
        """Start feeding frames once the pipeline has started."""
        await super().start(frame)
        await self.set_transport_ready(frame)
        if self._feeder is None:
            self._clock_start = time.monotonic()
            self._feeder = self.create_task(self._feed(), "wav_feeder")

    async def stop(self, frame: EndFrame) -> None:
        """Stop feeding at the end of the call."""
        await self._stop_feeding()
        await super().stop(frame)

    async def cancel(self, frame: CancelFrame) -> None:
        """Stop feeding when the call is cancelled."""
        await self._stop_feeding()
        await super().cancel(frame)

    async def cleanup(self) -> None:
        """Stop feeding."""
        await self._stop_feeding()
        await super().cleanup()

    async def _drained(self) -> None:
        # Faster than real time, frames wait in the base transport's queue; ending the call
        # before they are processed would drop the end of the recording.
        queue = getattr(self, "_audio_in_queue", None)
        if queue is not None:
            await queue.join()

    async def _stop_feeding(self) -> None:
        if self._feeder is not None:
            feeder, self._feeder = self._feeder, None
            await self.cancel_task(feeder)

    async def _feed(self) -> None:
        step = self._rate * 2 * FRAME_MS // 1000
        silence = bytes(step)
        # The caller may wait before speaking (e.g. while Elo greets); that wait is a real one.
        realtime, self._realtime = self._realtime, True
        for _ in range(round(self._delay * 1000 / FRAME_MS)):
            await self._push(silence)
            await self._pace()
        while self._start_when is not None and not self._start_when.is_set():
            await self._push(silence)
            await self._pace()
        self._realtime = realtime
        for position in range(0, len(self._pcm), step):
            chunk = self._pcm[position : position + step]
            await self._push(chunk + silence[len(chunk) :])
            await self._pace()
        await self._drained()
        if self._on_finished is not None:
            await self._on_finished()
        # The line stays open: silence at real-time pace (also in fast runs, so that timers
        # such as VAD stop and idle detection behave as on a call, without flooding the loop).
        self._realtime = True
        self._clock_start = time.monotonic()
        self._sent = 0
        while True:
            await self._push(silence)
            await self._pace()

    async def _push(self, pcm: bytes) -> None:
        await self.push_audio_frame(
            InputAudioRawFrame(audio=pcm, sample_rate=self._rate, num_channels=1)
        )
        self._sent += 1

    async def _pace(self) -> None:
        if self._realtime:
            # Pace by schedule, not by sleeping 20 ms each time, so delays do not accumulate.
            delay = self._clock_start + self._sent * FRAME_MS / 1000 - time.monotonic()
            await asyncio.sleep(max(delay, 0))
        else:
            await asyncio.sleep(0)


class WavOutputTransport(BaseOutputTransport):
    """Writes Elo's audio to a WAV file, with silence where Elo was quiet (real-time runs)."""

    def __init__(self, params: TransportParams, *, path: Path, realtime: bool) -> None:
        super().__init__(params)
        self._path = path
        self._realtime = realtime
        self._wav: wave.Wave_write | None = None
        self._started = 0.0
        self._written = 0

    async def setup(self, setup: FrameProcessorSetup) -> None:
        """Open the output file at the output sample rate."""
        await super().setup(setup)
        # A recording of a call is personal data: a new file is 0600, new folders 0700.
        create_private_file(self._path)
        self._wav = wave.open(str(self._path), "wb")
        self._wav.setnchannels(1)
        self._wav.setsampwidth(2)
        self._wav.setframerate(self.sample_rate)

    async def start(self, frame: StartFrame) -> None:
        """Start the clock the silence padding is measured against."""
        await super().start(frame)
        self._started = time.monotonic()
        await self.set_transport_ready(frame)

    async def cleanup(self) -> None:
        """Close the file so it is a valid WAV even after a cancelled call."""
        await super().cleanup()
        if self._wav is not None:
            self._wav.close()
            self._wav = None

    async def write_audio_frame(self, frame: OutputAudioRawFrame) -> bool:
        """Append a frame, first padding the gap since the last one with silence."""
        if self._wav is None:
            return False
        if self._realtime:
            due = int((time.monotonic() - self._started) * self.sample_rate)
            gap = due - self._written
            if gap > self.sample_rate * FRAME_MS // 1000:
                self._wav.writeframes(bytes(2 * gap))
                self._written += gap
        self._wav.writeframes(frame.audio)
        self._written += len(frame.audio) // 2
        return True


class WavFileTransport(BaseTransport):
    """The caller is a recording; Elo's side goes to a file.

    A :class:`~pipeline.call.transport.CallTransport`: see :meth:`wire`.

    Args:
        input_path: The caller's recording (mono PCM16, 8 or 16 kHz).
        output_path: Where Elo's audio is written.
        out_sample_rate: Rate of Elo's audio (Gemini Live speaks at 24 kHz).
        realtime: Pace input at real time and pad output silence; off for fast tests.
        delay_secs: Silence before the recording starts, e.g. while Elo greets.
        on_input_finished: Awaited once the whole recording has been played.
        start_when: The recording starts once this is set (and ``delay_secs`` has passed);
            silence flows until then, e.g. until Elo's greeting has ended.
    """

    def __init__(
        self,
        *,
        input_path: Path,
        output_path: Path,
        out_sample_rate: int = 24000,
        realtime: bool = True,
        delay_secs: float = 0.0,
        on_input_finished: Callable[[], Awaitable[None]] | None = None,
        start_when: asyncio.Event | None = None,
    ) -> None:
        super().__init__()
        pcm, rate = read_wav(input_path)
        self.input_sample_rate = rate
        self.input_seconds = len(pcm) / 2 / rate
        self._params = TransportParams(
            audio_in_enabled=True,
            audio_in_sample_rate=rate,
            audio_out_enabled=True,
            audio_out_sample_rate=out_sample_rate,
        )
        self._input = WavInputTransport(
            self._params,
            pcm=pcm,
            sample_rate=rate,
            realtime=realtime,
            delay_secs=delay_secs,
            on_finished=on_input_finished,
            start_when=start_when,
        )
        self._output = WavOutputTransport(self._params, path=output_path, realtime=realtime)

    def input(self) -> FrameProcessor:
        """The processor that plays the caller's recording."""
        return self._input

    def output(self) -> FrameProcessor:
        """The processor that records Elo's audio."""
        return self._output

    def wire(self, worker: PipelineWorker, events: CallEvents) -> None:
        """The line is ready, and the caller there, once the pipeline starts; it never leaves."""
        when_started(worker, events.ready)
        if events.joined is not None:
            when_started(worker, events.joined)
