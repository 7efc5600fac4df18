"""Each transport kind wires its own events into a call (pipeline.call.transport.CallTransport)."""

from __future__ import annotations

import asyncio
import wave
from pathlib import Path
from typing import Any

import pytest
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineWorker
from pipecat.transports.smallwebrtc.connection import SmallWebRTCConnection

from config.settings import load_settings
from pipeline.call.transport import CallEvents, CallTransport
from pipeline.transports import make_transport


class Heard:
    """The three hooks of a call, each noting when it ran."""

    def __init__(self, *, greet: bool = True) -> None:
        self.ran: list[str] = []
        self.events = CallEvents(
            ready=self._hook("ready"),
            joined=self._hook("joined") if greet else None,
            left=self._hook("left"),
        )

    def _hook(self, name: str) -> Any:
        async def hook() -> None:
            self.ran.append(name)

        return hook

    async def after(self, emitter: Any, event: str, *args: Any) -> list[str]:
        """What ran once ``emitter`` fired ``event`` (handlers may run in tasks)."""
        self.ran.clear()
        await emitter._call_event_handler(event, *args)
        for _ in range(20):
            await asyncio.sleep(0.01)
        return sorted(self.ran)


def _worker(transport: CallTransport) -> PipelineWorker:
    return PipelineWorker(Pipeline([transport.input(), transport.output()]))


def _livekit() -> CallTransport:
    settings = load_settings(
        env_file=None,
        livekit={"url": "ws://127.0.0.1:1", "api_key": "k", "api_secret": "s" * 32},
    )
    return make_transport(settings, room="call-7")


def _file(tmp_path: Path) -> CallTransport:
    caller = tmp_path / "in.wav"
    with wave.open(str(caller), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(16000)
        wav.writeframes(bytes(3200))
    settings = load_settings(env_file=None, pipeline={"transport": "file"})
    return make_transport(settings, input_path=caller, output_path=tmp_path / "out.wav")


def _browser() -> CallTransport:
    settings = load_settings(env_file=None, pipeline={"transport": "webrtc"})
    return make_transport(settings, webrtc_connection=SmallWebRTCConnection())


@pytest.mark.asyncio
async def test_livekit_is_ready_in_the_room_and_the_callee_is_its_participant():
    transport = _livekit()
    worker, heard = _worker(transport), Heard()
    transport.wire(worker, heard.events)
    assert await heard.after(transport, "on_connected", transport) == ["ready"]
    assert await heard.after(transport, "on_first_participant_joined", transport, "p") == ["joined"]
    assert await heard.after(transport, "on_participant_left", transport, "p", "gone") == ["left"]
    assert await heard.after(worker, "on_pipeline_started", None) == []


@pytest.mark.asyncio
async def test_livekit_waiting_for_the_answer_does_not_greet_when_the_callee_joins():
    transport = _livekit()
    worker, heard = _worker(transport), Heard(greet=False)
    transport.wire(worker, heard.events)
    assert await heard.after(transport, "on_first_participant_joined", transport, "p") == []
    assert await heard.after(transport, "on_participant_left", transport, "p", "gone") == ["left"]


@pytest.mark.asyncio
async def test_a_browser_call_is_ready_with_the_pipeline_and_the_callee_is_the_browser():
    transport = _browser()
    worker, heard = _worker(transport), Heard()
    transport.wire(worker, heard.events)
    assert await heard.after(worker, "on_pipeline_started", None) == ["ready"]
    assert await heard.after(transport, "on_client_connected", transport, "c") == ["joined"]
    assert await heard.after(transport, "on_client_disconnected", transport, "c") == ["left"]


@pytest.mark.asyncio
async def test_a_recorded_caller_is_there_when_the_pipeline_starts(tmp_path):
    transport = _file(tmp_path)
    worker, heard = _worker(transport), Heard()
    transport.wire(worker, heard.events)
    assert await heard.after(worker, "on_pipeline_started", None) == ["joined", "ready"]

    waiting = _file(tmp_path)
    worker, heard = _worker(waiting), Heard(greet=False)
    waiting.wire(worker, heard.events)
    assert await heard.after(worker, "on_pipeline_started", None) == ["ready"]
