"""Which contacts to dial next, and when to look again.

The calling window depends on the contact's zone and country, but a campaign has few distinct
zones and many contacts: the window is judged once per (zone, country) pair and the database
returns due contacts in those pairs, best first. The attempt policy (caps, refusal pause) is
checked per contact when it is claimed (:meth:`storage.campaign_queue.CampaignQueue.claim_contact`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from campaign.rules import AttemptPolicy, CallingWindow, NoCallingTimeError
from config.settings import AppSettings
from config.settings_campaign import CallingSettings
from storage import Campaign, CampaignContact, Store


@functools.lru_cache(maxsize=256)
def zone(name: str) -> ZoneInfo:
    """The time zone called ``name`` (cached: planning asks for the same few over and over)."""
    return ZoneInfo(name)


@dataclass(frozen=True)
class CampaignRules:
    """The calling window and attempt policy a campaign runs under."""

    window: CallingWindow
    policy: AttemptPolicy

    @classmethod
    def for_campaign(cls, campaign: Campaign, settings: AppSettings) -> CampaignRules:
        """The settings' rules with the campaign's own window (if it has one) on top.

        Raises:
            ValueError: The campaign's stored window is malformed.
        """
        calling: CallingSettings = settings.calling
        updates = {}
        if campaign.window_days:
            updates["window_days"] = campaign.window_days
        if campaign.window_intervals:
            updates["window_intervals"] = campaign.window_intervals
        if updates:
            calling = CallingSettings.model_validate(calling.model_dump() | updates)
        return cls(
            window=CallingWindow.from_settings(calling),
            policy=AttemptPolicy.from_settings(calling),
        )

    @property
    def history(self) -> timedelta:
        """How far back attempts and refusals matter to the policy."""
        return max(self.policy.window, self.policy.refusal_pause)


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
