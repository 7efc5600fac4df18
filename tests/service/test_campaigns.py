"""The service's campaign supervisor: real runners, a real store, the LiveKit fake.

What is scripted is only the conversation beyond the machine (tests/campaign/fakes.py). The
supervisor runs in real time with a short poll; the clock of the calling rules stands at a time
inside the calling window.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from app.application import Application
from campaign.control import Command, control
from campaign.dialer import LiveKitDialer
from config.clinic import ClinicProfile
from config.settings import AppSettings
from devtools.livekit_fake import FakeLiveKitServer, SipScript
from service.campaigns import CampaignSupervisor
from storage import NewContact, Store
from tests.campaign.fakes import Conversation, ScriptedLauncher, eventually
from tests.conftest import FixedClock
from tools.registry import ToolRegistry

PHONES = [f"+3556920000{i:02d}" for i in range(1, 9)]


async def _campaign(store: Store, name: str, phones: list[str], **options: Any) -> int:
    campaign = await store.campaigns.create(name=name, purpose="recall", **options)
    await store.campaigns.add_contacts(
        campaign_id=campaign.id,
        contacts=[NewContact(phone=p, name=f"Patient {i}") for i, p in enumerate(phones)],
    )
    return campaign.id


async def _outcomes(store: Store, campaign_id: int) -> dict[str, list[str | None]]:
    return {
        contact.phone: [a.outcome for a in await store.campaigns.attempts(contact_id=contact.id)]
        for contact in await store.campaigns.contacts(campaign_id=campaign_id)
    }


@pytest.fixture
def supervise(
    store: Store,
    run_settings: AppSettings,
    clinic: ClinicProfile,
    registry: ToolRegistry,
    clock: FixedClock,
    dialer: LiveKitDialer,
    launcher: ScriptedLauncher,
) -> Callable[..., Any]:
    @asynccontextmanager
    async def running(**options: Any) -> AsyncIterator[CampaignSupervisor]:
        app = Application(
            settings=run_settings, clinic=clinic, store=store, registry=registry, clock=clock
        )
        supervisor = CampaignSupervisor(
            app=app,
            dialer=dialer,
            launcher=options.pop("launcher", launcher),
            poll_secs=options.pop("poll_secs", 0.05),
            retry_secs=options.pop("retry_secs", 0.2),
        )
        task = asyncio.create_task(supervisor.run())
        try:
            yield supervisor
        finally:
            await supervisor.drain(timeout_s=0)
            await task

    return running


@pytest.mark.asyncio
async def test_only_started_campaigns_are_run_and_each_contact_is_called(
    store: Store, launcher: ScriptedLauncher, supervise: Callable[..., Any]
) -> None:
    launcher.conversations[PHONES[0]] = Conversation(outcome="booked")
    started = await _campaign(store, "Recall", PHONES[:3], max_concurrent_calls=2)
    by_hand = await _campaign(store, "By hand", PHONES[3:5])
    await control(store, name="Recall", command=Command.START)

    async with supervise() as supervisor:
        await eventually(lambda: len(launcher.launches) == 3)
        campaign = None

        async def finished() -> bool:
            nonlocal campaign
            campaign = await store.campaigns.get_by_id(campaign_id=started)
            return campaign is not None and campaign.status == "done"

        for _ in range(3000):
            if await finished():
                break
            await asyncio.sleep(0.01)
        assert supervisor.check().ok, supervisor.check()

    assert await _outcomes(store, started) == {
        PHONES[0]: ["booked"],
        PHONES[1]: ["declined"],
        PHONES[2]: ["declined"],
    }
    # Never touched: only `elo campaign run` runs a manual campaign.
    assert await _outcomes(store, by_hand) == {PHONES[3]: [], PHONES[4]: []}
    assert campaign is not None and campaign.runner_token is None


@pytest.mark.asyncio
async def test_a_pause_stops_dialling_within_a_poll_and_lets_the_call_finish(
    store: Store, launcher: ScriptedLauncher, supervise: Callable[..., Any]
) -> None:
    for phone in PHONES[:4]:
        launcher.conversations[phone] = Conversation(outcome="declined", hold=True)
    campaign_id = await _campaign(store, "Recall", PHONES[:4], max_concurrent_calls=1)
    await control(store, name="Recall", command=Command.START)

    async with supervise() as supervisor:
        await eventually(lambda: launcher.in_conversation == 1)
        await control(store, name="Recall", command=Command.PAUSE)
        # The call in progress goes on until the patient is done (a few polls later).
        await asyncio.sleep(0.3)
        assert (launcher.in_conversation, len(launcher.launches)) == (1, 1)
        launcher.release.set()
        await eventually(lambda: supervisor.running_campaigns == [])
        await asyncio.sleep(0.3)  # a few polls: a paused campaign is not started again

    outcomes = await _outcomes(store, campaign_id)
    assert sorted(len(attempts) for attempts in outcomes.values()) == [0, 0, 0, 1]
    assert [o for attempts in outcomes.values() for o in attempts] == ["declined"]
    campaign = await store.campaigns.get_by_id(campaign_id=campaign_id)
    assert campaign is not None and campaign.service_state == "paused"
    assert campaign.status == "paused" and campaign.runner_token is None

    # Resumed: the rest are called.
    await control(store, name="Recall", command=Command.RESUME)
    async with supervise():
        await eventually(lambda: len(launcher.launches) == 4)
        await eventually(lambda: launcher.in_conversation == 0)
    assert sorted(len(a) for a in (await _outcomes(store, campaign_id)).values()) == [1, 1, 1, 1]


@pytest.mark.asyncio
async def test_the_drain_waits_for_calls_then_hangs_up_and_records_every_attempt(
    store: Store, launcher: ScriptedLauncher, supervise: Callable[..., Any]
) -> None:
    for phone in PHONES[:2]:
        launcher.conversations[phone] = Conversation(outcome="booked", hold=True)
    campaign_id = await _campaign(store, "Recall", PHONES[:3], max_concurrent_calls=2)
    await control(store, name="Recall", command=Command.START)

    async with supervise() as supervisor:
        await eventually(lambda: launcher.in_conversation == 2)
        hung_up = await supervisor.drain(timeout_s=0.3)
        assert hung_up == 2
        assert not supervisor.check().ok
        assert "stopping" in supervisor.check().detail

    outcomes = await _outcomes(store, campaign_id)
    # Both calls hung up and recorded (none left open); the third contact was never dialled.
    assert outcomes[PHONES[2]] == []
    assert all(o is not None for attempts in outcomes.values() for o in attempts)
    assert sum(len(a) for a in outcomes.values()) == 2
    open_attempts = await store.queue.open_attempts(campaign_id=campaign_id)
    assert open_attempts == []
    campaign = await store.campaigns.get_by_id(campaign_id=campaign_id)
    # Still active for staff: the next start of the service goes on with it.
    assert campaign is not None and campaign.service_state == "active"
    assert campaign.runner_token is None


@pytest.mark.asyncio
async def test_calls_that_end_within_the_drain_are_not_hung_up(
    store: Store, launcher: ScriptedLauncher, supervise: Callable[..., Any]
) -> None:
    launcher.conversations[PHONES[0]] = Conversation(outcome="booked", hold=True)
    campaign_id = await _campaign(store, "Recall", PHONES[:1])
    await control(store, name="Recall", command=Command.START)

    async with supervise() as supervisor:
        await eventually(lambda: launcher.in_conversation == 1)
        drain = asyncio.create_task(supervisor.drain(timeout_s=60))
        await asyncio.sleep(0.2)
        assert not drain.done()
        launcher.release.set()
        assert await drain == 0

    assert await _outcomes(store, campaign_id) == {PHONES[0]: ["booked"]}
    assert launcher.launches[0].cancelled is None


@pytest.mark.asyncio
async def test_a_campaign_run_elsewhere_is_joined(
    store: Store, launcher: ScriptedLauncher, supervise: Callable[..., Any]
) -> None:
    campaign_id = await _campaign(store, "Recall", PHONES[:1])
    await control(store, name="Recall", command=Command.START)
    # `elo campaign run` in another live process (another node) works the campaign too.
    await store.runners.register(campaign_id=campaign_id, token="other", pid=1, host="elsewhere")
    async with supervise(retry_secs=0.1):
        # This node's runner joins it and calls (the other one is alive: nothing is adopted).
        await eventually(lambda: len(launcher.launches) == 1)
        await eventually(lambda: launcher.in_conversation == 0)
        runners = await store.runners.list(campaign_id=campaign_id)
        assert "other" in {r.token for r in runners} and len(runners) <= 2


@pytest.mark.asyncio
async def test_a_failing_trunk_pauses_the_campaign_for_staff_with_the_reason(
    store: Store,
    livekit: FakeLiveKitServer,
    launcher: ScriptedLauncher,
    supervise: Callable[..., Any],
) -> None:
    for phone in PHONES:
        livekit.script(phone, SipScript("trunk_auth_failed"))
    campaign_id = await _campaign(store, "Recall", PHONES, max_concurrent_calls=1)
    await control(store, name="Recall", command=Command.START)

    async with supervise():
        for _ in range(3000):
            campaign = await store.campaigns.get_by_id(campaign_id=campaign_id)
            assert campaign is not None
            if campaign.service_state == "paused":
                break
            await asyncio.sleep(0.01)
    assert campaign.service_state == "paused"
    assert campaign.pause_reason is not None and "trunk/LiveKit side" in campaign.pause_reason
    dialled = len(launcher.launches)
    assert dialled == 5  # the breaker's default, and nothing after it
    status = await store.campaigns.status(campaign_id=campaign_id)
    assert status.service_state == "paused"
