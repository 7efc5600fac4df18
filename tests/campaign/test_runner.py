"""The campaign runner against a real store, the real dialer and the local LiveKit fake."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from campaign.dialer import LiveKitDialer
from campaign.lease import CampaignLease
from campaign.outcomes import RetryDelays
from campaign.runner import CampaignRunner
from config.settings import AppSettings
from devtools.livekit_fake import FakeLiveKitServer, SipScript
from storage import NewContact, Store
from tests.backends import PG_HASH_KEY
from tests.campaign.conftest import START, TIRANE
from tests.campaign.fakes import Conversation, ScriptedLauncher, eventually
from tests.conftest import FixedClock, claim
from tests.severing_proxy import SeveringProxy

BOOKS, BUSY, RINGS, REJECTS, NO_SUCH, OPTS_OUT, LATER = (f"+3556910000{i:02d}" for i in range(1, 8))


async def _campaign(store: Store, phones: list[str], **options: object):
    campaign = await store.campaigns.create(name="Recall", purpose="recall", **options)
    await store.campaigns.add_contacts(
        campaign_id=campaign.id,
        contacts=[NewContact(phone=p, name=f"Patient {i}") for i, p in enumerate(phones)],
    )
    return campaign


@pytest.mark.asyncio
async def test_one_round_records_every_outcome(
    store: Store,
    livekit: FakeLiveKitServer,
    launcher: ScriptedLauncher,
    make_runner: Callable[..., CampaignRunner],
    clock: FixedClock,
) -> None:
    livekit.script(BUSY, SipScript(outcome="busy"))
    livekit.script(RINGS, SipScript(outcome="no_answer"))
    livekit.script(REJECTS, SipScript(outcome="declined"))
    livekit.script(NO_SUCH, SipScript(outcome="not_found"))
    launcher.conversations.update(
        {
            BOOKS: Conversation(outcome="booked"),
            OPTS_OUT: Conversation(outcome="opted_out", opt_out=True),
            LATER: Conversation(outcome="completed", callback_in=timedelta(days=10)),
        }
    )
    phones = [BOOKS, BUSY, RINGS, REJECTS, NO_SUCH, OPTS_OUT, LATER]
    campaign = await _campaign(store, phones, max_concurrent_calls=3)

    progress = await make_runner(campaign).run(until=START + timedelta(minutes=30))

    contacts = {c.phone: c for c in await store.campaigns.contacts(campaign_id=campaign.id)}
    outcomes = {
        phone: [a.outcome for a in await store.campaigns.attempts(contact_id=contact.id)]
        for phone, contact in contacts.items()
    }
    assert outcomes == {
        BOOKS: ["booked"],
        BUSY: ["busy"],
        RINGS: ["no_answer"],
        REJECTS: ["busy"],  # 603: the callee rejected the ringing phone, not the clinic
        NO_SUCH: ["failed"],
        OPTS_OUT: ["opted_out"],
        LATER: ["follow_up"],
    }
    assert {p: contacts[p].done_reason for p in phones if contacts[p].state == "done"} == {
        BOOKS: "booked",
        NO_SUCH: "unreachable",
        OPTS_OUT: "opted_out",
    }
    assert contacts[LATER].next_call_at == START + timedelta(days=10)
    assert contacts[BUSY].next_call_at == START + timedelta(minutes=60)
    assert await store.dnc.is_listed(phone=OPTS_OUT)
    assert (progress.dialled, progress.answered, progress.booked) == (7, 3, 1)
    assert progress.state == "until"
    # The pipeline started before each number was dialled, and every room was closed.
    assert sorted(r.phone for r in launcher.launches) == sorted(phones)
    assert all(r.dialled_before_start == 0 for r in launcher.launches)
    assert livekit.rooms == {}
    dials = livekit.requests_for("CreateSIPParticipant")
    assert {d.body["sip_trunk_id"] for d in dials} == {"ST_test"}
    # Not answered calls were cancelled, answered ones were greeted.
    assert {r.phone for r in launcher.launches if r.answered} == {BOOKS, OPTS_OUT, LATER}
    assert all(r.cancelled for r in launcher.launches if not r.answered)
    status = await store.campaigns.status(campaign_id=campaign.id)
    assert status.in_progress == 0
    assert (await store.campaigns.get_by_id(campaign_id=campaign.id)).status == "paused"


@pytest.mark.asyncio
async def test_caps_limit_calls_in_progress(
    store: Store,
    launcher: ScriptedLauncher,
    make_runner: Callable[..., CampaignRunner],
) -> None:
    phones = [f"+3556920000{i:02d}" for i in range(8)]
    launcher.conversations.update({p: Conversation(outcome="booked", hold=True) for p in phones})
    campaign = await _campaign(store, phones, max_concurrent_calls=3)
    runner = make_runner(campaign)
    task = asyncio.create_task(runner.run(until=START + timedelta(hours=1)))
    await eventually(lambda: launcher.in_conversation >= 3)
    # Let the runner try to dial more; it must not.
    for _ in range(20):
        await asyncio.sleep(0.01)
    assert runner.active == 3
    launcher.release.set()
    progress = await task
    assert launcher.peak == 3
    assert progress.booked == 8
    assert progress.state == "done"
    assert (await store.campaigns.get_by_id(campaign_id=campaign.id)).status == "done"


@pytest.mark.asyncio
async def test_the_global_cap_spans_campaigns(
    store: Store,
    launcher: ScriptedLauncher,
    make_runner: Callable[..., CampaignRunner],
    run_settings,
) -> None:
    first = await _campaign(
        store, [f"+3556930000{i:02d}" for i in range(4)], max_concurrent_calls=4
    )
    second = await store.campaigns.create(name="Other", purpose="check_up", max_concurrent_calls=4)
    others = [f"+3556940000{i:02d}" for i in range(4)]
    await store.campaigns.add_contacts(
        campaign_id=second.id, contacts=[NewContact(phone=p, name="X") for p in others]
    )
    for phone in [
        *(c.phone for c in await store.campaigns.contacts(campaign_id=first.id)),
        *others,
    ]:
        launcher.conversations[phone] = Conversation(outcome="booked", hold=True)
    capped = run_settings.model_copy(
        update={"campaign": run_settings.campaign.model_copy(update={"max_concurrent_calls": 5})}
    )
    until = START + timedelta(hours=1)
    tasks = [
        asyncio.create_task(make_runner(c, settings=capped).run(until=until))
        for c in (first, second)
    ]
    await eventually(lambda: launcher.in_conversation >= 5)
    for _ in range(20):
        await asyncio.sleep(0.01)
    assert launcher.in_conversation == 5
    launcher.release.set()
    await asyncio.gather(*tasks)
    assert launcher.peak == 5


@pytest.mark.asyncio
async def test_do_not_call_is_checked_at_dial_time(
    store: Store,
    livekit: FakeLiveKitServer,
    make_runner: Callable[..., CampaignRunner],
) -> None:
    campaign = await _campaign(store, [BOOKS, BUSY])
    # Listed after the import: the runner must still never dial it.
    await store.dnc.add(phone=BUSY, reason="asked by letter", source="cli")
    await make_runner(campaign).run(until=START + timedelta(hours=1))
    assert livekit.calls_to(BUSY) == []
    assert len(livekit.calls_to(BOOKS)) == 1


@pytest.mark.asyncio
async def test_two_live_runners_share_one_campaign_within_its_cap(
    store: Store,
    make_runner: Callable[..., CampaignRunner],
    launcher: ScriptedLauncher,
    livekit: FakeLiveKitServer,
) -> None:
    phones = [BOOKS, BUSY, RINGS, LATER]
    campaign = await _campaign(store, phones, max_concurrent_calls=3)
    for phone in phones:
        launcher.conversations[phone] = Conversation(outcome="booked", hold=True)
    # The first runner stops at one call (its own copy of the campaign has a cap of 1).
    capped = campaign.model_copy(update={"max_concurrent_calls": 1})
    first = make_runner(capped, pid=1111, process_alive=lambda pid: True)
    one = asyncio.create_task(first.run(until=START + timedelta(hours=1)))
    await eventually(lambda: launcher.in_conversation >= 1)
    # The second runner joins instead of being refused, and claims its own contacts.
    second = make_runner(campaign, pid=2222, process_alive=lambda pid: True)
    two = asyncio.create_task(second.run(until=START + timedelta(hours=1)))
    await eventually(lambda: launcher.in_conversation >= 3)
    runners = await store.runners.list(campaign_id=campaign.id)
    assert sorted(r.pid for r in runners) == [1111, 2222]
    # The campaign's cap counts both runners' calls: three at once, never four.
    open_now = await store.queue.open_attempts(campaign_id=campaign.id)
    assert len(open_now) == 3 and (first.active, second.active) == (1, 2)
    assert len({a.runner_token for a in open_now}) == 2
    launcher.release.set()
    await asyncio.gather(one, two)
    assert {p for p in phones if len(livekit.calls_to(p)) == 1} == set(phones)
    assert await store.runners.list(campaign_id=campaign.id) == []
    contacts = await store.campaigns.contacts(campaign_id=campaign.id)
    assert {(c.state, c.done_reason) for c in contacts} == {("done", "booked")}


@pytest.mark.asyncio
async def test_a_dead_runners_open_call_is_hung_up_and_recorded(
    store: Store,
    livekit: FakeLiveKitServer,
    make_runner: Callable[..., CampaignRunner],
    dialer,
    clock: FixedClock,
) -> None:
    campaign = await _campaign(store, [BOOKS])
    (contact,) = await store.campaigns.contacts(campaign_id=campaign.id)
    # A runner (process 4242, now dead) claimed the contact, opened the room and died.
    await store.runners.register(campaign_id=campaign.id, token="old", pid=4242, host="here")
    claimed = await claim(
        store,
        contact_id=contact.id,
        room="elo-crashed",
        call_id="crashed-call",
        now=START,
        runner_token="old",
    )
    assert claimed.attempt is not None
    await dialer.create_room(room="elo-crashed", metadata="", empty_timeout_s=60)

    runner = make_runner(campaign, host="here", pid=5555, process_alive=lambda pid: False)
    await runner.run(until=START + timedelta(minutes=1))

    assert next(r.body["room"] for r in livekit.requests_for("DeleteRoom")) == "elo-crashed"
    attempts = await store.campaigns.attempts(contact_id=contact.id)
    assert [(a.outcome, a.sip_status) for a in attempts] == [("failed", "interrupted")]
    # Adopted by the new runner: the attempt names it, and the dead runner's row is gone.
    assert attempts[0].runner_token not in (None, "old")
    assert await store.runners.list(campaign_id=campaign.id) == []
    (after,) = await store.campaigns.contacts(campaign_id=campaign.id)
    assert after.next_call_at == START + timedelta(minutes=120)


class _BrokenForOne(ScriptedLauncher):
    """Starting the pipeline fails for one number (e.g. a crash in its set-up)."""

    broken: str = BUSY

    async def start(self, job):  # type: ignore[no-untyped-def]
        if job.contact.phone == self.broken:
            raise RuntimeError("the pipeline could not be built")
        return await super().start(job)


@pytest.mark.asyncio
async def test_one_broken_call_does_not_take_the_others_down(
    store: Store,
    livekit: FakeLiveKitServer,
    launcher: ScriptedLauncher,
    make_runner: Callable[..., CampaignRunner],
) -> None:
    broken = _BrokenForOne(store=launcher.store, clock=launcher.clock, dialled=launcher.dialled)
    phones = [BOOKS, BUSY, RINGS]
    broken.conversations.update({p: Conversation(outcome="booked") for p in phones})
    campaign = await _campaign(store, phones, max_concurrent_calls=3)

    progress = await make_runner(campaign, launcher=broken).run(until=START + timedelta(minutes=30))

    assert progress.booked == 2
    contacts = {c.phone: c for c in await store.campaigns.contacts(campaign_id=campaign.id)}
    failed = await store.campaigns.attempts(contact_id=contacts[BUSY].id)
    assert [(a.outcome, a.sip_status) for a in failed] == [("failed", "not_dialled")]
    # Never dialled (the pipeline did not start), its room closed, retried later.
    assert livekit.calls_to(BUSY) == []
    assert contacts[BUSY].next_call_at == START + timedelta(minutes=120)
    assert livekit.rooms == {}


@pytest.mark.asyncio
async def test_attempts_that_never_dialled_do_not_use_up_the_caps(
    store: Store,
    livekit: FakeLiveKitServer,
    launcher: ScriptedLauncher,
    make_runner: Callable[..., CampaignRunner],
) -> None:
    broken = _BrokenForOne(store=launcher.store, clock=launcher.clock, dialled=launcher.dialled)
    campaign = await _campaign(store, [BUSY], max_attempts=3)

    await make_runner(campaign, launcher=broken).run(until=START + timedelta(days=2))

    (contact,) = await store.campaigns.contacts(campaign_id=campaign.id)
    attempts = await store.campaigns.attempts(contact_id=contact.id)
    # Retried every two hours inside the window, well past 3 per campaign and 4 per 30 days,
    # because the phone never rang.
    assert len(attempts) > 4
    assert {(a.outcome, a.sip_status) for a in attempts} == {("failed", "not_dialled")}
    assert contact.state == "queued"
    assert livekit.calls_to(BUSY) == []


@pytest.mark.asyncio
async def test_a_refused_set_up_stops_the_run_instead_of_burning_attempts(
    store: Store,
    livekit: FakeLiveKitServer,
    make_runner: Callable[..., CampaignRunner],
    run_settings,
) -> None:
    no_trunk = run_settings.model_copy(
        update={"livekit": run_settings.livekit.model_copy(update={"sip_trunk_id": ""})}
    )
    phones = [f"+3556970000{i:02d}" for i in range(6)]
    campaign = await _campaign(store, phones, max_concurrent_calls=1)

    runner = make_runner(campaign, settings=no_trunk)
    progress = await runner.run(until=START + timedelta(days=1))

    assert progress.state == "configuration_error"
    assert runner.problem is not None and "invalid_argument" in runner.problem
    assert len(livekit.requests_for("CreateSIPParticipant")) == 1
    assert (await store.campaigns.get_by_id(campaign_id=campaign.id)).status == "paused"
    # The one refused dial is the system's fault: charged to no patient.
    attempts = [
        a
        for c in await store.campaigns.contacts(campaign_id=campaign.id)
        for a in await store.campaigns.attempts(contact_id=c.id)
        if a.sip_status != "not_dialled"
    ]
    assert len(attempts) == 1 and attempts[0].system_fault is not None


@pytest.mark.asyncio
async def test_recovery_keeps_the_outcome_of_a_call_that_had_ended(
    store: Store,
    make_runner: Callable[..., CampaignRunner],
    dialer,
) -> None:
    campaign = await _campaign(store, [REJECTS])
    (contact,) = await store.campaigns.contacts(campaign_id=campaign.id)
    await store.runners.register(campaign_id=campaign.id, token="old", pid=4242, host="here")
    claimed = await claim(
        store,
        contact_id=contact.id,
        room="elo-ended",
        call_id="ended-call",
        now=START,
        runner_token="old",
    )
    assert claimed.attempt is not None
    # The pipeline recorded the refusal, then the runner died before recording the attempt.
    await store.calls.start(call_id="ended-call", phone=REJECTS)
    await store.calls.finish(call_id="ended-call", outcome="declined", outcome_reason="declined")

    runner = make_runner(campaign, host="here", pid=5555, process_alive=lambda pid: False)
    await runner.run(until=START + timedelta(minutes=1))

    (attempt,) = await store.campaigns.attempts(contact_id=contact.id)
    assert (attempt.outcome, attempt.sip_status) == ("declined", "interrupted")
    (after,) = await store.campaigns.contacts(campaign_id=campaign.id)
    assert (after.state, after.done_reason) == ("done", "declined")


@pytest.mark.asyncio
async def test_hanging_up_ends_a_call_that_is_still_ringing(
    store: Store,
    livekit: FakeLiveKitServer,
    launcher: ScriptedLauncher,
    make_runner: Callable[..., CampaignRunner],
) -> None:
    livekit.script(RINGS, SipScript(outcome="no_answer", ring_secs=None))
    campaign = await _campaign(store, [RINGS])
    runner = make_runner(campaign)
    task = asyncio.create_task(runner.run(until=START + timedelta(hours=1)))
    await eventually(lambda: len(livekit.calls_to(RINGS)) == 1)

    await runner.hang_up_all()
    progress = await asyncio.wait_for(task, timeout=20)

    assert progress.state == "stopped"
    (contact,) = await store.campaigns.contacts(campaign_id=campaign.id)
    (attempt,) = await store.campaigns.attempts(contact_id=contact.id)
    assert attempt.outcome == "failed"
    assert livekit.rooms == {}


@pytest.mark.asyncio
async def test_a_failing_trunk_pauses_the_campaign_and_charges_no_patient(
    store: Store,
    livekit: FakeLiveKitServer,
    launcher: ScriptedLauncher,
    make_runner: Callable[..., CampaignRunner],
) -> None:
    """livekit/sip outbound.go: a trunk login failure is failed_precondition without status."""
    phones = [f"+35569100{n:04d}" for n in range(8)]
    for phone in phones:
        livekit.script(phone, SipScript("trunk_auth_failed"))
    campaign = await _campaign(store, phones, max_concurrent_calls=1)

    runner = make_runner(campaign)
    progress = await runner.run(until=START + timedelta(hours=2))

    assert progress.state == "fault_pause"
    paused = await store.campaigns.get_by_id(campaign_id=campaign.id)
    assert paused is not None and paused.status == "paused"
    assert paused.pause_reason is not None and "trunk/LiveKit side" in paused.pause_reason
    dialled = [p for p in phones if livekit.calls_to(p)]
    assert len(dialled) == 5  # the breaker's default: 5 dials, all faults
    for contact in await store.campaigns.contacts(campaign_id=campaign.id):
        attempts = await store.campaigns.attempts(contact_id=contact.id)
        assert all(a.system_fault for a in attempts)
        assert contact.state == "queued"
    # What `elo campaign status` shows staff.
    status = await store.campaigns.status(campaign_id=campaign.id)
    assert status.system_faults == 5 and status.pause_reason == paused.pause_reason


@pytest.mark.asyncio
async def test_system_faults_use_up_no_attempt_cap(
    store: Store,
    livekit: FakeLiveKitServer,
    launcher: ScriptedLauncher,
    make_runner: Callable[..., CampaignRunner],
) -> None:
    """A silent trunk (errors.go transactionTimeoutError) is retried past max_attempts."""
    livekit.script(BUSY, SipScript("trunk_silent"))
    campaign = await _campaign(store, [BUSY], max_attempts=2)

    await make_runner(campaign).run(until=START + timedelta(hours=10))

    (contact,) = await store.campaigns.contacts(campaign_id=campaign.id)
    attempts = await store.campaigns.attempts(contact_id=contact.id)
    assert len(attempts) > 2  # one contact alone never trips the breaker (5 dials needed)
    assert all(a.system_fault and a.outcome == "failed" for a in attempts)
    assert contact.state == "queued"


@pytest.mark.asyncio
async def test_a_wrong_api_secret_stops_the_run_as_a_configuration_error(
    store: Store,
    livekit: FakeLiveKitServer,
    make_runner: Callable[..., CampaignRunner],
    run_settings,
) -> None:
    """livekit/livekit auth.go: a plain-text 401 the client reports as `unknown`."""
    from campaign.dialer import LiveKitDialer

    wrong = LiveKitDialer(
        url=livekit.url,
        api_key=run_settings.livekit.api_key.get_secret_value(),
        api_secret="wrong-secret-long-enough-for-hs256-abcdefghijklmnopqr",
    )
    campaign = await _campaign(store, [BOOKS, BUSY], max_concurrent_calls=1)
    try:
        runner = make_runner(campaign, dialer=wrong)
        progress = await runner.run(until=START + timedelta(days=1))
    finally:
        await wrong.aclose()

    assert progress.state == "configuration_error"
    assert runner.problem is not None and "refused the API credentials" in runner.problem
    assert livekit.requests_for("CreateSIPParticipant") == []
    for contact in await store.campaigns.contacts(campaign_id=campaign.id):
        attempts = await store.campaigns.attempts(contact_id=contact.id)
        assert all(a.sip_status == "not_dialled" for a in attempts)


class _JoinsWhenLetIn(ScriptedLauncher):
    """The pipeline joins its room only once ``let_in`` is set (a slow join)."""

    let_in: asyncio.Event
    joining: int = 0

    async def start(self, job):  # type: ignore[no-untyped-def]
        self.joining += 1
        await self.let_in.wait()
        return await super().start(job)


@pytest.mark.asyncio
async def test_a_runner_taken_for_dead_mid_call_dials_no_one_and_stops(
    store: Store,
    livekit: FakeLiveKitServer,
    launcher: ScriptedLauncher,
    make_runner: Callable[..., CampaignRunner],
    clock: FixedClock,
) -> None:
    # As a node cut off from the database past its lease finds on its return: another runner
    # adopted and recorded its attempt while the pipeline was joining the room.
    slow = _JoinsWhenLetIn(store=launcher.store, clock=launcher.clock, dialled=launcher.dialled)
    slow.let_in = asyncio.Event()
    slow.conversations.update({p: Conversation(outcome="booked") for p in (BOOKS, BUSY)})
    campaign = await _campaign(store, [BOOKS, BUSY], max_concurrent_calls=1)
    runner = make_runner(campaign, launcher=slow)
    run = asyncio.create_task(runner.run(until=START + timedelta(hours=1)))
    await eventually(lambda: slow.joining == 1)
    await store.runners.register(campaign_id=campaign.id, token="adopter", host="b", pid=2)
    (adopted,) = await store.runners.adopt(
        campaign_id=campaign.id,
        token="adopter",
        stale_before=clock() + timedelta(hours=1),  # every other runner's lease has expired
    )
    await store.queue.complete_attempt(
        attempt_id=adopted.id,
        outcome="failed",
        sip_status="interrupted",
        duration_s=None,
        next_call_at=START + timedelta(minutes=120),
        done_reason=None,
    )
    slow.let_in.set()
    progress = await asyncio.wait_for(run, timeout=30)

    # The joined pipeline was not dialled, and the next contact was never claimed.
    assert livekit.requests_for("CreateSIPParticipant") == []
    assert slow.joining == 1 and progress.dialled == 0
    attempts = [
        a
        for c in await store.campaigns.contacts(campaign_id=campaign.id)
        for a in await store.campaigns.attempts(contact_id=c.id)
    ]
    assert [(a.id, a.outcome, a.sip_status) for a in attempts] == [
        (adopted.id, "failed", "interrupted")
    ]
    # It left the adopter's registration and the campaign's status alone.
    assert [r.token for r in await store.runners.list(campaign_id=campaign.id)] == ["adopter"]
    assert (await store.campaigns.get_by_id(campaign_id=campaign.id)).status == "running"


@pytest.mark.sqlite_only  # the lease's own count of failures: one engine is enough
@pytest.mark.asyncio
async def test_claims_the_database_fails_are_tried_again_for_at_most_a_lease(
    store: Store, run_settings: AppSettings, dialer: LiveKitDialer, clock: FixedClock
) -> None:
    campaign = await _campaign(store, [BOOKS])
    settings = run_settings.model_copy(
        update={"campaign": run_settings.campaign.model_copy(update={"lease_secs": 5})}
    )
    lease = CampaignLease(
        store=store,
        settings=settings,
        campaign=campaign,
        clock=clock,
        dialer=dialer,
        delays=RetryDelays.build(settings.campaign, {}),
    )
    locked = sqlite3.OperationalError("database is locked")
    lease.database_failed(locked)  # a pass fails: try again
    clock.now += timedelta(seconds=4)
    lease.database_failed(locked)
    lease.database_ok()  # a pass went through: the next failure starts a new count
    clock.now += timedelta(seconds=4)
    lease.database_failed(locked)
    clock.now += timedelta(seconds=4)
    lease.database_failed(locked)
    # Failing for a whole lease: the other runners have taken this one for dead; give up.
    clock.now += timedelta(seconds=1)
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        lease.database_failed(locked)


@pytest.mark.postgresql_only  # a server that ends sessions under a node
@pytest.mark.asyncio
async def test_a_runner_whose_database_sessions_were_dropped_carries_on(
    store: Store,
    db_url: str,
    pg_cluster: Any,
    launcher: ScriptedLauncher,
    make_runner: Callable[..., CampaignRunner],
    clock: FixedClock,
) -> None:
    # What a node back from a network cut finds: the server ended its sessions meanwhile, and
    # whatever the runner sends next (a claim, a read of the queue, a completion) meets a reset.
    # Before, a claim's transaction raised asyncpg's own error there and the runner crashed.
    phones = [f"+3556930000{i:02d}" for i in range(6)]
    launcher.conversations.update({p: Conversation(outcome="booked", hold=True) for p in phones})
    campaign = await _campaign(store, phones, max_concurrent_calls=3)
    async with SeveringProxy(pg_cluster.host, pg_cluster.port) as proxy:
        node = await Store.open(
            proxy.relay_url(db_url),
            tz=TIRANE,
            clock=clock,
            hash_key=PG_HASH_KEY,
            pool_size=1,  # every next statement meets the dropped session
        )
        try:
            run = asyncio.create_task(
                make_runner(campaign, store=node).run(until=START + timedelta(hours=1))
            )
            await eventually(lambda: launcher.in_conversation >= 3)
            await proxy.sever()
            launcher.release.set()
            progress = await asyncio.wait_for(run, timeout=60)
        finally:
            await node.close()
    assert (progress.state, progress.booked) == ("done", 6)
    attempts = [
        a.outcome
        for c in await store.campaigns.contacts(campaign_id=campaign.id)
        for a in await store.campaigns.attempts(contact_id=c.id)
    ]
    assert attempts == ["booked"] * 6
