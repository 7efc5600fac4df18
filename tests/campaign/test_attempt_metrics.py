"""What campaign attempts record in the metrics: the real runner, dialer and LiveKit fake."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from campaign.runner import CampaignRunner
from devtools.livekit_fake import FakeLiveKitServer, SipScript
from storage import NewContact, Store
from tests.campaign.conftest import START
from tests.campaign.fakes import Conversation, ScriptedLauncher
from tests.telemetry.scrape import Scrape

BOOKS, BUSY, RINGS, REJECTS, NO_SUCH, TRUNK_DOWN = (f"+3556910000{i:02d}" for i in range(1, 7))


@pytest.mark.asyncio
async def test_each_attempt_is_counted_by_outcome_sip_status_and_fault(
    store: Store,
    livekit: FakeLiveKitServer,
    launcher: ScriptedLauncher,
    make_runner: Callable[..., CampaignRunner],
) -> None:
    livekit.script(BUSY, SipScript(outcome="busy"))
    livekit.script(RINGS, SipScript(outcome="no_answer"))
    livekit.script(REJECTS, SipScript(outcome="declined"))
    livekit.script(NO_SUCH, SipScript(outcome="not_found"))
    livekit.script(TRUNK_DOWN, SipScript("trunk_auth_failed"))
    launcher.conversations[BOOKS] = Conversation(outcome="booked")
    phones = [BOOKS, BUSY, RINGS, REJECTS, NO_SUCH, TRUNK_DOWN]
    campaign = await store.campaigns.create(name="Recall", purpose="recall")
    await store.campaigns.add_contacts(
        campaign_id=campaign.id,
        contacts=[NewContact(phone=p, name="Arta Hoxha") for p in phones],
    )

    before = Scrape.in_process()
    await make_runner(campaign).run(until=START + timedelta(minutes=30))
    after = Scrape.in_process()

    grown = {
        labels: after.samples[(name, labels)] - before.samples.get((name, labels), 0.0)
        for (name, labels) in after.samples
        if name == "elo_dial_attempts_total"
    }
    counted = {
        (d["outcome"], d["sip_status"], d["fault"]): n
        for labels, n in grown.items()
        if n and (d := dict(labels))
    }
    assert counted == {
        ("booked", "200", "false"): 1,
        ("busy", "486", "false"): 1,
        ("no_answer", "480", "false"): 1,
        ("busy", "603", "false"): 1,
        ("failed", "404", "false"): 1,
        ("failed", "none", "true"): 1,  # the trunk's login failed: the system's fault
    }
    assert after.value("elo_errors_total", kind="dial_fault") == (
        before.value("elo_errors_total", kind="dial_fault") + 1
    )
    assert "Arta" not in after.text and not any("355691" in v for v in after.label_values())
