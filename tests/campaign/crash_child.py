"""A campaign runner process for the crash test: real store, dialer and runner; scripted talk.

Run as ``python -m tests.campaign.crash_child DB_PATH LIVEKIT_URL SECONDS``: it runs the campaign
"Crash" for at most SECONDS, each answered call lasting ``TALK_S`` of real time.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from campaign.calls import CallEnd, CallJob
from campaign.dialer import LiveKitDialer
from campaign.runner import CampaignRunner
from config.settings import load_settings
from storage import Store
from tests.campaign.conftest import API_KEY, API_SECRET, TIRANE

TALK_S = 1.0


class SlowCall:
    """Answers, talks for a while, books."""

    def __init__(self) -> None:
        self.ready = asyncio.Event()
        self.ready.set()
        self._end: asyncio.Future[CallEnd] = asyncio.get_running_loop().create_future()

    async def callee_answered(self) -> None:
        await asyncio.sleep(TALK_S)
        if not self._end.done():
            self._end.set_result(CallEnd(outcome="booked", duration_s=int(TALK_S)))

    async def cancel(self, *, reason: str) -> None:
        if not self._end.done():
            self._end.set_result(CallEnd(outcome="cancelled", reason=reason))

    async def wait(self) -> CallEnd:
        return await asyncio.shield(self._end)

    def done(self) -> bool:
        return self._end.done()


class SlowLauncher:
    async def start(self, job: CallJob) -> SlowCall:
        return SlowCall()


async def main(db_path: Path, url: str, seconds: float) -> None:
    settings = load_settings(
        env_file=None,
        database={"path": db_path},
        livekit={"url": url, "api_key": API_KEY, "api_secret": API_SECRET, "sip_trunk_id": "ST_x"},
        # Calls are allowed around the clock here: this test is about crashes, not hours.
        calling={
            "window_days": "mon,tue,wed,thu,fri,sat,sun",
            "window_intervals": "00:00-24:00",
            "skip_public_holidays": False,
        },
        campaign={"poll_secs": 0.2},
    )
    store = await Store.open(db_path, tz=TIRANE)
    dialer = LiveKitDialer.from_settings(settings)
    try:
        campaign = await store.campaigns.get(name="Crash")
        assert campaign is not None
        runner = CampaignRunner(
            store=store,
            settings=settings,
            campaign=campaign,
            dialer=dialer,
            launcher=SlowLauncher(),
        )
        await runner.run(until=datetime.now(UTC) + timedelta(seconds=seconds))
    finally:
        await dialer.aclose()
        await store.close()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2], float(sys.argv[3])))
