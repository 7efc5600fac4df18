"""Elo's agent: ``python bot.py`` joins the LiveKit room named by settings and runs one call.

Examples::

    python bot.py                                   # LiveKit room from ELO_LIVEKIT__*
    python bot.py --room call-42 --patient-name "Arbër Çela" --phone "069 123 4567"
    python bot.py --reason "six-month check-up" --language en
    python bot.py --transport file --input caller.wav --output elo.wav
    python bot.py --transport webrtc                # talk to Elo at http://localhost:7860

Exit codes: 0 the call ended normally, 1 the call failed, 2 unusable input or configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import uuid
from pathlib import Path
from typing import Any, NoReturn

from pydantic import ValidationError

from app.preflight import Purpose, missing_settings
from config.log_guard import LogErrorGuard
from config.logs import configure_logging
from config.settings import AppSettings, ConfigError, load_settings
from config.settings_call import TransportKind
from storage.errors import StoreError
from validation.languages import LANGUAGES

EXIT_FAILED = 1
EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"bot: {message} (see 'python bot.py --help')\n")


def build_parser() -> argparse.ArgumentParser:
    """Command-line flags; each overrides the matching setting for this run."""
    parser = _Parser(prog="bot.py", description="Run one Elo call.")
    parser.add_argument(
        "--transport",
        choices=[kind.value for kind in TransportKind],
        help="where call audio comes from (default: ELO_PIPELINE__TRANSPORT)",
    )
    parser.add_argument("--room", help="LiveKit room to join (default: ELO_LIVEKIT__ROOM)")
    parser.add_argument(
        "--patient-name", help="the patient's name, for the greeting (a name: at most 6 words)"
    )
    parser.add_argument(
        "--phone",
        help="the patient's phone number; binds the call: tools book and call back on it only",
    )
    parser.add_argument("--reason", help="why Elo calls, e.g. 'six-month check-up'")
    parser.add_argument("--language", choices=LANGUAGES, help="call language")
    parser.add_argument("--call-id", help="id for the call's record (default: random)")
    parser.add_argument("--input", type=Path, help="file transport: the caller's WAV recording")
    parser.add_argument("--output", type=Path, help="file transport: where Elo's audio goes")
    return parser


async def run_call(args: argparse.Namespace, settings: AppSettings) -> int:
    """Build and run one call from flags and settings; returns the exit code."""
    from app.application import open_application
    from pipeline.call.session import CallRefusedError, CallSession
    from pipeline.call.spec import CallSpec
    from pipeline.metadata import CallMetadata
    from pipeline.transports import make_transport

    metadata = CallMetadata(
        **{
            key: value
            for key, value in {
                "call_id": args.call_id,
                "patient_name": args.patient_name,
                "phone": args.phone,
                "reason": args.reason,
                "language": args.language or settings.pipeline.language,
            }.items()
            if value is not None
        }
    )
    if settings.pipeline.transport is TransportKind.WEBRTC:
        return await _serve_browser(settings, metadata)
    session: CallSession | None = None

    async def input_finished() -> None:
        # The recording is over: let Elo finish its sentence, then hang up.
        await asyncio.sleep(3)
        if session is not None:
            await session.control.end_call(reason="completed")

    transport = make_transport(
        settings,
        room=args.room,
        input_path=args.input,
        output_path=args.output,
        **(
            {"on_input_finished": input_finished}
            if settings.pipeline.transport is TransportKind.FILE
            else {}
        ),
    )
    async with open_application(settings) as app:
        session = CallSession(app, CallSpec(metadata=metadata, transport=transport))
        try:
            result = await session.run()
        except CallRefusedError as exc:
            print(f"bot: call not placed: {exc}", file=sys.stderr)
            return EXIT_USAGE
    record = result.record
    print(f"bot: call {record.id} ended: {record.outcome} ({record.outcome_reason or '-'})")
    return EXIT_FAILED if record.outcome == "failed" else 0


async def _serve_browser(settings: AppSettings, metadata: Any) -> int:
    """Serve the local page; each browser connection is one call (until Ctrl-C)."""
    from app.application import open_application
    from pipeline.browser_access import new_token, page_url
    from pipeline.call.session import CallSession
    from pipeline.call.spec import CallSpec
    from pipeline.transports import make_transport
    from pipeline.webrtc_server import guard_from_settings, serve

    async with open_application(settings) as app:

        async def on_connection(connection: Any) -> None:
            call = metadata.model_copy(update={"call_id": uuid.uuid4().hex})
            transport = make_transport(settings, webrtc_connection=connection)
            session = CallSession(app, CallSpec(metadata=call, transport=transport))
            result = await session.run()
            print(f"bot: call {result.record.id} ended: {result.record.outcome}")

        pipeline = settings.pipeline
        configured = pipeline.webrtc_token.get_secret_value()
        token = configured or new_token()
        page = page_url(pipeline.webrtc_host, pipeline.webrtc_port)
        if configured:
            # A configured secret is never printed: staff already know it.
            print(
                f"bot: talk to Elo at {page}#token=<ELO_PIPELINE__WEBRTC_TOKEN>"
                " (one-time links: elo browser-link)"
            )
        else:
            # This run's own token: printed once on the console, never logged.
            print(f"bot: talk to Elo at {page}#token={token}")
        await serve(
            on_connection,
            guard=guard_from_settings(pipeline, token),
            host=pipeline.webrtc_host,
            port=pipeline.webrtc_port,
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    from loguru import logger

    # Until logging is configured, keep library start-up chatter off the console.
    logger.remove()
    args = build_parser().parse_args(argv)
    # A failing log sink (the log disk is full) makes loguru print a traceback and the raw,
    # unmasked record to stderr; the guard drops those reports, as it does for `elo`.
    guard = LogErrorGuard(sys.stderr)
    sys.stderr = guard
    try:
        return _main(args)
    finally:
        sys.stderr = guard.stream


def _main(args: argparse.Namespace) -> int:
    from pipeline.file_transport import AudioFileError
    from pipeline.stages import StageError

    try:
        overrides = {"transport": TransportKind(args.transport)} if args.transport else {}
        settings = load_settings()
        if overrides:
            settings = settings.model_copy(
                update={"pipeline": settings.pipeline.model_copy(update=overrides)}
            )
        missing = missing_settings(settings, purpose=Purpose.CALL)
        if missing:
            print(
                f"bot: set {', '.join(missing)} (see .env.example), or try `make demo`",
                file=sys.stderr,
            )
            return EXIT_USAGE
        configure_logging(
            settings.logging,
            phone_regions=settings.validation.allowed_phone_regions,
            retention_days=settings.privacy.retention_days,
        )
        return asyncio.run(run_call(args, settings))
    except (ConfigError, StoreError, StageError, AudioFileError) as exc:
        print(f"bot: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        message = first["msg"].removeprefix("Value error, ")
        line = message if message.startswith(f"{where}:") else f"{where}: {message}"
        print(f"bot: {line}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("bot: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
