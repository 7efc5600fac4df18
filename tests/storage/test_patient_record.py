"""A patient's page as the store reads it: the number masked, do-not-call status, appointments
split at now, calls by link or by number (newest first, each once), open follow-ups; lists
bounded with their counts; the erased people's placeholder has no page."""

from __future__ import annotations

from datetime import timedelta

import pytest

from storage import Store
from storage.patients import ANONYMOUS_PHONE
from tests.conftest import DEFAULT_NOW, FixedClock
from tests.storage.booking import OTHER, PHONE, at, book
from tests.storage.dashboard_data import make_call


@pytest.mark.asyncio
async def test_the_record_of_a_patient(store: Store, clock: FixedClock) -> None:
    clock.now = DEFAULT_NOW - timedelta(days=40)
    for day in (2, 3):  # in November: past by the time the page is read
        await book(store, start=at(10, day=day) - timedelta(days=30))
    clock.now = DEFAULT_NOW
    await book(store, start=at(10))
    await book(store, start=at(11, day=3))
    await book(store, start=at(12), number=OTHER, name="Ben Lika")  # someone else's
    arta = await store.patients.get(phone=PHONE)
    assert arta is not None
    # Calls: linked to the patient, by number only (before she was known), someone else's.
    for n in range(3):
        await make_call(
            store, clock, call_id=f"linked{n}", at=DEFAULT_NOW - timedelta(hours=n), phone=PHONE
        )
    clock.now = DEFAULT_NOW + timedelta(minutes=5)
    await store.calls.start(call_id="by-number", phone=PHONE)
    await store.calls.start(call_id="ben", phone=OTHER)
    await store.follow_ups.create(
        phone=PHONE, name="Arta Hoxha", due_at=at(9, day=4), reason="later", source="agent"
    )
    done, _ = await store.follow_ups.create(
        phone=PHONE, name="Arta Hoxha", due_at=at(9, day=2), reason=None, source="cli"
    )
    await store.db.conn.execute("UPDATE follow_ups SET status = 'done' WHERE id = ?", (done.id,))
    await store.dnc.add(phone=PHONE, reason="asked", source="web")

    record = await store.patient_record.get(patient_id=arta.id)
    assert record is not None
    assert (record.name, record.phone_masked, record.language) == (
        "Arta Hoxha",
        "+355*******67",
        "sq",
    )
    assert PHONE not in record.model_dump_json()
    assert record.do_not_call is not None and record.do_not_call.source == "web"
    assert record.on_do_not_call is True
    assert [a.starts_at for a in record.upcoming] == [at(10), at(11, day=3)]
    assert record.upcoming_count == 2
    assert [a.starts_at.day for a in record.past] == [3, 2]  # latest first
    assert record.past_count == 2 and {a.status for a in record.past} == {"scheduled"}
    assert [c.id for c in record.calls] == ["by-number", "linked0", "linked1", "linked2"]
    assert record.calls_count == 4
    assert [(f.reason, f.due_at) for f in record.follow_ups] == [("later", at(9, day=4))]
    assert record.follow_ups_count == 1

    short = await store.patient_record.get(patient_id=arta.id, limit=1)
    assert short is not None
    assert [c.id for c in short.calls] == ["by-number"] and short.calls_count == 4
    assert len(short.upcoming) == len(short.past) == 1 and short.past_count == 2
    with pytest.raises(ValueError, match="1 to 200"):
        await store.patient_record.get(patient_id=arta.id, limit=0)


@pytest.mark.asyncio
async def test_no_page_for_a_missing_patient_or_the_placeholder(store: Store) -> None:
    assert await store.patient_record.get(patient_id=999) is None
    await book(store)
    await store.privacy.erase_person(phone=PHONE, actor="test")
    placeholder = await store.patients.get(phone=ANONYMOUS_PHONE)
    assert placeholder is not None
    assert await store.patient_record.get(patient_id=placeholder.id) is None


@pytest.mark.asyncio
async def test_an_erased_number_kept_as_a_hash_still_shows_as_do_not_call(store: Store) -> None:
    await store.dnc.add(phone=PHONE, reason=None, source="agent")
    await store.patients.upsert(phone=PHONE, name="Arta Hoxha")
    await store.privacy.erase_person(phone=PHONE, actor="test")
    again, _ = await store.patients.upsert(phone=PHONE, name="Arta Hoxha")  # she came back
    record = await store.patient_record.get(patient_id=again.id)
    assert record is not None
    assert record.do_not_call is None and record.do_not_call_hashed is True
    assert record.on_do_not_call is True
    other, _ = await store.patients.upsert(phone=OTHER, name="Ben Lika")
    record = await store.patient_record.get(patient_id=other.id)
    assert record is not None and record.on_do_not_call is False
