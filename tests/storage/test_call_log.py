"""The calls list (filters, keyset pages, masked numbers) and a call's detail."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

import pytest

from storage import NewContact, Store
from storage.errors import CursorError
from storage.models import CallDirection
from tests.conftest import TIRANE, FixedClock
from tests.storage.booking import phone
from tests.storage.dashboard_data import make_call

NOON = datetime(2026, 12, 1, 12, 0, tzinfo=TIRANE)
# Any full E.164 number (a masked one has stars in it).
FULL_NUMBER = re.compile(r"\+[0-9]{8,15}")


async def _all_pages(store: Store, **filters: object) -> list[str]:
    ids: list[str] = []
    cursor = None
    while True:
        page = await store.call_log.page(cursor=cursor, limit=2, **filters)  # type: ignore[arg-type]
        ids += [item.id for item in page.items]
        assert len(page.items) <= 2
        if page.next_cursor is None:
            return ids
        cursor = page.next_cursor


@pytest.mark.asyncio
async def test_pages_are_newest_first_and_equal_times_are_neither_skipped_nor_repeated(
    store: Store, clock: FixedClock
) -> None:
    # Five calls in the same second, two later ones: ties are ordered by id, descending.
    for n in range(5):
        await make_call(store, clock, call_id=f"same-{n}", at=NOON)
    await make_call(store, clock, call_id="later-a", at=NOON + timedelta(minutes=1))
    await make_call(store, clock, call_id="later-b", at=NOON + timedelta(minutes=2))
    ids = await _all_pages(store)
    assert ids == ["later-b", "later-a", "same-4", "same-3", "same-2", "same-1", "same-0"]
    first = await store.call_log.page(limit=7)
    assert [i.id for i in first.items] == ids and first.next_cursor is None


@pytest.mark.asyncio
async def test_filters_by_local_days_outcome_direction_and_their_combination(
    store: Store, clock: FixedClock
) -> None:
    inbound = CallDirection.INBOUND
    await make_call(store, clock, call_id="d1-booked", at=NOON, outcome="booked")
    await make_call(
        store, clock, call_id="d1-in", at=NOON + timedelta(hours=1), outcome="booked",
        direction=inbound,
    )  # fmt: skip
    # 00:30 on 2 December local is still 1 December in UTC: it belongs to the 2nd.
    late = datetime(2026, 12, 2, 0, 30, tzinfo=TIRANE)
    await make_call(store, clock, call_id="d2-declined", at=late, outcome="declined")
    await make_call(store, clock, call_id="d3-in", at=NOON + timedelta(days=2), direction=inbound)
    one_day = await _all_pages(store, first_day=date(2026, 12, 2), last_day=date(2026, 12, 2))
    assert one_day == ["d2-declined"]
    assert await _all_pages(store, first_day=date(2026, 12, 1), last_day=date(2026, 12, 2)) == [
        "d2-declined",
        "d1-in",
        "d1-booked",
    ]
    assert await _all_pages(store, first_day=date(2026, 12, 2)) == ["d3-in", "d2-declined"]
    assert await _all_pages(store, last_day=date(2026, 12, 1)) == ["d1-in", "d1-booked"]
    assert await _all_pages(store, outcome="booked") == ["d1-in", "d1-booked"]
    assert await _all_pages(store, direction="inbound") == ["d3-in", "d1-in"]
    assert await _all_pages(store, direction=inbound, outcome="booked") == ["d1-in"]
    assert await _all_pages(store, outcome="opted_out") == []
    with pytest.raises(ValueError):
        await store.call_log.page(outcome="nonsense")
    with pytest.raises(ValueError):
        await store.call_log.page(direction="sideways")
    with pytest.raises(ValueError, match="before"):
        await store.call_log.page(first_day=date(2026, 12, 2), last_day=date(2026, 12, 1))
    with pytest.raises(ValueError):
        await store.call_log.page(limit=0)


@pytest.mark.asyncio
async def test_a_campaign_filter_lists_the_calls_its_dials_opened(
    store: Store, clock: FixedClock
) -> None:
    spring = await store.campaigns.create(name="Spring", purpose="recall")
    other = await store.campaigns.create(name="Other", purpose="recall")
    for campaign in (spring, other):
        await store.campaigns.add_contacts(
            campaign_id=campaign.id, contacts=[NewContact(phone=phone(1), name="Arta Hoxha")]
        )
    for n, campaign in enumerate([spring, spring, other, spring]):
        at = NOON + timedelta(minutes=n)
        await make_call(store, clock, call_id=f"k{n}", at=at, phone=phone(1))
        contact = await store.db.scalar(
            "SELECT id FROM campaign_contacts WHERE campaign_id = ?", (campaign.id,)
        )
        await store.db.conn.execute(
            "INSERT INTO call_attempts (contact_id, campaign_id, phone, started_at, outcome,"
            " call_id) VALUES (?, ?, ?, ?, 'declined', ?)",
            (contact, campaign.id, phone(1), at.strftime("%Y-%m-%dT%H:%M:%SZ"), f"k{n}"),
        )
    await make_call(store, clock, call_id="not-a-campaign", at=NOON + timedelta(hours=2))
    assert await _all_pages(store, campaign_id=spring.id) == ["k3", "k1", "k0"]
    assert await _all_pages(store, campaign_id=other.id) == ["k2"]
    page = await store.call_log.page()
    assert {i.id: i.campaign_id for i in page.items} == {
        "not-a-campaign": None,
        "k3": spring.id,
        "k2": other.id,
        "k1": spring.id,
        "k0": spring.id,
    }
    # A cursor of one list is refused by another.
    first = await store.call_log.page(campaign_id=spring.id, limit=1)
    assert first.next_cursor is not None
    with pytest.raises(CursorError):
        await store.call_log.page(cursor=first.next_cursor)
    with pytest.raises(CursorError):
        await store.call_log.page(cursor="not-a-cursor")


@pytest.mark.asyncio
async def test_numbers_are_masked_and_names_shown_only_when_asked(
    store: Store, clock: FixedClock
) -> None:
    await store.patients.upsert(phone=phone(7), name="Arbër Çela")
    await make_call(store, clock, call_id="c1", at=NOON, phone=phone(7))
    await make_call(store, clock, call_id="c2", at=NOON, phone=None)
    plain = await store.call_log.page()
    text = plain.model_dump_json()
    assert not FULL_NUMBER.search(text)
    assert "Arbër" not in text
    item = next(i for i in plain.items if i.id == "c1")
    assert item.phone_masked == "+355*******07"
    assert item.patient_id is not None and item.patient_name is None
    assert next(i for i in plain.items if i.id == "c2").phone_masked is None
    named = await store.call_log.page(with_names=True)
    assert {i.id: i.patient_name for i in named.items} == {"c1": "Arbër Çela", "c2": None}
    assert not FULL_NUMBER.search(named.model_dump_json())


@pytest.mark.asyncio
async def test_detail_of_a_call_and_of_none(store: Store, clock: FixedClock) -> None:
    await store.patients.upsert(phone=phone(3), name="Ben Leka")
    entries = [
        {"t": "2026-12-01T12:00:01.000+01:00", "role": "elo", "text": "Përshëndetje."},
        {"t": "2026-12-01T12:00:03.000+01:00", "role": "patient", "text": "Po."},
    ]
    counters = {
        "latency_ms": {"samples": 4, "p50": 512.5, "p95": 901.0},
        "pipeline_ms": {"samples": 4, "p50": 31.0, "p95": 60.5},
    }
    await make_call(
        store, clock, call_id="c1", at=NOON, phone=phone(3), entries=entries, counters=counters,
        outcome="hung_up", reason="the patient hung up",
    )  # fmt: skip
    detail = await store.call_log.detail(call_id="c1")
    assert detail is not None
    assert (detail.outcome, detail.outcome_reason) == ("hung_up", "the patient hung up")
    assert detail.phone_masked == "+355*******03" and detail.patient_name is None
    assert [(line.index, line.role, line.text) for line in detail.transcript] == [
        (0, "elo", "Përshëndetje."),
        (1, "patient", "Po."),
    ]
    assert (detail.response_latency.p50_ms, detail.response_latency.p95_ms) == (512.5, 901.0)
    assert (detail.pipeline_latency.samples, detail.pipeline_latency.p95_ms) == (4, 60.5)
    assert [(s.kind, s.params["by"]) for s in detail.summary] == [("ended", "patient")]
    assert not FULL_NUMBER.search(detail.model_dump_json())
    named = await store.call_log.detail(call_id="c1", with_name=True)
    assert named is not None and named.patient_name == "Ben Leka"
    assert await store.call_log.detail(call_id="missing") is None
