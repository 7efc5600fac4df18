"""First run with real keys: one short call against the real Gemini Live API, one real phone call.

``make smoke`` (``python -m devtools.smoke``) plays a recorded English caller through Elo's real
pipeline (the file transport, as ``make demo``) against the Gemini Live endpoint of the settings,
on a throwaway database of the sample clinic, and checks: Elo greets (its first audio arrives),
the model calls ``check_available_slots`` or ``assess_client_needs`` and gets the answer, Elo
replies, and the call ends cleanly (outcome not ``failed``, no pipeline error). It prints the time
to the greeting and the response latency: the caller's end of speech to Elo's first audio after it.

``make smoke-dial NUMBER=+355...`` (``python -m devtools.smoke dial NUMBER``) places ONE real call
to a number the operator owns, through the campaign's LiveKit dialer and a call session set up
like a campaign call (waiting for the answer, transfers through the room), and reports the dial,
the answer, the greeting and the end.

Without the keys both print one line saying so and exit 0: nothing was called. Exit codes: 0
passed or skipped, 1 a check failed (the last line names it), 2 unusable configuration or input.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import ssl
import sys
import tempfile
import time
import uuid
from array import array
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NoReturn

from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    ErrorFrame,
    Frame,
    FunctionCallResultFrame,
    InputAudioRawFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
)
from pipecat.processors.frame_processor import FrameDirection

from config.settings import AppSettings, ClinicSettings
from pipeline.processors.base import FrameObserver, Route

CALLER = Path(__file__).resolve().parent.parent / "demo" / "audio" / "smoke_caller_en_16k.wav"
SLOT_TOOLS = frozenset({"check_available_slots", "assess_client_needs"})
# A sample louder than 0.5% of full scale (-46 dBFS) is speech: the threshold the recording's
# silences were trimmed with (demo/audio/make_smoke_caller.sh).
SPEECH_PEAK = 164
PAUSE_BEFORE_CALLER = 0.8  # seconds after Elo's greeting before the caller speaks
REPLY_TIMEOUT = 30.0  # seconds from the caller's question to the end of Elo's reply
TOOL_GRACE = 10.0  # seconds after that reply for a tool call and its answer, if none came yet
MAX_CALL_SECONDS = 180  # the smoke call's cap (and the dialled call's)
NS = 1_000_000_000


class SmokeFailed(Exception):
    """A check failed; ``check`` names it, the message says why."""

    def __init__(self, check: str, why: str) -> None:
        super().__init__(why)
        self.check = check


class SmokeProbe(FrameObserver):
    """Watches one call: the greeting, the caller's speech, tool results and Elo's answers.

    Times are push times on the pipeline clock (nanoseconds since the call started). The caller's
    end of speech is the last input frame (20 ms) with a sample above :data:`SPEECH_PEAK`.

    Attributes:
        greeted: Set when Elo's first turn has ended and its audio has played out.
        replied: Set when Elo's first turn after the caller's speech has ended and played out.
        answered: Set when Elo's turn after a slot tool's result has ended and played out.
    """

    def __init__(self) -> None:
        super().__init__()
        self.greeting_ns: int | None = None
        self.last_speech_ns: int | None = None
        self._starts: list[int] = []
        self.tool: str | None = None
        self.errors: list[str] = []
        self.greeted = asyncio.Event()
        self.replied = asyncio.Event()
        self.answered = asyncio.Event()
        self.first_audio = asyncio.Event()
        self._tool_ns = 0
        self._turn_end_ns = -1
        self._speaking = False
        self._turn_over = False

    def routes(self) -> Mapping[type[Frame], Route]:
        """Elo's speaking, its turn ends, tool results and the caller's audio."""
        return {
            BotStartedSpeakingFrame: self._started,
            BotStoppedSpeakingFrame: self._stopped,
            LLMFullResponseStartFrame: self._turn_start,
            LLMFullResponseEndFrame: self._turn_end,
            FunctionCallResultFrame: self._result,
            InputAudioRawFrame: self._heard,
        }

    def observe(self, frame: Frame, direction: FrameDirection, timestamp_ns: int) -> None:
        """Note errors whichever way they travel (upstream, mostly); route the rest."""
        if isinstance(frame, ErrorFrame):
            self.errors.append(str(frame.error).splitlines()[0] if frame.error else "error")
            return
        super().observe(frame, direction, timestamp_ns)

    @property
    def latency_ns(self) -> int | None:
        """The caller's end of speech to Elo's first audio after it; None without a reply.

        Audio Elo started while the caller was still speaking (talking over them) is no reply.
        """
        end = self.last_speech_ns
        after = [ts for ts in self._starts if end is not None and ts > end]
        return after[0] - end if after and end is not None else None

    def _heard(self, frame: Frame, ts: int) -> None:
        assert isinstance(frame, InputAudioRawFrame)
        samples = array("h", frame.audio[: len(frame.audio) // 2 * 2])
        if self.greeted.is_set() and samples and max(max(samples), -min(samples)) > SPEECH_PEAK:
            self.last_speech_ns = ts

    def _started(self, _: Frame, ts: int) -> None:
        self._speaking = True
        if self.greeting_ns is None:
            self.greeting_ns = ts
            self.first_audio.set()
        self._starts.append(ts)

    def _stopped(self, _: Frame, __: int) -> None:
        self._speaking = False
        self._check_quiet()

    def _turn_start(self, _: Frame, __: int) -> None:
        # The model's turn, as it arrives; its audio plays out later (BotStarted/Stopped).
        self._turn_over = False

    def _turn_end(self, _: Frame, ts: int) -> None:
        self._turn_over, self._turn_end_ns = True, ts
        self._check_quiet()

    def _result(self, frame: Frame, ts: int) -> None:
        assert isinstance(frame, FunctionCallResultFrame)
        if frame.function_name in SLOT_TOOLS and self.tool is None:
            self.tool, self._tool_ns = frame.function_name, ts

    def _check_quiet(self) -> None:
        if self._speaking or not self._turn_over or self.greeting_ns is None:
            return
        self.greeted.set()
        if self.latency_ns is not None:
            self.replied.set()
        if self.tool is not None and self._turn_end_ns > self._tool_ns:
            self.answered.set()


def _seconds(ns: int | None) -> str:
    return "-" if ns is None else f"{ns / NS:.2f} s"


def _smoke_settings(base: AppSettings, out: Path, **pipeline: Any) -> AppSettings:
    """``base`` on a throwaway database and log in ``out``, with the sample clinic of the demo."""
    return base.model_copy(
        update={
            "database": base.database.model_copy(update={"path": out / "smoke.db"}),
            "logging": base.logging.model_copy(update={"file": out / "smoke.jsonl"}),
            "clinic": base.clinic.model_copy(
                update={"profile_path": ClinicSettings.model_fields["profile_path"].default}
            ),
            "pipeline": base.pipeline.model_copy(
                update={"max_call_seconds": MAX_CALL_SECONDS, **pipeline}
            ),
        }
    )


def _session(settings: AppSettings, ctx: Any, probe: SmokeProbe, **options: Any) -> Any:
    from pipeline.call import CallSession
    from tools.catalog import default_registry

    return CallSession(
        settings=settings,
        clinic=ctx.clinic,
        store=ctx.store,
        registry=default_registry(),
        observers=[probe],
        **options,
    )


async def smoke_call(
    settings: AppSettings, out: Path, *, http_client_args: dict[str, Any] | None = None
) -> list[str]:
    """Run the recorded caller's call and check it.

    Args:
        settings: The smoke settings (see :func:`_smoke_settings`).
        out: Folder for Elo's audio.
        http_client_args: Extra model-client arguments (a private endpoint's SSL context).

    Returns:
        One line per passed check, then a summary line.

    Raises:
        SmokeFailed: A check failed.
    """
    from cli.runtime import open_context
    from pipeline.file_transport import WavFileTransport
    from pipeline.metadata import CallMetadata
    from tools.context import ToolMode

    probe, go = SmokeProbe(), asyncio.Event()
    transport = WavFileTransport(
        input_path=CALLER,
        output_path=out / "elo.wav",
        out_sample_rate=settings.pipeline.output_sample_rate,
        start_when=go,
    )
    async with open_context(settings, mode=ToolMode.CALL) as ctx:
        session = _session(
            settings,
            ctx,
            probe,
            metadata=CallMetadata(reason="six-month check-up", language="en"),
            transport=transport,
            goodbye_timeout=1.0,  # the smoke test, not the model, ends the call
            http_client_args=http_client_args,
        )

        async def drive() -> None:
            # The caller answers Elo's greeting; a call whose model never speaks is ended by
            # the session's own first-audio watch.
            await probe.greeted.wait()
            await asyncio.sleep(PAUSE_BEFORE_CALLER)
            go.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(probe.replied.wait(), REPLY_TIMEOUT)
                await asyncio.wait_for(probe.answered.wait(), TOOL_GRACE)
            await session.end_call(reason="completed")

        driver = asyncio.create_task(drive())
        try:
            result = await session.run()
        finally:
            driver.cancel()
    record = result.record
    ended = f"(the call ended: {record.outcome}, {record.outcome_reason or '-'})"
    for entry in record.transcript:
        if entry.get("role") in ("patient", "elo") and entry.get("text"):
            who = "caller" if entry["role"] == "patient" else "Elo"
            print(f"  {who}: {entry['text']}")
    if probe.greeting_ns is None:
        raise SmokeFailed("greeting", f"Elo's first audio never arrived {ended}")
    lines = [f"greeting   ok  Elo spoke {_seconds(probe.greeting_ns)} after the call started"]
    if probe.tool is None:
        raise SmokeFailed("tool call", f"no {' or '.join(sorted(SLOT_TOOLS))} was answered {ended}")
    lines.append(f"tool call  ok  {probe.tool} answered")
    if probe.latency_ns is None:
        raise SmokeFailed("reply", f"Elo did not answer the caller's question {ended}")
    vad = (result.summary.get("latency_ms") or {}).get("p50")
    lines.append(
        f"reply      ok  response latency {_seconds(probe.latency_ns)} from the caller's end of"
        f" speech to Elo's first audio (from the end of turn: {vad} ms)"
    )
    if record.outcome == "failed" or probe.errors:
        raise SmokeFailed("end", f"{record.outcome}: {record.outcome_reason or probe.errors[0]}")
    lines.append(f"end        ok  {record.outcome}")
    lines.append(
        f"passed: time to greeting {_seconds(probe.greeting_ns)}, response latency"
        f" {_seconds(probe.latency_ns)}"
    )
    return lines


async def dial_call(
    settings: AppSettings,
    phone: str,
    *,
    say: Callable[[str], None],
    transport_factory: Callable[[str], Any] | None = None,
    http_client_args: dict[str, Any] | None = None,
) -> None:
    """Place one real call to ``phone`` like a campaign call and report each step.

    Args:
        settings: The smoke settings (see :func:`_smoke_settings`).
        phone: The number to call, E.164.
        say: Prints one line of progress.
        transport_factory: Builds the call's transport from the room name; the default joins
            the LiveKit room (tests pass a file transport).
        http_client_args: Extra model-client arguments (a private endpoint's SSL context).

    Raises:
        SmokeFailed: A step failed (dial, answer, greeting, end).
    """
    from campaign.dialer import DialerError, DialRequest, LiveKitDialer
    from campaign.launcher import RoomTelephony, SessionCall
    from campaign.runner import READY_TIMEOUT_S, ROOM_EMPTY_TIMEOUT_S, STOP_TIMEOUT_S
    from cli.runtime import open_context
    from pipeline.metadata import CallMetadata
    from pipeline.transports import make_transport
    from tools.context import ToolMode

    room, identity = f"elo-smoke-{uuid.uuid4().hex[:12]}", "smoke-callee"
    factory = transport_factory or (lambda name: make_transport(settings, room=name))
    dialer = LiveKitDialer.from_settings(settings)
    probe, live = SmokeProbe(), None
    async with open_context(settings, mode=ToolMode.CALL) as ctx:
        try:
            try:
                await dialer.create_room(
                    room=room,
                    metadata=json.dumps({"smoke": True}),
                    empty_timeout_s=ROOM_EMPTY_TIMEOUT_S,
                )
            except DialerError as exc:
                raise SmokeFailed("dial", str(exc)) from None
            live = SessionCall(
                _session(
                    settings,
                    ctx,
                    probe,
                    metadata=CallMetadata(
                        phone=phone,
                        reason="a test call of the clinic's new phone assistant",
                        language=settings.pipeline.language,
                    ),
                    transport=factory(room),
                    wait_for_answer=True,
                    telephony=RoomTelephony(dialer, room=room, participant_identity=identity),
                    http_client_args=http_client_args,
                )
            )
            try:
                await asyncio.wait_for(live.ready.wait(), READY_TIMEOUT_S)
            except TimeoutError:
                raise SmokeFailed("dial", "Elo did not join the call's room in time") from None
            if live.done():
                end = await live.wait()
                raise SmokeFailed("dial", f"Elo's pipeline ended before dialling: {end.reason}")
            started = time.monotonic()
            request = DialRequest(
                room=room,
                phone=phone,
                participant_identity=identity,
                trunk_id=settings.livekit.sip_trunk_id,
                caller_id=settings.livekit.sip_caller_id or None,
                ringing_timeout_s=float(settings.livekit.ringing_timeout_secs),
            )
            try:
                dial = await dialer.dial(request)
            except DialerError as exc:
                raise SmokeFailed("dial", str(exc)) from None
            status = dial.sip_status or "no SIP status"
            say(f"dial       ok  {status} after {time.monotonic() - started:.1f} s")
            if not dial.answered:
                raise SmokeFailed("answer", f"not answered: {dial.outcome} ({status})")
            answered = time.monotonic()
            await live.callee_answered()
            with contextlib.suppress(TimeoutError):
                limit = settings.pipeline.first_audio_timeout_secs + 5
                await asyncio.wait_for(probe.first_audio.wait(), limit)
            if probe.first_audio.is_set():
                say(
                    f"greeting   ok  Elo spoke {time.monotonic() - answered:.2f} s after the answer"
                )
                say(f"talk to Elo; hang up to end the call (at most {MAX_CALL_SECONDS} s)")
            end = await live.wait()
            ended = f"{end.outcome} ({end.reason or '-'})"
            if probe.greeting_ns is None:
                raise SmokeFailed("greeting", f"Elo's first audio never arrived: {ended}")
            if end.outcome in ("failed", "refused") or probe.errors:
                raise SmokeFailed("end", end.reason or probe.errors[0])
            say(f"end        ok  {ended} after {end.duration_s} s")
        finally:
            if live is not None and not live.done():
                await live.cancel(reason="the smoke test ended")
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(live.wait(), STOP_TIMEOUT_S)
            with contextlib.suppress(DialerError):
                await dialer.hang_up(room=room)
            await dialer.aclose()


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"smoke: {message} (see 'python -m devtools.smoke --help')\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m devtools.smoke",
        description="One short call against the real Gemini Live API (make smoke), or one real"
        " phone call to a number you own (dial NUMBER, make smoke-dial NUMBER=+355...).",
    )
    parser.add_argument("command", nargs="?", choices=["dial"], help="place a real phone call")
    parser.add_argument("number", nargs="?", help="dial: a number you own, E.164 (+355...)")
    parser.add_argument("--yes", action="store_true", help="dial: do not ask for confirmation")
    parser.add_argument(
        "--ca-file",
        type=Path,
        help="PEM file of the CA to trust for ELO_GOOGLE__BASE_URL (a private endpoint only)",
    )
    return parser


def _missing(settings: AppSettings, *, dial: bool) -> list[str]:
    from pipeline.transports import missing_livekit_settings

    missing = [] if settings.google.api_key.get_secret_value() else ["ELO_GOOGLE__API_KEY"]
    if dial:
        missing += missing_livekit_settings(settings.livekit)
        missing += [] if settings.livekit.sip_trunk_id else ["ELO_LIVEKIT__SIP_TRUNK_ID"]
    return missing


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``make smoke`` and ``make smoke-dial``; returns the exit code."""
    from loguru import logger

    from cli.failures import UsageError
    from cli.runtime import parse_phone
    from config.logs import configure_logging
    from config.settings import ConfigError, TransportKind, load_settings
    from pipeline.stages import StageError
    from storage.store import StoreError
    from validation.phone import mask_phone

    logger.remove()  # library start-up chatter stays off the console; the log file gets it
    args = _parser().parse_intermixed_args(argv)
    dial = args.command == "dial"
    name = "smoke-dial" if dial else "smoke"
    key = ""

    def say(text: str) -> None:
        # Nothing prints the key; this also keeps it out of a server's echoed error text.
        print(f"{name}: {text.replace(key, '<key>') if len(key) >= 8 else text}", flush=True)

    try:
        base = load_settings()
        missing = _missing(base, dial=dial)
        if missing:
            verb = "is" if len(missing) == 1 else "are"
            say(f"{', '.join(missing)} {verb} not set; skipping (nothing was called)")
            return 0
        key = base.google.api_key.get_secret_value()
        client_args = None
        if args.ca_file is not None:
            if base.google.base_url is None:
                raise UsageError("--ca-file is for a private endpoint: set ELO_GOOGLE__BASE_URL")
            client_args = {"ssl": ssl.create_default_context(cafile=str(args.ca_file))}
        phone = None
        if dial:
            if not args.number or not args.number.strip().startswith("+"):
                raise UsageError(
                    "give a number you own in E.164 form: make smoke-dial NUMBER=+355..."
                )
            phone = parse_phone(args.number, base, field="NUMBER")
        out = Path(tempfile.mkdtemp(prefix="elo-smoke-"))
        transport = TransportKind.LIVEKIT if dial else TransportKind.FILE
        settings = _smoke_settings(base, out, transport=transport)
        configure_logging(settings.logging, console=False)
        endpoint = str(settings.google.base_url or "Google's endpoint")
        if phone is not None:
            target = (
                f"{mask_phone(phone)} (a number you own) via trunk {settings.livekit.sip_trunk_id}"
            )
            if not args.yes and not _confirm(f"{name}: place ONE real call to {target}? [y/N] "):
                say("not confirmed; nothing was called (--yes skips the question)")
                return 2
            say(f"calling {mask_phone(phone)}; model {settings.google.model} at {endpoint}")
            asyncio.run(dial_call(settings, phone, say=say, http_client_args=client_args))
        else:
            say(f"one short call (one short Gemini Live session) to {settings.google.model}")
            say(f"at {endpoint}; the caller asks for free appointments, in English")
            for line in asyncio.run(smoke_call(settings, out, http_client_args=client_args)):
                say(line)
        say(f"Elo's audio and the log: {out}")
        return 0
    except SmokeFailed as exc:
        say(f"FAILED {exc.check}: {exc}")
        return 1
    except (ConfigError, UsageError, StageError, StoreError, OSError, ssl.SSLError) as exc:
        say(str(exc))
        return 2
    except KeyboardInterrupt:
        say("interrupted")
        return 130


def _confirm(question: str) -> bool:
    try:
        return input(question).strip().lower() in ("y", "yes")
    except EOFError:
        return False


if __name__ == "__main__":
    sys.exit(main())
