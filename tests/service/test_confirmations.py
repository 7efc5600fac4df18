"""The service's confirmation filler: real store, real settings, the real Application.

The clock is fixed at Tue 2026-12-01 08:00 in Tirana.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from app.application import Application
from config.clinic import ClinicProfile
from config.settings import load_settings
from service.confirmations import ConfirmationFiller
from storage import Booked, Store
from tests.conftest import FixedClock
from tests.storage.booking import at, book, phone
from tools.registry import ToolRegistry

pytestmark = pytest.mark.asyncio


def _app(
    tmp_path: Path, store: Store, clinic: ClinicProfile, registry: ToolRegistry,
    clock: FixedClock, **confirmations: object,
) -> Application:  # fmt: skip
    settings = load_settings(
        env_file=None,
        database={"path": tmp_path / "elo.db"},
        logging={"file": tmp_path / "elo.jsonl"},
        confirmations=confirmations,
    )
    return Application(
        settings=settings, clinic=clinic, store=store, registry=registry, clock=clock
    )


async def _appointment(store: Store, number: str, hour: int, day: int = 2) -> int:
    outcome = await book(store, start=at(hour, 0, day), number=number, chairs=4, name="Ana Dede")
    assert isinstance(outcome, Booked)
    return outcome.appointment.id


async def test_the_filler_respects_the_horizon_the_list_and_is_idempotent(
    tmp_path: Path, store: Store, clinic: ClinicProfile, registry: ToolRegistry, clock: FixedClock
) -> None:
    tomorrow = await _appointment(store, phone(1), 10)  # Wed 10:00: 26 h away
    await _appointment(store, phone(2), 10, day=3)  # Thu 10:00: 50 h away
    await _appointment(store, phone(3), 11)
    await store.dnc.add(phone=phone(3), reason=None, source="cli")
    woken = []
    filler = ConfirmationFiller(
        _app(tmp_path, store, clinic, registry, clock, horizon_hours=30),
        on_added=lambda: woken.append(True),
    )

    fill = await filler.fill_once()
    assert fill is not None
    assert (fill.added, fill.on_do_not_call) == (1, 1)
    assert woken == [True]
    campaign = await store.campaigns.get(name="confirmations")
    assert campaign is not None
    assert (campaign.purpose, campaign.service_state) == ("confirmation", "active")
    assert [c.id for c in await store.campaigns.for_service()] == [campaign.id]
    (contact,) = await store.campaigns.contacts(campaign_id=campaign.id)
    assert (contact.phone, contact.appointment_id) == (phone(1), tomorrow)

    again = await filler.fill_once()
    assert again is not None and again.added == 0
    assert woken == [True]  # nothing new: the supervisor is not woken
    assert len(await store.campaigns.contacts(campaign_id=campaign.id)) == 1


async def test_turned_off_the_filler_creates_nothing(
    tmp_path: Path, store: Store, clinic: ClinicProfile, registry: ToolRegistry, clock: FixedClock
) -> None:
    await _appointment(store, phone(1), 10)
    filler = ConfirmationFiller(_app(tmp_path, store, clinic, registry, clock, enabled=False))
    assert await filler.fill_once() is None
    assert await store.campaigns.get(name="confirmations") is None
