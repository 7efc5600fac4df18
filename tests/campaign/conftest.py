"""Fixtures for running campaigns against the local LiveKit fake with a movable clock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import pytest_asyncio
from pydantic import SecretStr

from campaign.dialer import LiveKitDialer
from campaign.runner import CampaignRunner
from config.settings import AppSettings
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


class SimulatedTime:
    """A runner's sleep that moves the clock instead of waiting, once no call is in progress."""

    def __init__(self, clock: FixedClock) -> None:
        self.clock = clock
        self.runner: CampaignRunner | None = None

    async def __call__(self, seconds: float) -> None:
        # Time stands still while calls are in progress (they take no simulated time).
        for _ in range(100_000):
            if self.runner is None or not self.runner.active:
                break
            await asyncio.sleep(0.001)
        # Let a runner woken by a call that just ended cancel this sleep before time moves.
        for _ in range(10):
            await asyncio.sleep(0)
        self.clock.now = self.clock.now + timedelta(seconds=seconds)
        await asyncio.sleep(0)


@pytest.fixture
def make_runner(
    store: Store,
    run_settings: AppSettings,
    clock: FixedClock,
    dialer: LiveKitDialer,
    launcher: ScriptedLauncher,
) -> Callable[..., CampaignRunner]:
    def build(campaign: Campaign, **options: Any) -> CampaignRunner:
        time = SimulatedTime(clock)
        runner = CampaignRunner(
            store=store,
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
