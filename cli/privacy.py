"""``elo privacy purge|export|erase``: storage limitation, access and erasure (GDPR Art. 5, 15, 17).

``purge`` removes per-call details older than ``ELO_PRIVACY__RETENTION_DAYS`` (``--dry-run``
counts only). ``export --phone N`` prints everything stored about the person with that number as
JSON. ``erase --phone N --yes`` erases them; without ``--yes`` it prints what would go and exits 2.
Export and erase are written to the audit trail with the operating-system user as the actor, a
keyed hash of the number as the subject and counts as the detail, never the personal data. What
each action keeps and removes is described in :mod:`storage.privacy`.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from cli.failures import EXIT_FAILED, EXIT_USAGE
from cli.runtime import audit_actor, parse_phone
from config.settings import AppSettings
from storage.errors import PrivacyError
from storage.retention import purge_per_settings
from tools.context import ToolMode

COMMAND = "privacy"
"""The top-level ``elo`` command this module handles."""


def add_parser(
    commands: Any, common: argparse.ArgumentParser, parser_class: type[argparse.ArgumentParser]
) -> None:
    """Add ``privacy`` to the ``elo`` sub-command parsers.

    Args:
        commands: The ``elo`` sub-parsers (``add_subparsers`` result).
        common: The parent parser with ``--db``, ``--env-file`` and ``-v``.
        parser_class: The parser class of ``elo`` (one-line errors, exit 2).
    """
    group = commands.add_parser(
        COMMAND, parents=[common], help="retention purge, a person's export and erasure"
    )
    sub = group.add_subparsers(dest="privacy_command", required=True, parser_class=parser_class)
    purge = sub.add_parser(
        "purge", parents=[common], help="remove call details older than the retention period"
    )
    purge.add_argument("--dry-run", action="store_true", help="only count what would go")
    export = sub.add_parser(
        "export", parents=[common], help="everything stored about a number, as JSON"
    )
    export.add_argument("--phone", required=True, help="the person's phone number")
    erase = sub.add_parser("erase", parents=[common], help="erase everything about a number")
    erase.add_argument("--phone", required=True, help="the person's phone number")
    erase.add_argument("--yes", action="store_true", help="really erase (else: counts only)")


async def run(args: argparse.Namespace, settings: AppSettings) -> int:
    """Run ``elo privacy ...``; print the JSON result on stdout.

    Returns:
        The exit code: 0 done, 2 erase without ``--yes`` (nothing erased), 1 the action cannot
        be done now (the number is in a call; the hash key is missing).

    Raises:
        UsageError: The phone number is unusable.
    """
    from app.application import open_application

    phone = None
    if args.privacy_command != "purge":
        phone = parse_phone(args.phone, settings)
    async with open_application(settings) as app:
        ctx = app.tool_context(mode=ToolMode.ADMIN)
        store = ctx.store
        try:
            if args.privacy_command == "purge":
                counts = await purge_per_settings(
                    store, settings, actor=audit_actor(), dry_run=args.dry_run
                )
                _print(
                    {
                        "retention_days": settings.privacy.retention_days,
                        "dry_run": args.dry_run,
                        **counts.as_dict(),
                    }
                )
                return 0
            assert phone is not None
            if args.privacy_command == "export":
                _print(await store.privacy.export_person(phone=phone, actor=audit_actor()))
                return 0
            counts = await store.privacy.erase_person(
                phone=phone, actor=audit_actor(), dry_run=not args.yes
            )
        except PrivacyError as exc:
            print(f"elo: {exc}", file=sys.stderr)
            return EXIT_FAILED
    _print({"erased": bool(args.yes), **counts})
    if not args.yes:
        print("elo: nothing erased; add --yes to erase these records", file=sys.stderr)
        return EXIT_USAGE
    return 0


def _print(result: dict[str, Any]) -> None:
    print(json.dumps(result, ensure_ascii=False, indent=2, default=str))
