"""Whole-call test harness: a real CallSession on the WAV-file transport against the emulator.

Shared by the pipeline call tests and the campaign launcher test. A call built here is the real
pipeline and GeminiLiveLLMService talking to :class:`devtools.gemini_emulator.GeminiLiveEmulator`,
with tools on the real SQLite file of the ``store`` fixture; the caller is a committed recording.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from app.application import Application
from config.settings import AppSettings, load_settings
from devtools.gemini_emulator import (
    GeminiLiveEmulator,
    Step,
    model_audio,
    output_transcription,
    tool_call,
    turn_complete,
    wait_for_client_content,
)
from pipeline.call.session import CallResult, CallSession
from pipeline.call.spec import CallSpec, CallTimeouts
from pipeline.file_transport import WavFileTransport
from pipeline.metadata import CallMetadata
from pipeline.telephony import Telephony
from storage import Store
from tools.catalog import default_registry
from tools.registry import ToolRegistry

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "audio"
CALLER = FIXTURES / "caller_sq_16k.wav"
NAME = "Arbër Çela"
PHONE = "+355691234567"
SPOKEN_PHONE = "069 123 4567"
CALL_ID = "call-1"
# A call that should end by itself gets this long before the test gives up on it. The silence
# timeout and end_call's wait for the goodbye are set well above it, so a call that only ends
# by going idle, or by giving up on the goodbye, fails the test.
HANG_GUARD_SECS = 20
NO_IDLE_END = {"silence_timeout_secs": 120}
NO_GOODBYE_FALLBACK = 120.0

BOOKING = {
    "patient_name": NAME,
    "preferred_date": "2026-12-02T10:00",
    "service_type": "checkup",
    "phone_number": SPOKEN_PHONE,
}


def call_settings(tmp_path: Path, emu: GeminiLiveEmulator, **groups: Any) -> AppSettings:
    """Settings for a call on the file transport against ``emu``, storing under ``tmp_path``.

    Args:
        tmp_path: The test's folder: database and log file go here.
        emu: The running emulator the Gemini service connects to.
        **groups: Settings groups to set; ``pipeline`` is merged over the file transport.

    Returns:
        The loaded settings (no ``.env`` file read).
    """
    pipeline = {"transport": "file", **groups.pop("pipeline", {})}
    return load_settings(
        env_file=None,
        database={"path": tmp_path / "elo.db"},
        logging={"file": tmp_path / "logs" / "elo.jsonl", "level": "DEBUG"},
        google={"api_key": "test-key", "base_url": emu.base_url, "model": "models/emulated"},
        pipeline=pipeline,
        **groups,
    )


def emulator_app(
    settings: AppSettings,
    clinic: Any,
    store: Store,
    clock: Any,
    emu: GeminiLiveEmulator,
    *,
    registry: ToolRegistry | None = None,
) -> Application:
    """The application of a test call whose model is ``emu`` (trusted through its SSL context)."""
    return Application(
        settings=settings,
        clinic=clinic,
        store=store,
        registry=registry or default_registry(),
        clock=clock,
        http_client_args={"ssl": emu.ssl_context},
    )


def file_transport(
    tmp_path: Path, caller: Path = CALLER, *, delay_secs: float = 1.0
) -> WavFileTransport:
    """The caller's recording in, Elo's audio out to ``tmp_path / "elo.wav"``, at real-time pace.

    Args:
        tmp_path: Where Elo's recording is written.
        caller: The caller's recording.
        delay_secs: Silence before the recording starts; by default the model is connected
            before the caller talks, as on a call.

    Returns:
        The transport.
    """
    return WavFileTransport(
        input_path=caller, output_path=tmp_path / "elo.wav", realtime=True, delay_secs=delay_secs
    )


def new_call(
    tmp_path: Path,
    emu: GeminiLiveEmulator,
    store: Store,
    clinic: Any,
    clock: Any,
    *,
    settings: AppSettings,
    transport: Any = None,
    metadata: CallMetadata | None = None,
    wait_for_answer: bool = False,
    telephony: Telephony | None = None,
    timeouts: CallTimeouts | None = None,
) -> CallSession:
    """A call session to ``NAME`` at ``PHONE`` (id ``CALL_ID``), not yet started.

    Args:
        tmp_path: The test's folder, for the default transport.
        emu: The running emulator (its TLS context is trusted).
        store: The store the call writes to.
        clinic: The clinic profile.
        clock: The call's clock.
        settings: The call's settings, e.g. from :func:`call_settings`.
        transport: Defaults to :func:`file_transport` with the committed caller.
        metadata: Defaults to a check-up call to ``NAME`` at ``PHONE``.
        wait_for_answer: See :class:`CallSpec`.
        telephony: See :class:`CallSpec`.
        timeouts: Defaults to :class:`CallTimeouts`' own.

    Returns:
        The session.
    """
    deps = emulator_app(settings, clinic, store, clock, emu)
    spec = CallSpec(
        metadata=metadata
        or CallMetadata(call_id=CALL_ID, patient_name=NAME, phone=PHONE, reason="kontrolli"),
        transport=transport or file_transport(tmp_path),
        wait_for_answer=wait_for_answer,
        telephony=telephony,
        timeouts=timeouts or CallTimeouts(),
    )
    return CallSession(deps, spec)


async def until_done(task: asyncio.Task[CallResult]) -> CallResult:
    """Wait for a running call to end, or fail the test after ``HANG_GUARD_SECS``.

    Args:
        task: The task running ``CallSession.run()``.

    Returns:
        The call's result.
    """
    # Not asyncio.timeout: Pipecat's runner absorbs a cancellation and goes on waiting, so a
    # timeout around it would neither stop the call nor fail the test.
    done, _ = await asyncio.wait({task}, timeout=HANG_GUARD_SECS)
    if not done:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        pytest.fail(f"the call did not end by itself within {HANG_GUARD_SECS} s")
    return task.result()


async def run_call(
    tmp_path: Path,
    emu: GeminiLiveEmulator,
    store: Store,
    clinic: Any,
    clock: Any,
    *,
    settings: AppSettings | None = None,
    transport: Any = None,
    metadata: CallMetadata | None = None,
    telephony: Telephony | None = None,
    timeouts: CallTimeouts | None = None,
) -> CallResult:
    """Run one call to its end (or fail the test after ``HANG_GUARD_SECS``).

    Unless given, the settings never end the call for silence and end_call waits
    ``NO_GOODBYE_FALLBACK`` for the goodbye, so only the script can end the call in time.

    Args:
        tmp_path: The test's folder.
        emu: The running emulator.
        store: The store the call writes to.
        clinic: The clinic profile.
        clock: The call's clock.
        settings: Defaults to :func:`call_settings` with ``NO_IDLE_END``.
        transport: Defaults to :func:`file_transport`.
        metadata: Defaults to a check-up call to ``NAME`` at ``PHONE``.
        telephony: See :class:`CallSpec`.
        timeouts: Defaults to ``NO_GOODBYE_FALLBACK`` for the goodbye.

    Returns:
        The call's result.
    """
    settings = settings or call_settings(tmp_path, emu, pipeline=NO_IDLE_END)
    call = new_call(
        tmp_path,
        emu,
        store,
        clinic,
        clock,
        settings=settings,
        transport=transport,
        metadata=metadata,
        telephony=telephony,
        timeouts=timeouts or CallTimeouts(goodbye=NO_GOODBYE_FALLBACK),
    )
    return await until_done(asyncio.create_task(call.run()))


async def assert_nothing_left_running() -> None:
    """No pipeline, model connection, transport or saver task outlives the call."""
    await asyncio.sleep(0.1)  # let tasks that are already done be collected
    current = asyncio.current_task()
    left = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
    assert not left, [t.get_name() for t in left]


def tool_results(emu: GeminiLiveEmulator) -> dict[str, Any]:
    """The tool results the model got, by call id (pipecat wraps them as ``{"value": ...}``)."""
    out: dict[str, Any] = {}
    for r in emu.function_responses:
        value = r.response.get("value", r.response) if isinstance(r.response, dict) else r.response
        out[str(r.id)] = json.loads(value) if isinstance(value, str) else value
    return out


def greeting() -> list[Step]:
    """Script steps: Elo is told the patient answered and greets first."""
    return [
        wait_for_client_content(),  # Elo is told the patient answered: it speaks first
        model_audio(0.2),
        output_transcription("Përshëndetje, jam asistenti automatik i klinikës."),
        turn_complete(),
    ]


def goodbye(reason: str, text: str = "Mirupafshim.", *, id: str = "bye") -> list[Step]:
    """Script steps: the model calls end_call with ``reason`` and then says ``text``."""
    return [
        tool_call("end_call", {"reason": reason}, id=id),
        model_audio(0.1),
        output_transcription(text),
        turn_complete(),
    ]
