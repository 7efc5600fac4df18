"""The ``elo`` admin command.

Exit codes: 0 success (including a tool that answered with an error result), 2 unusable
command-line input, input file or configuration, 1 a failing environment (database locked,
read-only, full or damaged; disk full) or an unexpected failure, or problems found by
``elo db check``. Every failure is one line on stderr (see :mod:`cli.failures`), never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any, NoReturn

from loguru import logger

from cli import backup, campaign, db_copy, dnc, messages, privacy, recall, serve, staff, users
from cli.failures import (
    EXIT_FAILED,
    EXIT_USAGE,
    UsageError,
    describe_failure,
    one_line,
)
from config.log_guard import LogErrorGuard
from config.logs import configure_logging
from config.settings import AppSettings, load_settings
from tools.catalog import default_registry
from tools.context import ToolMode
from validation.languages import LANGUAGES

__all__ = ["EXIT_FAILED", "EXIT_USAGE", "UsageError", "build_parser", "main"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One actionable line instead of argparse's usage block (a huge bad value is cut short).
        self.exit(EXIT_USAGE, f"elo: {one_line(message)} (see 'elo --help')\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for ``elo``."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--db",
        default=argparse.SUPPRESS,
        help="database: a SQLite file, sqlite:///path or postgresql://... (ELO_DATABASE__URL)",
    )
    common.add_argument(
        "--env-file", type=Path, default=argparse.SUPPRESS, help="dotenv file (default ./.env)"
    )
    common.add_argument(
        "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="log to stderr"
    )
    parser = _Parser(prog="elo", description="Elo clinic administration.", parents=[common])
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    tool = commands.add_parser("tool", parents=[common], help="run one tool as the agent would")
    tool.add_argument("name", help="tool name (see 'elo tools')")
    tool.add_argument("--args", default="{}", help="arguments as a JSON object")
    tool.add_argument(
        "--language", default=None, help="conversation language: " + ", ".join(LANGUAGES)
    )

    commands.add_parser("tools", parents=[common], help="list the tools and their arguments")

    db = commands.add_parser("db", parents=[common], help="database maintenance")
    db_commands = db.add_subparsers(dest="db_command", required=True, parser_class=_Parser)
    db_commands.add_parser("init", parents=[common], help="create or upgrade the database")
    db_commands.add_parser(
        "check",
        parents=[common],
        help="integrity, foreign keys, booked slots and daily counters (exit 1 on problems)",
    )
    backup.add_parser(db_commands, common)
    db_copy.add_parser(db_commands, common)

    stats = commands.add_parser("stats", parents=[common], help="calls, bookings, revenue")
    stats.add_argument("--days", type=int, default=30, help="period ending today (default 30)")

    legacy = commands.add_parser(
        "import-legacy", parents=[common], help="import the old JSON appointments/follow-ups"
    )
    legacy.add_argument("file", type=Path)

    dnc = commands.add_parser("dnc", parents=[common], help="the do-not-call list")
    dnc_commands = dnc.add_subparsers(dest="dnc_command", required=True, parser_class=_Parser)
    dnc_add = dnc_commands.add_parser("add", parents=[common], help="never call this number")
    dnc_add.add_argument("phone", help="phone number, e.g. +355691234567 or 0691234567")
    dnc_add.add_argument("--reason", default=None, help="why, in a few words")
    dnc_remove = dnc_commands.add_parser(
        "remove", parents=[common], help="allow calls to this number again"
    )
    dnc_remove.add_argument("phone", help="phone number")
    dnc_commands.add_parser("list", parents=[common], help="list the numbers (full E.164)")

    campaign.add_parser(commands, common, _Parser)
    staff.add_parsers(commands, common, _Parser)
    privacy.add_parser(commands, common, _Parser)
    serve.add_parser(commands, common, _Parser)
    users.add_parser(commands, common, _Parser)
    messages.add_parsers(commands, common, _Parser)
    recall.add_parsers(commands, common, _Parser)

    config = commands.add_parser("config", parents=[common], help="configuration")
    config_commands = config.add_subparsers(
        dest="config_command", required=True, parser_class=_Parser
    )
    config_commands.add_parser("check", parents=[common], help="validate settings and profile")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``elo`` console script.

    Whatever a subcommand raises ends as one line on stderr and an exit code chosen by
    :func:`cli.failures.describe_failure`; the traceback goes to the log file only. A log file
    that cannot be written (a full disk) does not put loguru's own error reports on stderr.
    """
    guard = LogErrorGuard(sys.stderr)
    sys.stderr = guard
    try:
        code = _main(argv)
    finally:
        # Flush and close the log file now, while stderr is guarded: at interpreter exit a failed
        # flush (full disk) would print a traceback. A failing sink is dropped before it raises,
        # so trying again closes the next one.
        for _ in range(10):
            try:
                logger.remove()
                break
            except Exception:
                guard.swallowed = True
        sys.stderr = guard.stream
    if guard.swallowed and code == 0:
        print(
            "elo: warning: the log file could not be written (is the disk full?)", file=sys.stderr
        )
    return code


