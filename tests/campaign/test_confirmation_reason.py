"""Why a confirmation call is placed, as the model is told: the appointment's id, day and time.

Real store and clinic profile; the job is the runner's CallJob with the stored campaign and
contact (the dialer is never used here).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from app.application import Application
from campaign.calls import CallJob
from campaign.launcher import confirmation_reason
from config.settings import AppSettings
from storage import Booked, Store
from tests.conftest import FixedClock
from tests.storage.booking import at
from tools.catalog import default_registry

PHONE = "+355691234567"


async def _job(store: Store, clock: FixedClock) -> tuple[CallJob, int]:
    booked = await store.appointments.book(
        phone=PHONE, name="Arta Hoxha", service_id="root_canal", starts_at=at(10),
        ends_at=at(11, 30), slot=timedelta(minutes=30), chairs=2, price_lek=9000, source="agent",
    )  # fmt: skip
    assert isinstance(booked, Booked)
    fill = await store.confirmations.fill(
        start=clock.now, end=clock.now + timedelta(hours=48), max_concurrent_calls=1,
        max_attempts=3,
    )  # fmt: skip
    assert fill.campaign_id is not None
    campaign = await store.campaigns.get(name="confirmations")
    (contact,) = await store.campaigns.contacts(campaign_id=fill.campaign_id)
    job = CallJob(
        campaign=campaign, contact=contact, attempt=None, call_id="c1", room="elo-c1",  # type: ignore[arg-type]
        participant_identity="sip-c1", dialer=None,  # type: ignore[arg-type]
    )  # fmt: skip
    return job, booked.appointment.id


@pytest.mark.asyncio
async def test_the_reason_names_the_appointment_at_its_current_time_and_no_service(
    store: Store, settings: AppSettings, clinic: Any, clock: FixedClock
) -> None:
    app = Application(
        settings=settings, clinic=clinic, store=store, registry=default_registry(), clock=clock
    )
    job, appointment_id = await _job(store, clock)
    reason = await confirmation_reason(app, job)
    assert reason == (
        f"confirm the appointment (appointment_id {appointment_id}) on Wednesday 2026-12-02"
        " at 10:00"
    )
    # Moved by staff after the contact was added: the call names the new time.
    await store.calendar.move(
        appointment_id=appointment_id, starts_at=at(14), ends_at=at(15, 30),
        slot=timedelta(minutes=30), chairs=2, actor="web:arta",
    )  # fmt: skip
    moved = await confirmation_reason(app, job)
    assert moved.endswith("on Wednesday 2026-12-02 at 14:00")
    for detail in ("root", "canal", "kanal", "Arta", PHONE):
        assert detail not in moved
