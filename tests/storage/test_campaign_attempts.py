"""Call attempts and campaign status in SQLite: exact counts, rates and revenue for a script."""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from storage import Booked, CallAttempt, CampaignStatus, NewContact, Store
from storage.campaign_queue import Claim
from storage.campaigns import OUTCOMES, REACHED
from storage.errors import NotFoundError
from storage.models import AttemptOutcome
from tests.conftest import DEFAULT_NOW, TIRANE, FixedClock, claim

# Distinct valid Albanian mobile numbers, one per contact.
PHONES = [f"+35569{n:07d}" for n in range(1000001, 1000021)]
SLOT = timedelta(minutes=30)


async def _book(store: Store, *, n: int, price: int, call_id: str | None) -> None:
    starts = DEFAULT_NOW + timedelta(days=1, hours=1) + n * SLOT
    booked = await store.appointments.book(
        phone=PHONES[-1 - n],
        name="Pacient Test",
        service_id="cleaning",
        starts_at=starts,
        ends_at=starts + SLOT,
        slot=SLOT,
        chairs=3,
        price_lek=price,
        source="agent",
        call_id=call_id,
    )
    assert isinstance(booked, Booked)


# Call ids for attempts whose call made no record (nothing in them is matched by call id).
_CALL_IDS = itertools.count(1)


async def _attempt(
    store: Store, contact_id: int, outcome: AttemptOutcome | None, call_id: str | None = None
) -> CallAttempt:
    """Claim the contact and, unless ``outcome`` is None, complete the attempt with it.

    The contact stays queued (no ``done_reason``), as these attempts bypass the runner.
    """
    call_id = call_id or f"no-record-{next(_CALL_IDS)}"
    claimed = await claim(
        store, contact_id=contact_id, room=f"room-{call_id}", call_id=call_id, now=DEFAULT_NOW
    )
    assert claimed.attempt is not None, claimed
    if outcome is None:
        return claimed.attempt
    return await _complete(store, claimed.attempt.id, outcome)


async def _complete(
    store: Store,
    attempt_id: int,
    outcome: AttemptOutcome,
    *,
    sip_status: str | None = None,
    duration_s: int | None = None,
) -> CallAttempt:
    return await store.queue.complete_attempt(
        attempt_id=attempt_id,
        outcome=outcome,
        sip_status=sip_status,
        duration_s=duration_s,
        next_call_at=None,
        done_reason=None,
    )


@pytest.mark.asyncio
async def test_attempt_times_come_from_the_clock_and_the_first_finish_wins(
    store: Store, clock: FixedClock
) -> None:
    campaign = await store.campaigns.create(name="Recall", purpose="recall")
    await store.campaigns.add_contacts(
        campaign_id=campaign.id, contacts=[NewContact(phone=PHONES[0], name="A")]
    )
    (contact,) = await store.campaigns.contacts(campaign_id=campaign.id)

    claimed = await claim(
        store, contact_id=contact.id, room="room-1", call_id="call-1", now=clock.now
    )
    started = claimed.attempt
    assert started is not None
    assert started == CallAttempt(
        id=started.id,
        contact_id=contact.id,
        started_at=clock.now,
        ended_at=None,
        outcome=None,
        sip_status=None,
        call_id="call-1",
        duration_s=None,
        phone=PHONES[0],
        campaign_id=campaign.id,
        room="room-1",
    )
    ended_at = clock.now + timedelta(seconds=95)
    clock.now = ended_at
    finished = await _complete(store, started.id, "no_answer", sip_status="480", duration_s=0)
    assert (finished.ended_at, finished.outcome, finished.sip_status, finished.duration_s) == (
        ended_at,
        "no_answer",
        "480",
        0,
    )
    clock.now += timedelta(minutes=5)
    again = await _complete(store, started.id, "booked", duration_s=60)
    assert again == finished

    second = await _attempt(store, contact.id, None)
    assert await store.campaigns.attempts(contact_id=contact.id) == [finished, second]


@pytest.mark.asyncio
async def test_bad_attempts_are_refused(store: Store) -> None:
    campaign = await store.campaigns.create(name="Bad", purpose="recall")
    await store.campaigns.add_contacts(
        campaign_id=campaign.id, contacts=[NewContact(phone=PHONES[0], name="A")]
    )
    (contact,) = await store.campaigns.contacts(campaign_id=campaign.id)
    missing = await claim(store, contact_id=999, room="r", call_id="c", now=DEFAULT_NOW)
    assert missing == Claim(skipped="not_queued")
    attempt = await _attempt(store, contact.id, None)
    with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
        await _complete(store, attempt.id, "maybe")  # type: ignore[arg-type]
    with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
        await _complete(store, attempt.id, "busy", duration_s=-1)
    with pytest.raises(NotFoundError):
        await _complete(store, 999, "busy")
    with pytest.raises(NotFoundError):
        await store.campaigns.status(campaign_id=999)
    # The refused finishes left the attempt open.
    assert (await store.campaigns.attempts(contact_id=contact.id))[0].outcome is None


