"""The runners of a campaign (migration 17): registration, adoption of dead ones, wake-ups."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta

import pytest

from storage import NewContact, Store
from storage.campaign_queue import Claim
from storage.migrations import SCHEMA_VERSION
from storage.schema_pg import PG_SCHEMA_VERSION
from tests.conftest import FixedClock, claim

PHONES = ["+355691000001", "+355691000002"]


async def _campaign(store: Store) -> int:
    campaign = await store.campaigns.create(name="Recall", purpose="recall")
    await store.campaigns.add_contacts(
        campaign_id=campaign.id, contacts=[NewContact(phone=p, name="P") for p in PHONES]
    )
    return campaign.id


def test_both_dialects_are_at_the_same_schema_version() -> None:
    assert SCHEMA_VERSION == PG_SCHEMA_VERSION == 17


@pytest.mark.asyncio
async def test_a_stale_runners_attempts_are_adopted_exactly_once(
    store: Store, open_store: Callable[..., Awaitable[Store]], clock: FixedClock
) -> None:
    campaign_id = await _campaign(store)
    dead_at = clock()
    await store.runners.register(campaign_id=campaign_id, token="dead", host="a", pid=1)
    contacts = await store.campaigns.contacts(campaign_id=campaign_id)
    for contact in contacts:
        held = await claim(
            store,
            contact_id=contact.id,
            room=f"r{contact.id}",
            call_id=f"c{contact.id}",
            now=dead_at,
            runner_token="dead",
        )
        assert held.attempt is not None and held.attempt.runner_token == "dead"
    other = await open_store()
    clock.now = clock.now + timedelta(minutes=5)  # the live runners check in later
    await store.runners.register(campaign_id=campaign_id, token="b", host="b", pid=2)
    await other.runners.register(campaign_id=campaign_id, token="c", host="c", pid=3)
    # Not stale yet: nothing is adopted.
    assert await store.runners.adopt(campaign_id=campaign_id, token="b", stale_before=dead_at) == []
    # Two live runners find it stale at once: exactly one of them gets its attempts.
    later = dead_at + timedelta(seconds=1)
    got_b, got_c = await asyncio.gather(
        store.runners.adopt(campaign_id=campaign_id, token="b", stale_before=later),
        other.runners.adopt(campaign_id=campaign_id, token="c", stale_before=later),
    )
    winner = got_b or got_c
    assert len(winner) == 2 and (got_b == [] or got_c == [])
    assert {a.runner_token for a in winner} == {"b" if got_b else "c"}
    hosts = {r.host for r in await store.runners.list(campaign_id=campaign_id)}
    assert hosts == {"b", "c"}
    # The dead runner, should it come back, learns it was adopted.
    assert await store.runners.renew(token="dead") is False


@pytest.mark.asyncio
async def test_a_process_known_dead_is_adopted_before_its_lease_expires(store: Store) -> None:
    campaign_id = await _campaign(store)
    await store.runners.register(campaign_id=campaign_id, token="gone", host="h", pid=1)
    await store.runners.register(campaign_id=campaign_id, token="me", host="h", pid=2)
    past = (await store.runners.list(campaign_id=campaign_id))[0].seen_at - timedelta(hours=1)
    await store.runners.adopt(campaign_id=campaign_id, token="me", stale_before=past, dead=["gone"])
    assert [r.token for r in await store.runners.list(campaign_id=campaign_id)] == ["me"]


@pytest.mark.asyncio
async def test_a_runner_taken_for_dead_holds_nothing_and_claims_nothing(
    store: Store, clock: FixedClock
) -> None:
    # A node cut off past its lease comes back: its attempt was adopted and recorded.
    campaign_id = await _campaign(store)
    first, second = await store.campaigns.contacts(campaign_id=campaign_id)
    await store.runners.register(campaign_id=campaign_id, token="cut", host="a", pid=1)
    held = await claim(
        store, contact_id=first.id, room="r1", call_id="c1", now=clock(), runner_token="cut"
    )
    assert held.attempt is not None
    assert await store.runners.holds(token="cut", attempt_id=held.attempt.id)
    await store.runners.register(campaign_id=campaign_id, token="live", host="b", pid=2)
    (adopted,) = await store.runners.adopt(
        campaign_id=campaign_id, token="live", stale_before=clock() + timedelta(seconds=1)
    )
    assert adopted.id == held.attempt.id
    assert not await store.runners.holds(token="cut", attempt_id=held.attempt.id)
    assert await store.runners.holds(token="live", attempt_id=held.attempt.id)
    # Its claims open nothing; the live runner's still do.
    again = await claim(
        store, contact_id=second.id, room="r2", call_id="c2", now=clock(), runner_token="cut"
    )
    assert again == Claim(skipped="runner_lost")
    assert await store.queue.open_attempts(campaign_id=campaign_id) == [adopted]
    live = await claim(
        store, contact_id=second.id, room="r3", call_id="c3", now=clock(), runner_token="live"
    )
    assert live.attempt is not None
    # Its late result changes nothing, even before the adopter records the attempt: the
    # adopter alone records it (and reads what the call did).
    late = await store.queue.complete_attempt(
        attempt_id=adopted.id,
        outcome="booked",
        sip_status="200",
        duration_s=30,
        next_call_at=None,
        done_reason="booked",
        runner_token="cut",
    )
    assert (late.runner_token, late.outcome, late.ended_at) == ("live", None, None)
    contacts = {c.id: c for c in await store.campaigns.contacts(campaign_id=campaign_id)}
    assert contacts[first.id].done_reason is None
    ended = await store.queue.complete_attempt(
        attempt_id=adopted.id,
        outcome="failed",
        sip_status="interrupted",
        duration_s=None,
        next_call_at=None,
        done_reason=None,
        runner_token="live",
    )
    assert (ended.runner_token, ended.outcome) == ("live", "failed")
    # An ended attempt is held by no one.
    assert not await store.runners.holds(token="live", attempt_id=adopted.id)


@pytest.mark.asyncio
async def test_the_last_runner_out_sets_the_status_and_done_stays_done(store: Store) -> None:
    campaign_id = await _campaign(store)
    await store.runners.register(campaign_id=campaign_id, token="a", host="h", pid=1)
    await store.runners.register(campaign_id=campaign_id, token="b", host="h", pid=2)
    await store.runners.release(campaign_id=campaign_id, token="a", status="paused")
    campaign = await store.campaigns.get_by_id(campaign_id=campaign_id)
    assert campaign is not None and campaign.status == "running"  # b still runs it
    await store.runners.release(campaign_id=campaign_id, token="b", status="done")
    await store.runners.register(campaign_id=campaign_id, token="c", host="h", pid=3)
    await store.runners.release(campaign_id=campaign_id, token="c", status="done")
    campaign = await store.campaigns.get_by_id(campaign_id=campaign_id)
    assert campaign is not None and campaign.status == "done"


@pytest.mark.asyncio
async def test_a_write_in_this_process_wakes_its_waiter(store: Store) -> None:
    campaign_id = await _campaign(store)
    waiter = await store.queue.waiter(campaign_id=campaign_id)
    try:
        assert await waiter.wait(0.01) is False
        await store.campaigns.add_contacts(
            campaign_id=campaign_id, contacts=[NewContact(phone="+355691000003", name="P")]
        )
        assert await waiter.wait(60) is True
    finally:
        waiter.close()


@pytest.mark.asyncio
async def test_notify_wakes_a_waiter_in_another_process_on_postgresql(
    backend: str, store: Store, open_store: Callable[..., Awaitable[Store]]
) -> None:
    if backend != "postgresql":
        pytest.skip("SQLite wakes only this process's waiters; other processes poll")
    campaign_id = await _campaign(store)
    other = await open_store()  # another node: its own pool and listener
    waiter = await other.queue.waiter(campaign_id=campaign_id)
    try:
        waiting = asyncio.create_task(waiter.wait(60))
        await asyncio.sleep(0)
        await store.campaigns.add_contacts(
            campaign_id=campaign_id, contacts=[NewContact(phone="+355691000003", name="P")]
        )
        # True: the notification ended the wait (a timeout would return False after 60 s).
        assert await waiting is True
    finally:
        waiter.close()


@pytest.mark.asyncio
async def test_a_lost_listener_wakes_everyone_and_listens_again(
    backend: str, store: Store, open_store: Callable[..., Awaitable[Store]]
) -> None:
    if backend != "postgresql":
        pytest.skip("SQLite has no listener connection")
    campaign_id = await _campaign(store)
    other = await open_store()
    waiter = await other.queue.waiter(campaign_id=campaign_id)
    try:
        assert await waiter.wait(0.2) is False  # nothing happened yet
        listener_pid = other.db._listener.get_server_pid()  # type: ignore[attr-defined]
        waiting = asyncio.create_task(waiter.wait(60))
        await asyncio.sleep(0)
        # The server drops the listener (a restart, a network blip): notifications sent
        # meanwhile are lost, so every waiter is woken to look again.
        await store.db.rows("SELECT pg_terminate_backend(?)", (listener_pid,))
        assert await waiting is True
        # The next wait listens on a new connection, and a write on another node reaches it.
        waiting = asyncio.create_task(waiter.wait(60))
        # The write must come once the new connection LISTENs (else it is simply missed).
        for _ in range(600):
            if waiter.channel in other.db._listening:  # type: ignore[attr-defined]
                break
            await asyncio.sleep(0.05)
        await store.campaigns.add_contacts(
            campaign_id=campaign_id, contacts=[NewContact(phone="+355691000004", name="P")]
        )
        assert await waiting is True
        assert other.db._listener.get_server_pid() != listener_pid  # type: ignore[attr-defined]
    finally:
        waiter.close()
