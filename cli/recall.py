"""``elo recall build`` and ``elo figures attendance``: recalls and no-shows (issue 13 §3).

``elo recall build NAME --months 6`` makes a recall campaign of the patients whose last
completed visit ended at least that many calendar months ago (clinic time) and who have nothing
booked (:mod:`campaign.recall`); ``--dry-run`` prints how many it would queue. ``elo figures
attendance --from DAY --to DAY`` prints the confirmation rate, the no-show rate by reminder path
and the revenue kept (:mod:`storage.attendance`) as JSON.
"""

from __future__ import annotations

import argparse
from datetime import date
from typing import Any

from cli.failures import UsageError
from config.settings import AppSettings

COMMANDS = ("recall", "figures")


def add_parsers(commands: Any, common: argparse.ArgumentParser, parser_class: type) -> None:
    """Add ``elo recall build`` and ``elo figures attendance`` to the command line."""
    recall = commands.add_parser("recall", parents=[common], help="recall campaigns")
    sub = recall.add_subparsers(dest="recall_command", required=True, parser_class=parser_class)
    build = sub.add_parser(
        "build", parents=[common], help="a campaign of patients not seen for months (audited)"
    )
    build.add_argument("name", help="campaign name, unique")
    build.add_argument(
        "--months",
        "--min-months",
        dest="months",
        type=int,
        default=6,
        help="last completed visit at least this many months ago (1-60, default 6)",
    )
    build.add_argument(
        "--limit", type=int, help="at most this many contacts, longest overdue first"
    )
    build.add_argument("--dry-run", action="store_true", help="print how many; write nothing")
    figures = commands.add_parser("figures", parents=[common], help="clinic figures")
    fsub = figures.add_subparsers(dest="figures_command", required=True, parser_class=parser_class)
    attendance = fsub.add_parser(
        "attendance",
        parents=[common],
        help="confirmations, no-shows by reminder path, revenue kept",
    )
    attendance.add_argument("--from", dest="first", required=True, help="first day, YYYY-MM-DD")
    attendance.add_argument("--to", dest="last", required=True, help="last day, YYYY-MM-DD")


async def run(args: argparse.Namespace, settings: AppSettings) -> dict[str, Any]:
    """Run ``elo recall build`` or ``elo figures attendance``; returns what to print."""
    from app.application import open_application

    if args.command == "figures":
        first, last = _day(args.first, "--from"), _day(args.last, "--to")
        async with open_application(settings) as app:
            try:
                figures = await app.store.attendance.figures(first_day=first, last_day=last)
            except ValueError as exc:
                raise UsageError(str(exc)) from None
        return figures.model_dump(mode="json")
    from campaign.recall import RecallForm, build_recall
    from campaign.setup import SetupError
    from cli.runtime import audit_actor

    form = RecallForm(name=args.name, months=args.months, limit=args.limit)
    async with open_application(settings) as app:
        try:
            result = await build_recall(
                app.store,
                settings,
                form,
                tz=app.clinic.tz,
                actor=audit_actor(),
                dry_run=args.dry_run,
            )
        except SetupError as exc:
            raise UsageError(str(exc)) from None
    if result.campaign is None:
        return {
            "dry_run": True,
            "contacts": result.contacts,
            "cutoff": result.cutoff.replace(microsecond=0).isoformat(),
        }
    return {
        "campaign_id": result.campaign.id,
        "name": result.campaign.name,
        "contacts": result.contacts,
        "cutoff": result.cutoff.replace(microsecond=0).isoformat(),
    }


def _day(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text.strip()[:10]) if len(text.strip()) == 10 else _bad(option)
    except ValueError:
        return _bad(option)


def _bad(option: str) -> date:
    raise UsageError(f"{option} needs a day as YYYY-MM-DD")
