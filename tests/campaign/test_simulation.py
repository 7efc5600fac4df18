"""Six simulated weeks of calling on a fake clock: windows, caps, delays, pauses, callbacks."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from app.calling_rules import CampaignRules
from campaign.outcomes import RetryDelays
from campaign.runner import CampaignRunner
from config.settings import AppSettings
from devtools.livekit_fake import FakeLiveKitServer, SipScript
from storage import NewContact, Store
from tests.campaign.conftest import START
from tests.campaign.fakes import Conversation, ScriptedLauncher
from tests.conftest import FixedClock

NEVER_ANSWERS = "+355691100001"
NEW_YORK_BUSY = "+12025550143"
TOKYO_MACHINE = "+81312345678"
DECLINES = "+355691100002"
CALL_ME_LATER = "+355691100003"

CONTACTS = [
    NewContact(phone=NEVER_ANSWERS, name="A"),
    NewContact(phone=NEW_YORK_BUSY, name="B", time_zone="America/New_York", country="US"),
    NewContact(phone=TOKYO_MACHINE, name="C", time_zone="Asia/Tokyo", country="JP", language="en"),
    NewContact(phone=DECLINES, name="D"),
    NewContact(phone=CALL_ME_LATER, name="E"),
]


@pytest.mark.asyncio
async def test_a_simulated_month_keeps_every_rule(
    store: Store,
    livekit: FakeLiveKitServer,
    launcher: ScriptedLauncher,
    make_runner: Callable[..., CampaignRunner],
    run_settings: AppSettings,
    clock: FixedClock,
) -> None:
    livekit.script(NEVER_ANSWERS, SipScript(outcome="no_answer"))
    livekit.script(NEW_YORK_BUSY, SipScript(outcome="busy"))
    launcher.conversations.update(
        {
            TOKYO_MACHINE: Conversation(outcome="voicemail"),
            DECLINES: Conversation(outcome="declined"),
            CALL_ME_LATER: Conversation(outcome="completed", callback_in=timedelta(days=10)),
        }
    )
    campaign = await store.campaigns.create(
        name="Winter recall", purpose="recall", max_attempts=50, max_concurrent_calls=2
    )
    await store.campaigns.add_contacts(campaign_id=campaign.id, contacts=CONTACTS)
    end = START + timedelta(days=45)

    progress = await make_runner(campaign).run(until=end)
    assert progress.state == "until"

    rules = CampaignRules.for_campaign(campaign, run_settings)
    delays = RetryDelays.build(run_settings.campaign, {})
    contacts = await store.campaigns.contacts(campaign_id=campaign.id)
    history = {c.phone: await store.campaigns.attempts(contact_id=c.id) for c in contacts}
    for contact in contacts:
        attempts = history[contact.phone]
        assert attempts, contact.phone
        tz = ZoneInfo(contact.time_zone)
        for attempt in attempts:
            # Zero attempts outside the window, judged in the contact's own zone and country.
            assert rules.window.allowed(attempt.started_at, tz=tz, country=contact.country), (
                contact.phone,
                attempt.started_at.astimezone(tz),
            )
        starts = [a.started_at for a in attempts]
        # At most 4 attempts in any 30 days.
        for first, fifth in zip(starts, starts[4:], strict=False):
            assert fifth - first >= timedelta(days=30)
        # Never again before the outcome's retry delay.
        for before, after in itertools.pairwise(attempts):
            if before.outcome in ("no_answer", "busy", "voicemail", "failed"):
                assert after.started_at - before.ended_at >= delays.after(before.outcome)

    never = history[NEVER_ANSWERS]
    # The cap binds: four tries in the first days, the fifth only when the first leaves the window.
    assert len(never) >= 5
    assert never[4].started_at - never[0].started_at >= timedelta(days=30)
    assert never[3].started_at - never[0].started_at < timedelta(days=3)
    # The declined patient is done after one call; the callback came after the date asked for.
    assert [a.outcome for a in history[DECLINES]] == ["declined"]
    later = history[CALL_ME_LATER]
    assert later[0].outcome == "follow_up"
    assert later[1].started_at >= later[0].started_at + timedelta(days=10)
    # Voicemail and busy are retried, and Tokyo/New York were called in their own hours.
    assert {a.outcome for a in history[TOKYO_MACHINE]} == {"voicemail"}
    assert len(history[NEW_YORK_BUSY]) >= 5

    # A new campaign forty-five days later must still respect the 60-day pause after the refusal.
    second = await store.campaigns.create(name="Spring", purpose="check_up", max_attempts=5)
    await store.campaigns.add_contacts(
        campaign_id=second.id, contacts=[NewContact(phone=DECLINES, name="D")]
    )
    refused_at = history[DECLINES][0].started_at
    await make_runner(second).run(until=refused_at + timedelta(days=75))
    (again,) = await store.campaigns.contacts(campaign_id=second.id)
    retry = await store.campaigns.attempts(contact_id=again.id)
    assert len(retry) == 1
    assert retry[0].started_at >= refused_at + timedelta(days=60)
    assert clock.now >= refused_at + timedelta(days=60)
