"""Fixtures for running campaigns against the local LiveKit fake with a movable clock."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import pytest_asyncio
from pydantic import SecretStr

from campaign.dialer import LiveKitDialer
from campaign.runner import CampaignRunner
from config.settings import AppSettings
from devtools.clock import SimulatedSleep
from devtools.livekit_fake import FakeLiveKitServer
from storage import Campaign, Store
from tests.campaign.fakes import ScriptedLauncher
from tests.conftest import FixedClock

API_KEY = "devkey"
API_SECRET = "test-secret-that-is-long-enough-for-hs256"
TIRANE = ZoneInfo("Europe/Tirane")
# Wednesday 2 December 2026, 10:00 in Tirana: a working day, the window just opened.
START = datetime(2026, 12, 2, 10, 0, tzinfo=TIRANE)


@pytest_asyncio.fixture
async def livekit() -> AsyncIterator[FakeLiveKitServer]:
    async with FakeLiveKitServer(API_KEY, API_SECRET) as server:
        yield server


@pytest.fixture
def run_settings(settings: AppSettings, livekit: FakeLiveKitServer) -> AppSettings:
    """Settings pointing at the fake, with a long poll so simulated time jumps between events."""
    return settings.model_copy(
        update={
            "livekit": settings.livekit.model_copy(
                update={
                    "url": livekit.url,
                    "api_key": SecretStr(API_KEY),
                    "api_secret": SecretStr(API_SECRET),
                    "sip_trunk_id": "ST_test",
                }
            ),
            "campaign": settings.campaign.model_copy(update={"poll_secs": 86400.0}),
        }
    )


@pytest_asyncio.fixture
async def dialer(run_settings: AppSettings) -> AsyncIterator[LiveKitDialer]:
    d = LiveKitDialer.from_settings(run_settings)
    yield d
    await d.aclose()


@pytest.fixture
def launcher(store: Store, clock: FixedClock, livekit: FakeLiveKitServer) -> ScriptedLauncher:
    clock.now = START
    return ScriptedLauncher(
        store=store, clock=clock, dialled=lambda phone: len(livekit.calls_to(phone))
    )


@pytest.fixture
def make_runner(
    store: Store,
    run_settings: AppSettings,
    clock: FixedClock,
    dialer: LiveKitDialer,
    launcher: ScriptedLauncher,
) -> Callable[..., CampaignRunner]:
    def build(campaign: Campaign, **options: Any) -> CampaignRunner:
        time = SimulatedSleep(clock)
        runner = CampaignRunner(
            store=options.pop("store", store),
            settings=options.pop("settings", run_settings),
            campaign=campaign,
            dialer=options.pop("dialer", dialer),
            launcher=options.pop("launcher", launcher),
            clock=clock,
            sleep=time,
            **options,
        )
        time.runner = runner
        return runner

    return build
