"""Quiet hours, as a property: across time zones and daylight-saving changes no message is ever
sent outside the calling window, and one waiting is sent at the first run inside it."""

from __future__ import annotations

import asyncio
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.calling_rules import CallingWindow
from config.clinic import ClinicProfile, load_clinic_profile
from config.settings_messages import MessagesSettings
from messaging.sender import Sender, SenderConfig
from storage import Store
from storage.outbox_plan import OutboxPlan
from tests.conftest import SAMPLE_PROFILE, FixedClock
from tests.messaging.fakes import StrictSms

ZONES = [
    "Europe/Tirane",
    "America/New_York",
    "America/Santiago",
    "Australia/Lord_Howe",  # a 30-minute daylight-saving change
    "Pacific/Chatham",
    "Asia/Kolkata",
    "Europe/London",
]
# Instants near 2026's daylight-saving changes in the zones above (UTC).
NEAR_CHANGES = [
    datetime(2026, 3, 8, 0, tzinfo=UTC),
    datetime(2026, 3, 28, 20, tzinfo=UTC),
    datetime(2026, 4, 4, 10, tzinfo=UTC),
    datetime(2026, 9, 5, 10, tzinfo=UTC),
    datetime(2026, 9, 26, 12, tzinfo=UTC),
    datetime(2026, 10, 3, 14, tzinfo=UTC),
    datetime(2026, 10, 24, 20, tzinfo=UTC),
    datetime(2026, 11, 1, 0, tzinfo=UTC),
]
BASE = load_clinic_profile(SAMPLE_PROFILE)


@st.composite
def windows(draw: st.DrawFn) -> CallingWindow:
    days = draw(st.frozensets(st.integers(0, 6), min_size=1))
    cuts = sorted(draw(st.sets(st.integers(0, 96), min_size=2, max_size=4)))
    intervals = tuple((a * 15, b * 15) for a, b in zip(cuts[::2], cuts[1::2], strict=False))
    return CallingWindow(days=days, intervals=intervals, skip_public_holidays=draw(st.booleans()))


async def _scenario(
    zone: str, window: CallingWindow, start: datetime, steps: list[int], folder: Path
) -> None:
    clinic = ClinicProfile.model_validate({**BASE.model_dump(), "time_zone": zone})
    clock = FixedClock(start)
    store = await Store.open(folder / "elo.db", tz=clinic.tz, clock=clock)
    try:
        store.db.outbox = OutboxPlan(offsets=(timedelta(days=2), timedelta(hours=2)))
        begins = start + timedelta(days=20)
        await store.appointments.book(
            phone="+355691234567",
            name="Arta Hoxha",
            service_id="checkup",
            starts_at=begins,
            ends_at=begins + timedelta(minutes=30),
            slot=timedelta(minutes=30),
            chairs=1,
            price_lek=2000,
            source="agent",
        )
        sms = StrictSms(clock=clock)
        sender = Sender(
            store=store,
            config=SenderConfig(clinic=clinic, window=window, settings=MessagesSettings()),
            sms=sms,
            email=None,
            clock=clock,
        )
        first_open: datetime | None = None
        for step in steps:
            if first_open is None and sender.window_open(clock()):
                first_open = clock()
            await sender.run_once()
            clock.now += timedelta(minutes=step)
        for at in sms.sends_at:
            assert window.allowed(at, tz=clinic.tz, country=clinic.country), (at, zone)
        # Liveness: the confirmation went at the first run inside the window, not later.
        if first_open is None:
            assert sms.sends_at == []
        else:
            assert sms.sends_at[0] == first_open
    finally:
        await store.close()


@pytest.mark.slow
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    zone=st.sampled_from(ZONES),
    window=windows(),
    near=st.sampled_from(NEAR_CHANGES),
    shift=st.integers(-48 * 60, 48 * 60),
    steps=st.lists(st.integers(1, 600), min_size=5, max_size=30),
)
def test_no_message_is_sent_outside_the_calling_window(
    zone: str, window: CallingWindow, near: datetime, shift: int, steps: list[int]
) -> None:
    start = near + timedelta(minutes=shift)
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(_scenario(zone, window, start, steps, Path(folder)))