def _main(argv: list[str] | None) -> int:
    # Until logging is configured, loguru would print a traceback to stderr; with -v too.
    logging_to_file = False
    try:
        args = build_parser().parse_args(argv)
        settings = _settings(args)
        verbose = getattr(args, "verbose", False)
        configure_logging(
            settings.logging,
            console=verbose,
            phone_regions=settings.validation.allowed_phone_regions,
            retention_days=settings.privacy.retention_days,
        )
        logging_to_file = not verbose
        return asyncio.run(_run(args, settings))
    except KeyboardInterrupt:
        print("elo: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader (e.g. `head`) went away; that is not an error of ours.
        sys.stderr.close()
        return 0
    except Exception as exc:
        failure = describe_failure(exc)
        if failure.code != EXIT_USAGE and logging_to_file:
            # For whoever investigates; the log masks personal data, stderr gets one line.
            logger.opt(exception=exc).error("elo command failed: {}", failure.message)
        print(f"elo: {failure.message}", file=sys.stderr)
        return failure.code


def _settings(args: argparse.Namespace) -> AppSettings:
    env_file = getattr(args, "env_file", Path(".env"))
    if env_file != Path(".env") and not env_file.is_file():
        raise UsageError(f"env file {env_file} does not exist")
    if env_file.is_file():
        from validation.textfile import read_utf8

        # dotenv would skip the lines of a UTF-16 file without a word: refuse it by name instead.
        read_utf8(env_file)
    settings = load_settings(env_file=env_file)
    db = getattr(args, "db", None)
    if db is not None:
        settings = with_database(settings, db)
    return settings


def with_database(settings: AppSettings, db: str) -> AppSettings:
    """The settings with ``--db``: a URL becomes ``database.url``, a bare path ``database.path``.

    Raises:
        UsageError: A URL Elo cannot use (one line naming the problem).
    """
    from config.database_url import DatabaseUrl, DatabaseUrlError

    try:
        DatabaseUrl.parse(db)
    except DatabaseUrlError as exc:
        raise UsageError(f"--db: {exc}") from None
    # The URL wins over the path in settings, so a bare path clears a URL from the environment.
    update = {"url": db.strip()} if "://" in db else {"path": Path(db), "url": ""}
    return settings.model_copy(update={"database": settings.database.model_copy(update=update)})


async def _run(args: argparse.Namespace, settings: AppSettings) -> int:
    from app.application import open_application

    if args.command == "tools":
        _print(_tool_list(settings))
        return 0
    if args.command == "config":
        from config.clinic import load_clinic_profile

        clinic = load_clinic_profile(settings.clinic.profile_path)
        _print(
            {
                "settings": "ok",
                "database": settings.database.location().display(),
                "clinic": clinic.name,
                "services": len(clinic.services),
                "search": "configured" if settings.search.url else "FAQ only",
                "livekit": "configured" if settings.livekit.url else "not configured",
                "gemini": "configured" if settings.google.api_key.get_secret_value() else "no key",
            }
        )
        return 0
    if args.command == "tool":
        arguments = _json_arg(args.args)
        registry = default_registry()
        if registry.get(args.name) is None:
            raise UsageError(f"unknown tool {args.name!r}; known: {', '.join(registry.names)}")
        async with open_application(settings) as app:
            ctx = app.tool_context(mode=ToolMode.ADMIN, language=args.language)
            _print(await registry.call(args.name, arguments, ctx))
        return 0
    if args.command == "import-legacy":
        from cli.legacy import LegacyFormatError, import_legacy

        data = _json_file(args.file)
        async with open_application(settings) as app:
            ctx = app.tool_context(mode=ToolMode.ADMIN)
            try:
                report = await import_legacy(data, ctx)
            except LegacyFormatError as exc:
                raise UsageError(f"{args.file}: {exc}") from None
        _print(report.to_result())
        return 0
    if args.command == privacy.COMMAND:
        return await privacy.run(args, settings)
    if args.command == serve.COMMAND:
        return await serve.run(args, settings)
    if args.command in staff.COMMANDS:
        _print(await staff.run(args, settings))
        return 0
    if args.command == users.COMMAND:
        _print(await users.run(args, settings))
        return 0
    if args.command == "dnc":
        _print(await dnc.run(args, settings))
        return 0
    if args.command in messages.COMMANDS:
        result = await messages.run(args, settings)
        if isinstance(result, str):
            print(result)
        else:
            _print(result)
        return 0
    if args.command in recall.COMMANDS:
        _print(await recall.run(args, settings))
        return 0
    if args.command == "campaign":
        _print(await campaign.run(args, settings))
        return 0
    if args.command == "stats" and not 1 <= args.days <= 3660:
        raise UsageError("--days must be between 1 and 3660")
    if args.command == "db" and args.db_command == "check":
        return await _db_check(settings)
    if args.command == "db" and args.db_command == db_copy.COMMAND:
        return await db_copy.run(args, settings)
    if args.command == "db" and args.db_command == backup.COMMAND:
        _print(await backup.run(args, settings))
        return 0
    async with open_application(settings) as app:
        ctx = app.tool_context(mode=ToolMode.ADMIN)
        if args.command == "db":
            _print(
                {
                    "database": settings.database.location().display(),
                    "schema_version": await ctx.store.health.schema_version(),
                    "patients": await ctx.store.patients.count(),
                    "appointments": await ctx.store.appointments.count(),
                }
            )
        elif args.command == "stats":
            _print(await default_registry().call("get_clinic_stats", {"days": args.days}, ctx))
    return 0


async def _db_check(settings: AppSettings) -> int:
    """``elo db check``: print the health report; 0 when healthy, 1 when problems were found."""
    from app.application import open_application

    where = settings.database.location()
    if where.path is not None and not await asyncio.to_thread(where.path.is_file):
        raise UsageError(f"no database at {where.path} (see 'elo db init')")
    async with open_application(settings, allow_damaged=True) as app:
        ctx = app.tool_context(mode=ToolMode.ADMIN)
        report = await ctx.store.health.check(slot_minutes=ctx.clinic.slot_minutes)
        if ctx.store.health.problem is not None and report.healthy:
            # The start-up check saw damage the full checks missed: still not healthy.
            report.add("quick_check", [ctx.store.health.problem])
    _print({"database": where.display(), **report.to_result()})
    if not report.healthy:
        print(f"elo: database check found {len(report.problems)} problem(s)", file=sys.stderr)
        return EXIT_FAILED
    return 0


def _tool_list(settings: AppSettings) -> list[dict[str, Any]]:
    from config.clinic import load_clinic_profile

    clinic = load_clinic_profile(settings.clinic.profile_path)
    registry = default_registry()
    in_calls = {
        s.name
        for s in registry.offered(
            mode=ToolMode.CALL, expose_confidential=settings.security.expose_stats_to_model
        )
    }
    return [
        {
            "name": schema.name,
            "offered_in_calls": schema.name in in_calls,
            "description": schema.description,
            "arguments": schema.properties,
            "required": schema.required,
        }
        for schema in registry.function_schemas(
            clinic, mode=ToolMode.ADMIN, expose_confidential=True
        )
    ]


def _json_arg(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"--args is not valid JSON ({exc.msg} at column {exc.colno})") from None
    except RecursionError:
        raise UsageError("--args is nested too deeply") from None
    except ValueError:
        # Python refuses to convert integers of more than 4300 digits (a denial-of-service guard).
        raise UsageError("--args has a number with too many digits") from None
    if not isinstance(value, dict):
        raise UsageError('--args must be a JSON object, e.g. \'{"preferred_date": "2026-12-03"}\'')
    return value


def _json_file(path: Path) -> Any:
    from validation.textfile import read_utf8

    text = read_utf8(path)  # TextFileError: missing, unreadable or not UTF-8, one line
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path} is not valid JSON ({exc.msg}, line {exc.lineno})") from None
    except RecursionError:
        raise UsageError(f"{path} is nested too deeply to be read") from None
    except ValueError:
        raise UsageError(f"{path} has a number with too many digits") from None


def _print(value: Any) -> None:
    json.dump(value, sys.stdout, ensure_ascii=False, indent=2, default=str)
    sys.stdout.write("\n")


if __name__ == "__main__":
    sys.exit(main())