@pytest.mark.asyncio
async def test_status_of_a_scripted_campaign(store: Store) -> None:
    campaign = await store.campaigns.create(name="Spring", purpose="check_up")
    names = "ABCDEFGH"
    await store.campaigns.add_contacts(
        campaign_id=campaign.id,
        contacts=[NewContact(phone=PHONES[i], name=n) for i, n in enumerate(names)],
    )
    ids = {c.name: c.id for c in await store.campaigns.contacts(campaign_id=campaign.id)}
    other = await store.campaigns.create(name="Other", purpose="recall")
    await store.campaigns.add_contacts(
        campaign_id=other.id, contacts=[NewContact(phone=PHONES[0], name="A")]
    )
    (other_contact,) = await store.campaigns.contacts(campaign_id=other.id)

    assert await _campaign_numbers(store, campaign.id) == {
        "contacts_total": 8,
        "contacts_attempted": 0,
        "attempts": 0,
        "in_progress": 0,
        "contact_rate": 0.0,
        "booking_rate": 0.0,
        "revenue_booked_lek": 0,
        "remaining_contacts": 8,
        "queued_contacts": 8,
        "system_faults": 0,
        "pause_reason": None,
        "service_state": "manual",
        "contacts_reached": 0,
        "contacts_booked": 0,
    }

    await _attempt(store, ids["A"], "no_answer", "a-1")
    await _attempt(store, ids["A"], "booked", "a-2")
    await _book(store, n=0, price=3000, call_id="a-2")
    await _attempt(store, ids["B"], "busy")
    await _attempt(store, ids["B"], "voicemail", "b-2")
    await _attempt(store, ids["C"], "declined", "c-1")
    await _attempt(store, ids["D"], "booked", "d-1")
    await _book(store, n=1, price=2500, call_id="d-1")
    await _book(store, n=2, price=1500, call_id="d-1")
    # E is never called; F opts out by another route before being called.
    await store.dnc.add(phone=PHONES[5], reason=None, source="cli")
    await _attempt(store, ids["G"], None, "g-1")
    await _attempt(store, ids["H"], "opted_out", "h-1")
    # Neither another campaign's booking nor one from a call outside any campaign counts.
    await _attempt(store, other_contact.id, "booked", "o-1")
    await _book(store, n=3, price=9999, call_id="o-1")
    await _book(store, n=4, price=800, call_id="inbound-1")
    await _book(store, n=5, price=700, call_id=None)

    status = await store.campaigns.status(campaign_id=campaign.id)
    assert (status.campaign_id, status.name, status.status) == (campaign.id, "Spring", "draft")
    assert await _campaign_numbers(store, campaign.id) == {
        "contacts_total": 8,
        "contacts_attempted": 6,  # A B C D G H
        "attempts": 8,
        "in_progress": 1,  # G
        "contact_rate": 0.6667,  # A C D H of 6
        "booking_rate": 0.3333,  # A D of 6
        "revenue_booked_lek": 7000,
        "remaining_contacts": 1,  # E
        # All but F, closed by its do-not-call entry (these attempts bypass the runner, which
        # is what closes contacts after an attempt).
        "queued_contacts": 7,
        "system_faults": 0,
        "pause_reason": None,
        "service_state": "manual",
        # The funnel: 8 queued -> 6 dialled -> 4 answered (A C D H) -> 2 booked (A D).
        "contacts_reached": 4,
        "contacts_booked": 2,
    }
    assert status.outcomes == {
        "booked": 2,
        "follow_up": 0,
        "declined": 1,
        "no_answer": 1,
        "busy": 1,
        "voicemail": 1,
        "failed": 0,
        "opted_out": 1,
        "transferred": 0,
    }
    assert list(status.outcomes) == list(OUTCOMES)


async def _campaign_numbers(store: Store, campaign_id: int) -> dict[str, object]:
    status = await store.campaigns.status(campaign_id=campaign_id)
    return status.model_dump(exclude={"campaign_id", "name", "status", "outcomes"})


def test_reached_outcomes_are_the_human_answers() -> None:
    assert set(REACHED) == {"booked", "follow_up", "declined", "opted_out", "transferred"}
    assert set(REACHED) < set(OUTCOMES) and len(OUTCOMES) == 9


