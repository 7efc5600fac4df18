"""The campaign runner, Elo's long-running process today, purges expired call details at start."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from campaign.runner import CampaignRunner
from storage import NewContact, Store
from tests.campaign.conftest import START
from tests.campaign.fakes import Conversation, ScriptedLauncher
from tests.conftest import FixedClock

OLD_CALLER, CONTACT = "+355691000001", "+355691000002"


@pytest.mark.asyncio
async def test_a_run_starts_with_a_retention_purge(
    store: Store,
    launcher: ScriptedLauncher,
    make_runner: Callable[..., CampaignRunner],
    clock: FixedClock,
) -> None:
    clock.now = START - timedelta(days=120)
    await store.calls.start(call_id="old", phone=OLD_CALLER)
    await store.calls.save_progress(
        call_id="old",
        transcript=[{"role": "user", "text": "po"}],
        counters={},
        turns=1,
        tool_calls=0,
    )
    await store.calls.finish(call_id="old", outcome="declined")
    clock.now = START
    launcher.conversations[CONTACT] = Conversation(outcome="booked")
    campaign = await store.campaigns.create(name="Recall", purpose="recall")
    await store.campaigns.add_contacts(
        campaign_id=campaign.id, contacts=[NewContact(phone=CONTACT, name="Patient")]
    )

    await make_runner(campaign).run(until=START + timedelta(minutes=30))

    old = await store.calls.get(call_id="old")
    assert old is not None and (old.transcript, old.phone, old.outcome) == ([], None, "declined")
    purges = [e for e in await store.audit.list() if e.action == "privacy.purge"]
    assert [(e.actor, e.detail["calls"]) for e in purges] == [("system", 1)]  # type: ignore[index]
