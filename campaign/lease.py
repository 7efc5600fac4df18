"""One runner per campaign: the lease in the ``campaigns`` row, taken, renewed and released.

A lease is taken over when it is stale (not renewed for ``lease_secs``) or at once when its
process ran on this machine and no longer exists (see docs/campaigns.md).
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import Callable
from datetime import timedelta

from loguru import logger

from config.clock import Clock
from config.settings import AppSettings
from storage import Campaign, Store


class CampaignBusyError(Exception):
    """Another live runner holds the campaign; the message says which, on one line."""


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class CampaignLease:
    """The lease one runner holds on one campaign.

    Args:
        store: The database.
        settings: Application settings (``lease_secs``).
        campaign: The campaign.
        clock: Source of the current time.
        host: This machine's name.
        pid: This process's id.
        process_alive: Tells whether a process on this machine is alive.
    """

    def __init__(
        self,
        *,
        store: Store,
        settings: AppSettings,
        campaign: Campaign,
        clock: Clock,
        host: str | None = None,
        pid: int | None = None,
        process_alive: Callable[[int], bool] = pid_alive,
    ) -> None:
        self._store = store
        self._settings = settings
        self.campaign = campaign
        self._clock = clock
        self._host = host or socket.gethostname()
        self._pid = os.getpid() if pid is None else pid
        self._process_alive = process_alive
        self._token = uuid.uuid4().hex
        self.lost = False

    async def take(self) -> None:
        """Take the lease, or raise :class:`CampaignBusyError` naming who holds it."""
        current = await self._store.campaigns.get_by_id(campaign_id=self.campaign.id)
        if current is None:
            raise CampaignBusyError(f"campaign {self.campaign.name!r} no longer exists")
        if current.runner_token is not None:
            lease = timedelta(seconds=self._settings.campaign.lease_secs)
            seen = current.runner_seen_at
            stale = seen is None or self._clock() - seen > lease
            dead = (
                current.runner_host == self._host
                and current.runner_pid is not None
                and current.runner_pid != self._pid
                and not self._process_alive(current.runner_pid)
            )
            if not (stale or dead):
                raise CampaignBusyError(
                    f"campaign {current.name!r} is being run by process {current.runner_pid}"
                    f" on {current.runner_host}; stop it first (or wait"
                    f" {self._settings.campaign.lease_secs} s if it has died)"
                )
        taken = await self._store.queue.take_lease(
            campaign_id=self.campaign.id,
            token=self._token,
            pid=self._pid,
            host=self._host,
            expected_token=current.runner_token,
        )
        if not taken:
            raise CampaignBusyError(f"campaign {current.name!r} was just taken by another runner")

    async def keep(self, on_lost: Callable[[], None]) -> None:
        """Renew the lease until cancelled; ``on_lost`` is called if another runner took it."""
        interval = self._settings.campaign.lease_secs / 3
        while True:
            await asyncio.sleep(interval)
            try:
                renewed = await self._store.queue.renew_lease(
                    campaign_id=self.campaign.id, token=self._token
                )
            except Exception as exc:  # e.g. a locked database: try again next round
                logger.warning("could not renew the campaign lease: {}", type(exc).__name__)
                continue
            if not renewed:
                logger.error("another runner took over the campaign; stopping")
                self.lost = True
                on_lost()
                return

    async def release(self, *, status: str, pause_reason: str | None) -> None:
        """Give the lease back, leaving the campaign ``status`` (unless it was lost)."""
        if self.lost:
            return
        await self._store.queue.release_lease(
            campaign_id=self.campaign.id,
            token=self._token,
            status=status,
            pause_reason=pause_reason,
        )
