"""The (time zone, country) pairs a campaign's planner judges, the same on both engines.

PostgreSQL answers them with a loose index scan (storage.dialect.queued_zones_sql), SQLite with
DISTINCT; both must give every pair of a queued contact once, and none of finished contacts.
"""

from __future__ import annotations

import pytest

from storage import NewContact, Store

PAIRS = [
    ("Europe/Tirane", "AL"),
    ("Europe/Rome", "IT"),
    ("Europe/Berlin", "DE"),
    ("America/New_York", "US"),
    ("Europe/Rome", "SM"),
]


@pytest.mark.asyncio
async def test_every_queued_pair_once_and_none_of_done_contacts(store: Store) -> None:
    campaign = await store.campaigns.create(name="zones", purpose="recall")
    contacts = [
        NewContact(phone=f"+3556912{n:05d}", name=f"P{n}", time_zone=zone, country=country)
        for n, (zone, country) in enumerate(PAIRS * 4)
    ]
    lonely = NewContact(phone="+35569199999", name="Z", time_zone="Asia/Tokyo", country="JP")
    await store.campaigns.add_contacts(campaign_id=campaign.id, contacts=[*contacts, lonely])
    other = await store.campaigns.create(name="other", purpose="recall")
    await store.campaigns.add_contacts(
        campaign_id=other.id,
        contacts=[NewContact(phone="+35569188888", name="O", time_zone="Asia/Dubai", country="AE")],
    )
    assert sorted(await store.queue.zones(campaign_id=campaign.id)) == sorted(
        [*PAIRS, ("Asia/Tokyo", "JP")]
    )
    async with store.db.transaction() as conn:
        await conn.execute(
            "UPDATE campaign_contacts SET state = 'done' WHERE phone = ?", ("+35569199999",)
        )
    zones = await store.queue.zones(campaign_id=campaign.id)
    assert sorted(zones) == sorted(PAIRS) and len(zones) == len(set(zones))
    assert await store.queue.zones(campaign_id=other.id) == [("Asia/Dubai", "AE")]
