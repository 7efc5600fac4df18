"""The Store as a whole: every repository keeps values as data (parameterised SQL)."""

from __future__ import annotations

import sqlite3

import pytest

from storage import Booked, Store
from tests.storage.booking import OTHER, PHONE, SLOT, WED_10, at, book

# --- parameterised SQL ------------------------------------------------------------------------

INJECTIONS = [
    "Robert'); DROP TABLE patients;--",
    "x' OR '1'='1",
    '"; DELETE FROM appointments; --',
    "name`) VALUES (1); --",
]


@pytest.mark.asyncio
@pytest.mark.parametrize("payload", INJECTIONS)
async def test_injection_strings_are_stored_verbatim(store: Store, raw, payload: str) -> None:
    result = await book(store, name=payload, call_id=payload)
    assert isinstance(result, Booked)
    assert result.patient.name == payload
    assert result.appointment.call_id == payload
    follow_up, _ = await store.follow_ups.create(
        phone=OTHER, name=payload, due_at=at(10, 0, day=3), reason=payload, source="agent"
    )
    assert follow_up.reason == payload
    await store.calls.start(call_id=payload)
    await store.calls.save_progress(
        call_id=payload,
        transcript=[{"text": payload}],
        counters={payload: 1},
        turns=1,
        tool_calls=0,
    )
    call = await store.calls.get(call_id=payload)
    assert call is not None
    assert call.transcript == [{"text": payload}]
    assert call.counters == {payload: 1}
    # Nothing was executed: every table is intact and holds exactly what was written.
    tables = {r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"patients", "appointments", "follow_ups", "calls"} <= tables
    assert raw.execute("SELECT name FROM patients ORDER BY id").fetchall() == [
        (payload,),
        (payload,),
    ]
    assert await store.appointments.count() == 1


@pytest.mark.asyncio
@pytest.mark.parametrize("payload", INJECTIONS)
async def test_injection_strings_as_lookup_keys_match_nothing(store: Store, payload: str) -> None:
    await store.patients.upsert(phone=PHONE, name="Arta Hoxha")
    assert await store.patients.get(phone=payload) is None
    assert await store.calls.get(call_id=payload) is None
    assert await store.follow_ups.list(status=payload) == []


@pytest.mark.asyncio
async def test_non_integer_money_is_refused_and_nothing_is_written(store: Store) -> None:
    with pytest.raises(sqlite3.IntegrityError):
        await store.appointments.book(
            phone="+355691234567",
            name="Arbër Çela",
            service_id="checkup",
            starts_at=WED_10,
            ends_at=WED_10 + SLOT,
            slot=SLOT,
            chairs=1,
            price_lek=2000.5,  # type: ignore[arg-type]
            source="agent",
        )
    assert await store.appointments.count() == 0
    assert await store.patients.count() == 0
    assert (await store.calls.stats()).revenue_generated == 0
