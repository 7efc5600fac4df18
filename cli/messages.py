"""``elo reminders run`` and ``elo messages list``: the messages outbox at the command line.

``elo reminders run --once`` plans the reminders of appointments that have none yet, sends
everything due (inside the calling window) and prints one line; without ``--once`` it keeps
going every ``ELO_MESSAGES__POLL_SECS`` until interrupted (``elo serve`` runs the same loop).
``elo messages list`` shows the newest messages, numbers and emails masked, never content;
``elo messages opt-out PHONE --channel sms|email`` stops a patient's messages on a channel (a
patient who asked by phone or at the desk; an SMS "STOP" arrives through the provider's webhook).
"""

from __future__ import annotations

import argparse
from datetime import timedelta
from typing import Any

from cli.failures import UsageError
from cli.runtime import parse_phone
from config.settings import AppSettings
from storage.message_models import MESSAGE_STATUSES

COMMANDS = ("reminders", "messages")


def add_parsers(commands: Any, common: argparse.ArgumentParser, parser_class: type) -> None:
    """Add ``elo reminders`` and ``elo messages`` to the command line."""
    reminders = commands.add_parser(
        "reminders", parents=[common], help="send due confirmations and reminders"
    )
    sub = reminders.add_subparsers(
        dest="reminders_command", required=True, parser_class=parser_class
    )
    run = sub.add_parser("run", parents=[common], help="plan and send what is due")
    run.add_argument("--once", action="store_true", help="one pass, then exit")
    messages = commands.add_parser("messages", parents=[common], help="the messages outbox")
    msub = messages.add_subparsers(
        dest="messages_command", required=True, parser_class=parser_class
    )
    listing = msub.add_parser("list", parents=[common], help="newest messages (masked)")
    listing.add_argument("--status", choices=MESSAGE_STATUSES, default=None, help="only these")
    listing.add_argument("--limit", type=int, default=50, help="how many (1-1000, default 50)")
    opt_out = msub.add_parser(
        "opt-out", parents=[common], help="no more messages to this patient on a channel"
    )
    opt_out.add_argument("phone", help="the patient's number")
    opt_out.add_argument("--channel", required=True, choices=("sms", "email"), help="sms or email")


async def run(args: argparse.Namespace, settings: AppSettings) -> str | list[dict[str, Any]]:
    """Run ``elo reminders run`` (a summary line) or ``elo messages list`` (rows)."""
    from app.application import open_application

    if args.command == "messages" and args.messages_command == "opt-out":
        phone = parse_phone(args.phone, settings)
        async with open_application(settings) as app:
            known = await app.store.messages.opt_out(
                patient_phone=phone, channel=args.channel, source="cli"
            )
        if not known:
            raise UsageError("no patient has that number")
        return f"opted out of {args.channel} messages"
    if args.command == "messages":
        if not 1 <= args.limit <= 1000:
            raise UsageError("--limit must be between 1 and 1000")
        async with open_application(settings) as app:
            items = await app.store.messages.list(status=args.status, limit=args.limit)
        return [item.model_dump(mode="json") for item in items]
    from messaging.loop import plan_and_send, sender_task
    from messaging.setup import build_sender

    async with open_application(settings) as app:
        sender = build_sender(app)
        if sender is None:
            raise UsageError(
                "no message channel is configured: set ELO_EMAIL__HOST and"
                " ELO_EMAIL__FROM_ADDRESS (or the SMS provider's ELO_SMS__* settings)"
            )
        ahead = timedelta(hours=settings.messages.plan_ahead_hours)
        if not args.once:
            await sender_task(app.store, sender, poll_secs=settings.messages.poll_secs, ahead=ahead)
        try:
            planned, summary = await plan_and_send(app.store, sender, ahead=ahead)
        finally:
            await sender.aclose()
    return f"planned {planned} reminders; {summary.line()}"
