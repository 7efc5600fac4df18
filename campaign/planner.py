"""Which contacts to dial next, and when to look again.

The calling window depends on the contact's zone and country, but a campaign has few distinct
zones and many contacts: the window is judged once per (zone, country) pair and the database
returns due contacts in those pairs, best first. The attempt policy (caps, refusal pause) is
checked per contact when it is claimed (:meth:`storage.campaign_queue.CampaignQueue.claim_contact`).
"""

from __future__ import annotations

import functools
from datetime import datetime
from zoneinfo import ZoneInfo

from app.calling_rules import CampaignRules, NoCallingTimeError
from storage import Campaign, CampaignContact, Store


@functools.lru_cache(maxsize=256)
def zone(name: str) -> ZoneInfo:
    """The time zone called ``name`` (cached: planning asks for the same few over and over)."""
    return ZoneInfo(name)


async def plan_batch(
    store: Store, campaign: Campaign, rules: CampaignRules, *, now: datetime, limit: int
) -> list[CampaignContact]:
    """The contacts to try to dial now, best first.

    Args:
        store: The database.
        campaign: The campaign.
        rules: Its calling rules.
        now: The current time.
        limit: Most contacts to return.

    Returns:
        Due contacts whose local time is inside the calling window now.
    """
    pairs = await store.queue.zones(campaign_id=campaign.id)
    allowed = [
        (tz, country)
        for tz, country in pairs
        if rules.window.allowed(now, tz=zone(tz), country=country)
    ]
    return await store.queue.due_contacts(
        campaign_id=campaign.id, now=now, zones=allowed, limit=limit
    )


async def next_wake(
    store: Store, campaign: Campaign, rules: CampaignRules, *, now: datetime
) -> datetime | None:
    """The earliest time a queued contact could become callable, never later than the truth.

    For each (zone, country) the first due contact and the window's next opening after it give
    the earliest possible call there; the attempt policy can only make it later.

    Returns:
        That time, or None when no contact can ever be called (none queued, or only contacts in
        a call or on the do-not-call list).
    """
    times = []
    for tz, country, due in await store.queue.due_by_zone(campaign_id=campaign.id, now=now):
        try:
            times.append(rules.window.next_allowed(max(now, due), tz=zone(tz), country=country))
        except NoCallingTimeError:
            continue
    return min(times) if times else None
