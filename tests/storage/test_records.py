"""RecordsMixin: Elo's records counted per number and for unbound calls, and staff searches."""

from __future__ import annotations

from datetime import timedelta

import pytest

from storage import Booked, Store
from storage.records import RecordFilter, WriteCount
from tests.conftest import DEFAULT_NOW, FixedClock
from tests.storage.booking import book

PHONE = "+355691234567"
OTHER = "+355692222222"
LATER = DEFAULT_NOW + timedelta(days=1, hours=2)


async def _follow_up(store: Store, phone: str, *, call_id: str | None, source: str = "agent"):
    follow_up, _ = await store.follow_ups.create(
        phone=phone,
        name="Arbër Çela",
        due_at=LATER,
        reason=None,
        source=source,  # type: ignore[arg-type]
        call_id=call_id,
    )
    return follow_up


@pytest.mark.asyncio
async def test_writes_for_a_number_count_its_patient_and_its_calls(
    store: Store, clock: FixedClock
) -> None:
    await store.calls.start(call_id="bound", phone=PHONE)
    await store.calls.start(call_id="browser", phone=None)
    await _follow_up(store, PHONE, call_id="bound")
    await _follow_up(store, PHONE, call_id="browser")  # for this number from a browser call
    await _follow_up(store, OTHER, call_id="bound")  # made in a call bound to this number
    await _follow_up(store, PHONE, call_id=None, source="cli")  # staff: not Elo's
    since = DEFAULT_NOW - timedelta(days=1)
    assert await store.calls.writes_for_number(phone=PHONE, since=since) == WriteCount(0, 3)
    assert await store.calls.writes_for_number(phone=OTHER, since=since) == WriteCount(0, 1)
    # Older records are outside the period.
    later = DEFAULT_NOW + timedelta(seconds=1)
    assert await store.calls.writes_for_number(phone=PHONE, since=later) == WriteCount(0, 0)


@pytest.mark.asyncio
async def test_unbound_writes_count_calls_without_a_number_and_orphans(store: Store) -> None:
    await store.calls.start(call_id="bound", phone=PHONE)
    await store.calls.start(call_id="browser", phone=None)
    await _follow_up(store, PHONE, call_id="bound")
    await _follow_up(store, OTHER, call_id="browser")
    await _follow_up(store, OTHER, call_id="no-such-call")
    await _follow_up(store, OTHER, call_id=None, source="cli")
    booked = await book(store, start=LATER, number=OTHER, name="Arbër Çela", call_id="browser")
    assert isinstance(booked, Booked)
    since = DEFAULT_NOW - timedelta(hours=1)
    assert await store.calls.unbound_writes(since=since) == 3


@pytest.mark.asyncio
async def test_find_follow_ups_filters_and_status_change(store: Store) -> None:
    await store.calls.start(call_id="abuse", phone=None)
    first = await _follow_up(store, PHONE, call_id="abuse")
    await _follow_up(store, OTHER, call_id="abuse")
    await _follow_up(store, OTHER, call_id=None, source="cli")
    found = await store.follow_ups.find(RecordFilter(call_id="abuse"))
    assert len(found) == 2
    assert {ref.phone for _, ref in found} == {PHONE, OTHER}
    assert len(await store.follow_ups.find(RecordFilter(phone=OTHER, source="cli"))) == 1
    assert await store.follow_ups.find(RecordFilter(start=LATER + timedelta(minutes=1))) == []
    done = await store.follow_ups.set_status(follow_up_id=first.id, status="done")
    assert done is not None and done.status == "done"
    assert len(await store.follow_ups.find(RecordFilter(status="pending"))) == 2
    assert await store.follow_ups.set_status(follow_up_id=999, status="done") is None
