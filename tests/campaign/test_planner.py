"""Planning properties over time zones, daylight-saving changes and holidays (hypothesis)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from app.calling_rules import CampaignRules
from campaign.planner import next_wake, plan_batch
from config.settings import load_settings
from storage import NewContact, Store

ZONES = [
    ("Europe/Tirane", "AL"),
    ("Europe/London", "GB"),
    ("America/New_York", "US"),
    ("America/Sao_Paulo", "BR"),
    ("Asia/Tokyo", "JP"),
    ("Australia/Sydney", "AU"),
    ("Asia/Kolkata", "IN"),
]
# Two contacts per zone: one due at once, one due some days later.
LATER = timedelta(days=3, hours=5)
BASE = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A campaign file with contacts in seven zones (built once, read by every example)."""
    db = tmp_path_factory.mktemp("plan") / "elo.db"

    async def build() -> None:
        store = await Store.open(db, tz=ZoneInfo("Europe/Tirane"), clock=lambda: BASE)
        campaign = await store.campaigns.create(name="World", purpose="recall")
        contacts = []
        for i, (tz, country) in enumerate(ZONES):
            for j in range(2):
                contacts.append(
                    NewContact(
                        phone=f"+3556960{i:02d}{j:03d}", name="P", time_zone=tz, country=country
                    )
                )
        await store.campaigns.add_contacts(campaign_id=campaign.id, contacts=contacts)
        later = [
            c for c in await store.campaigns.contacts(campaign_id=campaign.id) if c.phone[-1] == "1"
        ]
        async with store.db.transaction() as conn:
            for contact in later:
                await conn.execute(
                    "UPDATE campaign_contacts SET next_call_at = ? WHERE id = ?",
                    ((BASE + LATER).strftime("%Y-%m-%dT%H:%M:%SZ"), contact.id),
                )
        await store.close()

    asyncio.run(build())
    return db


@hypothesis_settings(max_examples=60, deadline=None)
@given(offset=st.integers(min_value=0, max_value=2 * 365 * 24 * 60))
def test_plans_only_contacts_in_their_window_and_wakes_no_later_than_the_first_call(
    seeded: Path, offset: int
) -> None:
    now = BASE + timedelta(minutes=offset)
    settings = load_settings(env_file=None)

    async def check() -> None:
        store = await Store.open(seeded, tz=ZoneInfo("Europe/Tirane"), clock=lambda: now)
        try:
            (campaign,) = [await store.campaigns.get(name="World")]
            assert campaign is not None
            rules = CampaignRules.for_campaign(campaign, settings)
            contacts = await store.campaigns.contacts(campaign_id=campaign.id)
            planned = await plan_batch(store, campaign, rules, now=now, limit=100)
            wake = await next_wake(store, campaign, rules, now=now)
        finally:
            await store.close()

        def due(contact) -> datetime:  # type: ignore[no-untyped-def]
            return max(now, contact.next_call_at or now)

        def allowed(contact, at: datetime) -> bool:  # type: ignore[no-untyped-def]
            return rules.window.allowed(at, tz=ZoneInfo(contact.time_zone), country=contact.country)

        # Exactly the due contacts whose local time is inside the window, none outside it.
        expected = {c.id for c in contacts if due(c) == now and allowed(c, now)}
        assert {c.id for c in planned} == expected
        # The wake-up is the first moment any contact may be called: never later (a missed
        # call), and here, with no call in progress, never earlier either.
        first = min(
            rules.window.next_allowed(due(c), tz=ZoneInfo(c.time_zone), country=c.country)
            for c in contacts
        )
        assert wake == first
        assert any(allowed(c, first) for c in contacts)

    asyncio.run(check())
