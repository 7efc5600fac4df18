"""``elo campaign create|import|status|list|run|start|pause|resume|stop``: outbound campaigns.

``run`` itself lives in :mod:`cli.campaign_run` (preflight, progress line, Ctrl-C); ``start``,
``pause``, ``resume`` and ``stop`` tell the service (``elo serve``) what to do, with the rules of
:mod:`campaign.control`.
"""

from __future__ import annotations

import argparse
from datetime import datetime
from pathlib import Path
from typing import Any

from cli.failures import UsageError
from config.clock import system_clock
from config.settings import AppSettings
from tools.context import ToolMode

COMMAND = "campaign"


def add_parser(commands: Any, common: argparse.ArgumentParser, parser_class: type) -> None:
    """Add ``elo campaign ...`` to ``commands``, sharing the ``common`` options."""
    campaign = commands.add_parser("campaign", parents=[common], help="outbound campaigns")
    campaign_commands = campaign.add_subparsers(
        dest="campaign_command", required=True, parser_class=parser_class
    )
    create = campaign_commands.add_parser("create", parents=[common], help="create a campaign")
    create.add_argument("name", help="campaign name, unique")
    create.add_argument(
        "--purpose",
        required=True,
        choices=("recall", "check_up", "unfinished_treatment", "follow_up", "confirmation"),
        help="why the clinic calls",
    )
    create.add_argument("--notes", default="", help="notes for the model about this campaign")
    create.add_argument("--max-concurrent", type=int, default=2, help="calls at once (default 2)")
    create.add_argument("--max-attempts", type=int, default=4, help="per contact (default 4)")
    create.add_argument(
        "--window-days", help="calling days for this campaign, e.g. mon,tue,wed (default: settings)"
    )
    create.add_argument(
        "--window-hours",
        help="calling hours (contact's zone), e.g. 10:00-13:00,14:00-18:00 (default: settings)",
    )
    create.add_argument(
        "--retry",
        default="",
        help="minutes before calling again per outcome, e.g. no_answer=240,busy=60,voicemail=1440",
    )
    create.add_argument(
        "--trunk", help="outbound SIP trunk id (default: ELO_LIVEKIT__SIP_TRUNK_ID)"
    )
    create.add_argument("--caller-id", help="number shown to patients, E.164 (default: settings)")
    imp = campaign_commands.add_parser(
        "import", parents=[common], help="add contacts from a CSV file (name, phone, ...)"
    )
    imp.add_argument("name", help="campaign name")
    imp.add_argument("file", type=Path, help="UTF-8 CSV with columns name, phone")
    status = campaign_commands.add_parser(
        "status", parents=[common], help="outcomes, contact and booking rates, revenue booked"
    )
    status.add_argument("name", help="campaign name")
    campaign_commands.add_parser(
        "list", parents=[common], help="every campaign with its status and contacts"
    )
    run = campaign_commands.add_parser(
        "run", parents=[common], help="dial due contacts (Ctrl-C stops; a restart resumes)"
    )
    run.add_argument("name", help="campaign name")
    run.add_argument(
        "--until", help="stop dialling at this clinic-local time, e.g. 18:30 or 2026-12-03T18:30"
    )
    for command, text in _CONTROL_HELP.items():
        control = campaign_commands.add_parser(command, parents=[common], help=text)
        control.add_argument("name", help="campaign name")


_CONTROL_HELP = {
    "start": "let the service (elo serve) dial the campaign inside its calling windows",
    "pause": "the service dials no one new in the campaign; calls in progress finish",
    "resume": "the service dials the paused campaign again",
    "stop": "never dial the campaign again (calls in progress finish)",
}


async def run(args: argparse.Namespace, settings: AppSettings) -> dict[str, Any]:
    """Run ``elo campaign create|import|status|list|run``; returns what to print."""
    if args.campaign_command == "create":
        return await _campaign_create(args, settings)
    if args.campaign_command == "status":
        return await _campaign_status(args, settings)
    if args.campaign_command == "list":
        from app.application import open_application

        async with open_application(settings) as app:
            ctx = app.tool_context(mode=ToolMode.ADMIN)
            campaigns = await ctx.store.campaigns.list()
        return {
            "count": len(campaigns),
            "campaigns": [c.model_dump(mode="json") for c in campaigns],
        }
    if args.campaign_command in _CONTROL_HELP:
        return await _campaign_control(args, settings)
    if args.campaign_command == "run":
        from cli.campaign_run import UsageProblem, run_campaign

        try:
            return await run_campaign(settings, args.name, until=_until(args.until, settings))
        except UsageProblem as exc:
            raise UsageError(str(exc)) from None
    return await _campaign_import(args, settings)


