"""One node of the multi-node test: a real runner on PostgreSQL over TCP; quick scripted calls.

Run as ``python -m tests.campaign.multinode_child DB_URL LIVEKIT_URL NODE SECONDS TALK_S``: it
joins the campaign "Many" as host ``NODE`` (so a dead node is found by its expired lease, as
across machines) for at most SECONDS, each answered call lasting TALK_S; SIGTERM stops it like
``elo campaign run`` does.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from datetime import UTC, datetime, timedelta

from campaign.calls import CallJob
from campaign.dialer import LiveKitDialer
from campaign.runner import CampaignRunner
from config.settings import load_settings
from storage import Store
from tests.backends import PG_HASH_KEY
from tests.campaign import crash_child
from tests.campaign.conftest import API_KEY, API_SECRET, TIRANE

# Seconds an answered call lasts: quick, so 2,000 calls fit in the test's time. The node the
# test fails talks longer (FAILING_TALK_S), so it surely has calls open at that instant.
TALK_S = 0.05
FAILING_TALK_S = 0.5
# The global cap (across every campaign and node); the campaign's own cap is set on it.
GLOBAL_CAP = 8
LEASE_S = 5
# A node cut off inside a transaction keeps the others waiting this long at most (the default is
# longer; shorter here so the cut-off case fits in the test's time).
STALLED_S = 2.0


class QuickLauncher:
    """Every call answers, talks ``TALK_S`` and books (the crash test's call, shorter)."""

    async def start(self, job: CallJob) -> crash_child.SlowCall:
        return crash_child.SlowCall()


async def main(url: str, livekit_url: str, node: str, seconds: float, talk_s: float) -> None:
    crash_child.TALK_S = talk_s
    settings = load_settings(
        env_file=None,
        livekit={
            "url": livekit_url,
            "api_key": API_KEY,
            "api_secret": API_SECRET,
            "sip_trunk_id": "ST_x",
        },
        calling={
            "window_days": "mon,tue,wed,thu,fri,sat,sun",
            "window_intervals": "00:00-24:00",
            "skip_public_holidays": False,
        },
        campaign={"poll_secs": 0.5, "lease_secs": LEASE_S, "max_concurrent_calls": GLOBAL_CAP},
    )
    store = await Store.open(
        url, tz=TIRANE, hash_key=PG_HASH_KEY, pool_size=4, stalled_transaction_s=STALLED_S
    )
    dialer = LiveKitDialer.from_settings(settings)
    try:
        campaign = await store.campaigns.get(name="Many")
        assert campaign is not None
        runner = CampaignRunner(
            store=store,
            settings=settings,
            campaign=campaign,
            dialer=dialer,
            launcher=QuickLauncher(),
            host=node,
            hosts_retention=False,
        )
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, runner.stop)
        await runner.run(until=datetime.now(UTC) + timedelta(seconds=seconds))
    finally:
        await dialer.aclose()
        await store.close()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4], float(sys.argv[4]), float(sys.argv[5])))
