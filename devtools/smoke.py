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
import ssl
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from config.settings import AppSettings
from config.settings_groups import ClinicSettings
from devtools.smoke_probe import (
    MAX_CALL_SECONDS,
    SLOT_TOOLS,
    SmokeFailed,
    SmokeProbe,
    probed_session,
)

if TYPE_CHECKING:
    pass

CALLER = Path(__file__).resolve().parent.parent / "demo" / "audio" / "smoke_caller_en_16k.wav"
PAUSE_BEFORE_CALLER = 0.8  # seconds after Elo's greeting before the caller speaks
REPLY_TIMEOUT = 30.0  # seconds from the caller's question to the end of Elo's reply
TOOL_GRACE = 10.0  # seconds after that reply for a tool call and its answer, if none came yet
NS = 1_000_000_000


def _seconds(ns: int | None) -> str:
    return "-" if ns is None else f"{ns / NS:.2f} s"


def smoke_settings(base: AppSettings, out: Path, **pipeline: Any) -> AppSettings:
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


async def smoke_call(
    settings: AppSettings,
    out: Path,
    *,
    say: Callable[[str], None],
    http_client_args: dict[str, Any] | None = None,
) -> None:
    """Run the recorded caller's call and check it, saying one line per passed check.

    Args:
        settings: The smoke settings (see :func:`devtools.smoke.smoke_settings`).
        out: Folder for Elo's audio.
        say: Prints one line.
        http_client_args: Extra model-client arguments (a private endpoint's SSL context).

    Raises:
        SmokeFailed: A check failed.
    """
    from app.application import open_application
    from pipeline.call.spec import CallSpec, CallTimeouts
    from pipeline.file_transport import WavFileTransport
    from pipeline.metadata import CallMetadata

    probe, go = SmokeProbe(), asyncio.Event()
    transport = WavFileTransport(
        input_path=CALLER,
        output_path=out / "elo.wav",
        out_sample_rate=settings.pipeline.output_sample_rate,
        start_when=go,
    )
    async with open_application(settings, http_client_args=http_client_args) as app:
        session = probed_session(
            app,
            probe,
            CallSpec(
                metadata=CallMetadata(reason="six-month check-up", language="en"),
                transport=transport,
                timeouts=CallTimeouts(goodbye=1.0),  # the smoke test, not the model, ends the call
            ),
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
            await session.control.end_call(reason="completed")

        driver = asyncio.create_task(drive())
        try:
            result = await session.run()
        finally:
            driver.cancel()
    record = result.record
    reason = record.outcome_reason
    ended = f"(the call ended: {record.outcome}{f', {reason}' if reason else ''})"
    for entry in record.transcript:
        if entry.get("role") in ("patient", "elo") and entry.get("text"):
            say(f"  {'caller' if entry['role'] == 'patient' else 'Elo'}: {entry['text']}")
    if probe.greeting_ns is None:
        raise SmokeFailed("greeting", f"Elo's first audio never arrived {ended}")
    say(f"greeting   ok  Elo spoke {_seconds(probe.greeting_ns)} after the call started")
    if probe.tool is None:
        raise SmokeFailed("tool call", f"no {' or '.join(sorted(SLOT_TOOLS))} was answered {ended}")
    say(f"tool call  ok  {probe.tool} answered")
    if probe.latency_ns is None:
        raise SmokeFailed("reply", f"Elo did not answer the caller's question {ended}")
    vad = (result.summary.get("latency_ms") or {}).get("p50")
    say(
        f"reply      ok  response latency {_seconds(probe.latency_ns)} from the caller's end of"
        f" speech to Elo's first audio (from the end of turn: {'-' if vad is None else vad} ms)"
    )
    if record.outcome == "failed" or probe.errors:
        raise SmokeFailed("end", f"{record.outcome}: {record.outcome_reason or probe.errors[0]}")
    say(f"end        ok  {record.outcome}")
    say(
        f"passed: time to greeting {_seconds(probe.greeting_ns)}, response latency"
        f" {_seconds(probe.latency_ns)}"
    )


class _UsageError(Exception):
    """Input the smoke test cannot use (one line, exit 2)."""


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
    from app.preflight import Purpose, missing_settings

    # The smoke test is of Google's real service: it needs a real key, endpoint or not.
    missing = [] if settings.google.api_key.get_secret_value() else ["ELO_GOOGLE__API_KEY"]
    if dial:
        needed = missing_settings(settings, purpose=Purpose.CAMPAIGN)
        missing += [name for name in needed if name not in missing]
    return missing


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``make smoke`` and ``make smoke-dial``; returns the exit code."""
    from loguru import logger

    from config.logs import configure_logging
    from config.settings import ConfigError, load_settings
    from config.settings_call import TransportKind
    from pipeline.stages import StageError
    from storage.errors import StoreError
    from validation import InputError, normalize_phone
    from validation.phone import mask_phone

    logger.remove()  # library start-up chatter stays off the console; the log file gets it
    args = _parser().parse_intermixed_args(argv)
    dial = args.command == "dial"
    name = "smoke-dial" if dial else "smoke"
    key, out = "", None

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
                raise _UsageError("--ca-file is for a private endpoint: set ELO_GOOGLE__BASE_URL")
            client_args = {"ssl": ssl.create_default_context(cafile=str(args.ca_file))}
        phone = None
        if dial:
            if not args.number or not args.number.strip().startswith("+"):
                raise _UsageError(
                    "give a number you own in E.164 form: make smoke-dial NUMBER=+355..."
                )
            try:
                phone = normalize_phone(
                    args.number,
                    allowed_regions=base.validation.allowed_phone_regions,
                    default_region=base.validation.default_phone_region,
                    field="NUMBER",
                )
            except InputError as exc:
                raise _UsageError(str(exc)) from None
        if phone is not None:
            target = f"{mask_phone(phone)} (a number you own) via trunk {base.livekit.sip_trunk_id}"
            if not args.yes and not _confirm(f"{name}: place ONE real call to {target}? [y/N] "):
                say("not confirmed; nothing was called (--yes skips the question)")
                return 2
        out = Path(tempfile.mkdtemp(prefix="elo-smoke-"))  # private (0700), kept for a look
        transport = TransportKind.LIVEKIT if dial else TransportKind.FILE
        settings = smoke_settings(base, out, transport=transport)
        configure_logging(
            settings.logging,
            console=False,
            phone_regions=settings.validation.allowed_phone_regions,
        )
        endpoint = str(settings.google.base_url or "Google's endpoint")
        if phone is not None:
            say(f"calling {mask_phone(phone)}; model {settings.google.model} at {endpoint}")
            from devtools.smoke_dial import dial_call

            asyncio.run(dial_call(settings, phone, say=say, http_client_args=client_args))
        else:
            say(f"one short call to Gemini Live: {settings.google.model} at {endpoint}")
            say("a recorded caller asks for free appointments, in English")
            asyncio.run(smoke_call(settings, out, say=say, http_client_args=client_args))
        say(f"Elo's audio and the log: {out}")
        return 0
    except SmokeFailed as exc:
        say(f"Elo's audio and the log: {out}")
        say(f"FAILED {exc.check}: {exc}")
        return 1
    except (ConfigError, _UsageError, StageError, StoreError, OSError, ssl.SSLError) as exc:
        say(str(exc))
        return 2
    except KeyboardInterrupt:
        say("interrupted")
        return 130
    except Exception as exc:  # one line, not a traceback; the details are in the log
        logger.opt(exception=exc).error("smoke test failed")
        say(f"FAILED run: unexpected {type(exc).__name__}; the log is in {out}")
        return 1


def _confirm(question: str) -> bool:
    try:
        return input(question).strip().lower() in ("y", "yes")
    except EOFError:
        return False


if __name__ == "__main__":
    sys.exit(main())
