"""store.calendar.confirm: the one way an appointment becomes confirmed (call, SMS, staff)."""

from __future__ import annotations

import pytest

from storage import Booked, Store
from storage.calendar_models import NotChangeable, UnknownAppointment
from tests.conftest import FixedClock
from tests.storage.booking import at, book
from tests.storage.test_calendar import audit, dump

pytestmark = pytest.mark.asyncio


async def test_confirm_sets_status_time_and_channel_once_and_is_audited(
    store: Store, clock: FixedClock
) -> None:
    booked = await book(store, start=at(10))
    assert isinstance(booked, Booked)
    appointment = booked.appointment
    assert (appointment.confirmed_at, appointment.confirmed_via) == (None, None)

    confirmed = await store.calendar.confirm(
        appointment_id=appointment.id, via="call", actor="agent:call-1"
    )
    assert (confirmed.id, confirmed.status, confirmed.confirmed_via) == (
        appointment.id,
        "confirmed",
        "call",
    )
    assert confirmed.confirmed_at == clock.now
    assert (confirmed.starts_at, confirmed.revision) == (appointment.starts_at, 0)
    assert (await audit(store))[-1] == (
        "agent:call-1",
        "appointment.confirm",
        f"appointment:{appointment.id}",
        {"via": "call"},
    )
    # Again (an SMS "PO" after the call): nothing changes, no second audit record.
    before = await dump(store)
    again = await store.calendar.confirm(appointment_id=appointment.id, via="sms", actor="sms")
    assert again == confirmed
    assert await dump(store) == before


async def test_confirm_refuses_unknown_and_cancelled_appointments(store: Store) -> None:
    booked = await book(store, start=at(11))
    assert isinstance(booked, Booked)
    await store.calendar.cancel(appointment_id=booked.appointment.id, reason=None, actor="cli")
    before = await dump(store)
    with pytest.raises(UnknownAppointment):
        await store.calendar.confirm(appointment_id=999, via="call", actor="agent")
    with pytest.raises(NotChangeable, match="is cancelled and cannot be confirmed"):
        await store.calendar.confirm(appointment_id=booked.appointment.id, via="sms", actor="sms")
    assert await dump(store) == before