@given(
    script=st.lists(
        st.lists(st.sampled_from(OUTCOMES), max_size=3),
        min_size=1,
        max_size=5,
    )
)
@hypothesis_settings(max_examples=30, deadline=None)
def test_rates_match_a_plain_count(
    tmp_path_factory: pytest.TempPathFactory, script: list[list[AttemptOutcome]]
) -> None:
    """Per contact, per outcome: the SQL agrees with counting in Python."""
    path = tmp_path_factory.mktemp("rates") / "elo.db"
    status = asyncio.run(_run_script(path, script))
    attempted = [outcomes for outcomes in script if outcomes]
    reached = sum(any(o in REACHED for o in outcomes) for outcomes in attempted)
    booked = sum("booked" in outcomes for outcomes in attempted)
    n = len(attempted)
    assert status.contacts_attempted == n
    assert status.attempts == sum(map(len, script))
    assert status.remaining_contacts == len(script) - n
    assert status.contact_rate == (round(reached / n, 4) if n else 0.0)
    assert status.booking_rate == (round(booked / n, 4) if n else 0.0)
    assert sum(status.outcomes.values()) == status.attempts
    assert 0.0 <= status.booking_rate <= status.contact_rate <= 1.0


async def _run_script(path: Path, script: list[list[AttemptOutcome]]) -> CampaignStatus:
    async with await Store.open(path, tz=TIRANE, clock=FixedClock()) as store:
        campaign = await store.campaigns.create(name="P", purpose="recall")
        await store.campaigns.add_contacts(
            campaign_id=campaign.id,
            contacts=[NewContact(phone=PHONES[i], name="X") for i in range(len(script))],
        )
        contacts = await store.campaigns.contacts(campaign_id=campaign.id)
        for contact, outcomes in zip(contacts, script, strict=True):
            for outcome in outcomes:
                await _attempt(store, contact.id, outcome)
        return await store.campaigns.status(campaign_id=campaign.id)


@pytest.mark.asyncio
async def test_cancelled_and_no_show_appointments_are_not_revenue(store: Store) -> None:
    campaign = await store.campaigns.create(name="Revenue", purpose="recall")
    await store.campaigns.add_contacts(
        campaign_id=campaign.id,
        contacts=[NewContact(phone=PHONES[i], name="Pacient") for i in range(3)],
    )
    contacts = await store.campaigns.contacts(campaign_id=campaign.id)
    for n, contact in enumerate(contacts):
        await _attempt(store, contact.id, "booked", call_id=f"rev-{n}")
        await _book(store, n=n, price=4000, call_id=f"rev-{n}")
    appointments = await store.appointments.list(
        start=DEFAULT_NOW, end=DEFAULT_NOW + timedelta(days=30), active_only=False
    )
    by_call = {a.call_id: a for a in appointments}
    await store.appointments.set_status(appointment_id=by_call["rev-1"].id, status="cancelled")
    await store.appointments.set_status(appointment_id=by_call["rev-2"].id, status="no_show")
    status = await store.campaigns.status(campaign_id=campaign.id)
    assert status.revenue_booked_lek == 4000


@pytest.mark.asyncio
async def test_a_number_calling_the_clinic_now_is_not_dialled(
    store: Store, clock: FixedClock
) -> None:
    """An inbound call in progress holds the number as an open attempt does (issue 11)."""
    from storage.models import CallDirection

    campaign = await store.campaigns.create(name="Recall", purpose="recall")
    await store.campaigns.add_contacts(
        campaign_id=campaign.id, contacts=[NewContact(phone=PHONES[0], name="Arta Hoxha")]
    )
    (contact,) = await store.campaigns.contacts(campaign_id=campaign.id)
    now = clock()

    async def try_claim(call_id: str) -> Claim:
        return await store.queue.claim_contact(
            contact_id=contact.id,
            room=f"elo-{call_id}",
            call_id=call_id,
            campaign_cap=2,
            global_cap=4,
            max_attempts=4,
            policy=lambda attempts, refusals: None,
            history_since=now - timedelta(days=60),
            inbound_since=now - timedelta(hours=1),
        )

    # A call left unended by a crash long ago holds nothing.
    clock.now = now - timedelta(hours=3)
    await store.calls.start(call_id="in-old", phone=PHONES[0], direction=CallDirection.INBOUND)
    clock.now = now
    await store.calls.start(call_id="in-now", phone=PHONES[0], direction=CallDirection.INBOUND)
    assert (await try_claim("a1")).skipped == "in_call"
    await store.calls.finish(call_id="in-now", outcome="completed")
    claimed = await try_claim("a2")
    assert claimed.attempt is not None
