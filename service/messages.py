"""``elo serve``'s message sender: plans and sends due messages every ``ELO_MESSAGES__POLL_SECS``.

Started beside the campaign supervisor only when an email or SMS channel is configured; it
stops with the service (cancelled, so a message being sent is left ``sending`` and the next
start takes it back after its lease, as after a crash).
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

from loguru import logger

from app.application import Application
from messaging.channels import SmsChannel
from messaging.loop import sender_task
from messaging.setup import build_sender


def start_sender(app: Application, *, sms: SmsChannel | None = None) -> asyncio.Task[None] | None:
    """Start the sender loop as a task, or None when no message channel is configured."""
    sender = build_sender(app, sms=sms)
    if sender is None:
        logger.info("messages: no channel configured, no sender")
        return None
    logger.info("messages: sender on {}", ", ".join(sorted(sender.channels)))
    return asyncio.create_task(
        sender_task(
            app.store,
            sender,
            poll_secs=app.settings.messages.poll_secs,
            ahead=timedelta(hours=app.settings.messages.plan_ahead_hours),
        ),
        name="message-sender",
    )


async def stop_sender(task: asyncio.Task[None] | None) -> None:
    """Stop the sender loop (if any) and wait for it."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
