"""Wake-ups between writers and waiting runners: notify inside a write, wait with a timeout.

A write that makes work for a runner (contacts imported, a campaign started, an attempt ended so
capacity is free, a contact deferred) calls ``db.notify(conn, channel)`` inside its transaction;
the notification is delivered when the transaction commits (PostgreSQL's ``pg_notify`` to every
node; SQLite delivers to this process only, other processes poll as before). A runner holds a
:class:`Waiter` from ``db.waiter(channel)`` and waits on it with its poll interval as timeout.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from loguru import logger


class Waiter:
    """Notifications on one channel, remembered until the next :meth:`wait`.

    Args:
        hub: The hub delivering this process's notifications.
        channel: The channel.
        ready: Makes sure the process listens (PostgreSQL reconnects a lost listener).
    """

    def __init__(
        self, hub: Notifications, channel: str, ready: Callable[[], Awaitable[None]]
    ) -> None:
        self._hub = hub
        self.channel = channel
        self._ready = ready
        self._event = asyncio.Event()

    def fire(self) -> None:
        """Mark a notification (called by the hub)."""
        self._event.set()

    async def wait(self, seconds: float) -> bool:
        """Wait for a notification or ``seconds``.

        Returns:
            True when a notification arrived (since the last wait), False after ``seconds``.
        """
        try:
            await self._ready()
        except Exception as exc:  # the listener cannot reconnect now: poll meanwhile
            logger.warning("cannot listen for notifications: {}", type(exc).__name__)
        try:
            async with asyncio.timeout(seconds):
                await self._event.wait()
        except TimeoutError:
            return False
        self._event.clear()
        return True

    def close(self) -> None:
        """Stop receiving notifications."""
        self._hub.remove(self)


class Notifications:
    """This process's waiters by channel."""

    def __init__(self) -> None:
        self._waiters: dict[str, set[Waiter]] = {}

    def add(self, waiter: Waiter) -> None:
        """Deliver the channel's notifications to ``waiter`` from now on."""
        self._waiters.setdefault(waiter.channel, set()).add(waiter)

    def remove(self, waiter: Waiter) -> None:
        """Stop delivering to ``waiter``."""
        self._waiters.get(waiter.channel, set()).discard(waiter)

    def channels(self) -> list[str]:
        """The channels someone waits on."""
        return [channel for channel, waiters in self._waiters.items() if waiters]

    def deliver(self, channel: str) -> None:
        """Wake every waiter of ``channel``."""
        for waiter in list(self._waiters.get(channel, ())):
            waiter.fire()

    def deliver_all(self) -> None:
        """Wake every waiter (e.g. the listener was lost: notifications may have been missed)."""
        for channel in self.channels():
            self.deliver(channel)


# Wakes the service's supervisor: a campaign was started, resumed, paused or stopped.
CAMPAIGNS_CHANNEL = "elo_campaigns"


def campaign_channel(campaign_id: int) -> str:
    """The channel that wakes the runners of one campaign."""
    return f"elo_campaign_{campaign_id}"
