"""Follow-ups and imported records against a real SQLite file."""

from __future__ import annotations

import sqlite3
from datetime import datetime

import pytest

from storage import Store
from tests.conftest import TIRANE, FixedClock
from tests.storage.booking import OTHER, PHONE, at, book

# --- follow-ups and imports -------------------------------------------------------------------


@pytest.mark.asyncio
async def test_follow_ups_create_and_list_soonest_first(store: Store, clock: FixedClock) -> None:
    later, patient = await store.follow_ups.create(
        phone=PHONE,
        name="Arta Hoxha",
        due_at=at(15, 0, day=4),
        reason="wants a price for whitening",
        source="agent",
        call_id="call-1",
    )
    sooner, same_patient = await store.follow_ups.create(
        phone=PHONE, name="Ignored Name", due_at=at(9, 30, day=3), reason=None, source="cli"
    )
    assert same_patient.id == patient.id
    assert same_patient.name == "Arta Hoxha"
    assert await store.patients.count() == 1
    assert later.status == "pending"
    assert (later.reason, later.source, later.call_id) == (
        "wants a price for whitening",
        "agent",
        "call-1",
    )
    assert later.due_at == at(15, 0, day=4)
    assert later.created_at == clock.now
    assert [f.id for f in await store.follow_ups.list()] == [sooner.id, later.id]
    assert await store.follow_ups.list(status="done") == []


@pytest.mark.asyncio
async def test_legacy_keys_cover_appointments_and_follow_ups(store: Store) -> None:
    assert await store.appointments.legacy_keys() == set()
    await store.appointments.import_past(
        phone=PHONE,
        name="Arta Hoxha",
        service_id="checkup",
        starts_at=datetime(2025, 1, 10, 10, 0, tzinfo=TIRANE),
        ends_at=datetime(2025, 1, 10, 10, 30, tzinfo=TIRANE),
        price_lek=2000,
        legacy_key="appt-7",
    )
    await store.follow_ups.create(
        phone=PHONE,
        name="Arta Hoxha",
        due_at=at(10, 0, day=3),
        reason=None,
        source="import",
        legacy_key="fu-3",
    )
    await book(store, source="import", legacy_key="appt-8")
    await book(store, start=at(11), number=OTHER)  # no key
    assert await store.appointments.legacy_keys() == {"appt-7", "fu-3", "appt-8"}
    with pytest.raises(sqlite3.IntegrityError):
        await store.follow_ups.create(
            phone=PHONE,
            name="Arta Hoxha",
            due_at=at(10, 0, day=3),
            reason=None,
            source="import",
            legacy_key="fu-3",
        )
