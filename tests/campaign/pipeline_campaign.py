"""A campaign run through the runner, the LiveKit fake and the real pipeline, for tests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from campaign.calls import Progress
from campaign.dialer import LiveKitDialer
from campaign.launcher import PipelineLauncher
from campaign.runner import CampaignRunner
from devtools.clock import SimulatedSleep
from devtools.gemini_emulator import GeminiLiveEmulator
from devtools.livekit_fake import FakeLiveKitServer
from pipeline.call.spec import CallTimeouts
from storage import Campaign, Store
from tests.campaign.conftest import API_KEY, API_SECRET
from tests.conftest import DEFAULT_NOW, FixedClock
from tests.pipeline.harness import (
    NO_GOODBYE_FALLBACK,
    NO_IDLE_END,
    call_settings,
    emulator_app,
)


async def run_pipeline_campaign(
    tmp_path: Path,
    emu: GeminiLiveEmulator,
    livekit: FakeLiveKitServer,
    store: Store,
    clinic: Any,
    clock: FixedClock,
    *,
    campaign: Campaign,
    transport: Callable[[Path], Any],
) -> Progress:
    """Run ``campaign`` for an hour of simulated time, each call on the real pipeline.

    Args:
        tmp_path: The test's folder: database, log file and recordings go here.
        emu: The running emulator the calls' Gemini service connects to.
        livekit: The running LiveKit fake the dialer talks to.
        store: The store holding ``campaign`` and its contacts.
        clinic: The clinic profile.
        clock: The fixed clock the runner, the calls and the simulated sleep share.
        campaign: The campaign to run.
        transport: Builds each call's transport from ``tmp_path``.

    Returns:
        The runner's progress.
    """
    settings = call_settings(
        tmp_path,
        emu,
        pipeline=NO_IDLE_END,
        livekit={
            "url": livekit.url,
            "api_key": SecretStr(API_KEY),
            "api_secret": SecretStr(API_SECRET),
            "sip_trunk_id": "ST_clinic",
        },
        # The fixed clock is 08:00 on a public holiday: open the window for this test.
        calling={"window_intervals": "00:00-24:00", "skip_public_holidays": False},
        campaign={"poll_secs": 3600.0},
    )
    dialer = LiveKitDialer.from_settings(settings)
    launcher = PipelineLauncher(
        emulator_app(settings, clinic, store, clock, emu),
        transport_factory=lambda job: transport(tmp_path),
        timeouts=CallTimeouts(goodbye=NO_GOODBYE_FALLBACK),
    )
    sleep = SimulatedSleep(clock)
    runner = CampaignRunner(
        store=store,
        settings=settings,
        campaign=campaign,
        dialer=dialer,
        launcher=launcher,
        clock=clock,
        sleep=sleep,
    )
    sleep.runner = runner
    try:
        return await runner.run(until=DEFAULT_NOW + timedelta(hours=1))
    finally:
        await dialer.aclose()
