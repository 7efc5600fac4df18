"""The sender beside a long-running process (``elo serve``): plan, send, sleep, again."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from loguru import logger

from messaging.sender import Sender, SendSummary
from storage import Store


async def plan_and_send(
    store: Store, sender: Sender, *, ahead: timedelta = timedelta(hours=72)
) -> tuple[int, SendSummary]:
    """One pass: reminders for appointments without messages, then everything due.

    Args:
        store: The open store.
        sender: The sender.
        ahead: How far ahead the planner plans (``ELO_MESSAGES__PLAN_AHEAD_HOURS``).

    Returns:
        How many rows the planner wrote, and what the sender did.
    """
    planned = await store.messages.plan_missing(ahead=ahead)
    return planned, await sender.run_once()


async def sender_task(
    store: Store, sender: Sender, *, poll_secs: float, ahead: timedelta = timedelta(hours=72)
) -> None:
    """:func:`plan_and_send` every ``poll_secs`` until cancelled; a failed pass never stops it.

    A failure (a locked database, a bug) is logged by type only and the next pass tries again.
    The task owns the sender: its channels are closed when the task ends.
    """
    try:
        while True:
            try:
                planned, summary = await plan_and_send(store, sender, ahead=ahead)
            except Exception as exc:
                logger.warning("message sender pass failed: {}", type(exc).__name__)
            else:
                if planned or summary.sent or summary.failed or summary.dead:
                    logger.info("messages: planned {}, {}", planned, summary.line())
            await asyncio.sleep(poll_secs)
    finally:
        await sender.aclose()
