"""Campaign progress, live: :class:`CampaignProgressFeed` implements ``app.live.CampaignProgress``.

Each watcher reads the campaign's status with the existing query (``store.campaigns.status``)
and yields it when it differs from the last one it yielded. It reads again when told something
changed (:meth:`CampaignProgressFeed.poke`: the service's runner of the campaign reports each
dial and each recorded attempt, the live board each call's change) and at least every
``interval_s`` seconds, for what another process changed (``elo campaign pause``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from storage import Store
from storage.models import CampaignStatus

# Seconds between two reads when nothing reported a change.
INTERVAL_S = 3.0


class CampaignProgressFeed:
    """Per-campaign progress snapshots for the dashboard's live page.

    Args:
        store: The database.
        interval_s: Longest wait between two reads of a watched campaign.
    """

    def __init__(self, store: Store, *, interval_s: float = INTERVAL_S) -> None:
        self._store = store
        self._interval_s = interval_s
        self._watchers: dict[int, set[asyncio.Event]] = {}

    def poke(self, campaign_id: int | None) -> None:
        """Something about ``campaign_id`` changed: its watchers read again now."""
        if campaign_id is None:
            return
        for changed in self._watchers.get(campaign_id, ()):
            changed.set()

    @property
    def watching(self) -> int:
        """How many watchers follow a campaign now."""
        return sum(len(w) for w in self._watchers.values())

    async def watch(self, campaign_id: int) -> AsyncIterator[CampaignStatus]:
        """The campaign's status now, then each time it changes (see ``app.live``).

        Raises:
            storage.errors.NotFoundError: No such campaign.
        """
        changed = asyncio.Event()
        self._watchers.setdefault(campaign_id, set()).add(changed)
        last: CampaignStatus | None = None
        try:
            while True:
                # Cleared before reading: a change while the query runs still wakes the wait.
                changed.clear()
                status = await self._store.campaigns.status(campaign_id=campaign_id)
                if status != last:
                    last = status
                    yield status
                try:
                    await asyncio.wait_for(changed.wait(), timeout=self._interval_s)
                except TimeoutError:
                    pass
        finally:
            watchers = self._watchers.get(campaign_id, set())
            watchers.discard(changed)
            if not watchers:
                self._watchers.pop(campaign_id, None)