async def _campaign_create(args: argparse.Namespace, settings: AppSettings) -> dict[str, Any]:
    from app.application import open_application
    from campaign.setup import CampaignForm, SetupError, create_campaign

    form = CampaignForm(
        name=args.name,
        purpose=args.purpose,
        notes=args.notes,
        max_concurrent=args.max_concurrent,
        max_attempts=args.max_attempts,
        window_days=args.window_days or "",
        window_hours=args.window_hours or "",
        retry=args.retry,
        trunk=args.trunk or "",
        caller_id=args.caller_id or "",
    )
    async with open_application(settings) as app:
        try:
            campaign = await create_campaign(app.store, settings, form)
        except SetupError as exc:
            raise UsageError(str(exc)) from None
    return campaign.model_dump(
        mode="json", exclude={"runner_token", "runner_pid", "runner_host", "runner_seen_at"}
    )


def _until(text: str | None, settings: AppSettings) -> datetime | None:
    """``--until`` as an aware time: HH:MM today (clinic zone) or an ISO date-time."""
    if text is None:
        return None
    from config.clinic import load_clinic_profile

    tz = load_clinic_profile(settings.clinic.profile_path).tz
    try:
        if len(text) <= 5 and ":" in text:
            hour, minute = (int(part) for part in text.split(":"))
            return (
                system_clock()
                .astimezone(tz)
                .replace(hour=hour, minute=minute, second=0, microsecond=0)
            )
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(
            "--until must be HH:MM or an ISO date-time like 2026-12-03T18:30"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)


async def _campaign_import(args: argparse.Namespace, settings: AppSettings) -> dict[str, Any]:
    from app.application import open_application
    from campaign.importer import ContactFileError, read_contacts_csv
    from campaign.setup import import_contacts

    # Read the whole file first: a bad file is refused before the database is touched.
    try:
        contacts, rejections = read_contacts_csv(
            args.file,
            default_region=settings.validation.default_phone_region,
            allowed_regions=settings.validation.allowed_phone_regions,
        )
    except ContactFileError as exc:
        raise UsageError(str(exc)) from None
    async with open_application(settings) as app:
        campaign = await app.store.campaigns.get(name=args.name)
        if campaign is None:
            raise UsageError(
                f"no campaign named {args.name!r} (create it with 'elo campaign create')"
            )
        report = await import_contacts(
            app.store, campaign_id=campaign.id, contacts=contacts, rejections=rejections
        )
    return {
        "imported": report.imported,
        "merged": report.merged,
        "on_do_not_call": report.on_do_not_call,
        "rejected": [{"line": r.line, "reason": r.reason} for r in report.rejected],
    }


async def _campaign_status(args: argparse.Namespace, settings: AppSettings) -> dict[str, Any]:
    from app.application import open_application

    async with open_application(settings) as app:
        ctx = app.tool_context(mode=ToolMode.ADMIN)
        campaign = await ctx.store.campaigns.get(name=args.name)
        if campaign is None:
            raise UsageError(f"no campaign named {args.name!r}")
        status = await ctx.store.campaigns.status(campaign_id=campaign.id)
        runners = await ctx.store.runners.list(campaign_id=campaign.id)
    # The runners working it now (several nodes may): how many, and on which hosts.
    return {
        **status.model_dump(mode="json"),
        "runners": len(runners),
        "runner_hosts": sorted({r.host for r in runners}),
    }


async def _campaign_control(args: argparse.Namespace, settings: AppSettings) -> dict[str, Any]:
    from app.application import open_application
    from campaign.control import Command, ControlRefused, control

    async with open_application(settings) as app:
        try:
            result = await control(
                app.store, name=args.name, command=Command(args.campaign_command)
            )
        except ControlRefused as exc:
            raise UsageError(str(exc)) from None
    campaign = result.campaign
    return {
        "campaign": campaign.name,
        "service_state": campaign.service_state,
        "changed": result.changed,
        "status": campaign.status,
        "note": f"a running `elo serve` acts on this within {settings.server.poll_secs:g} s",
    }
