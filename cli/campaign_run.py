"""``elo campaign run NAME``: dial a campaign's due contacts with a live progress line.

Ctrl-C once: dial no one new and let the calls in progress finish. Twice: hang up now (every
attempt is still recorded). A restart resumes where the last run stopped.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from datetime import datetime
from typing import Any

from app.preflight import Purpose, missing_settings
from campaign.lease import CampaignBusyError
from campaign.progress_line import ProgressLine
from campaign.runner import CampaignRunner
from config.settings import AppSettings

# A campaign created with --trunk needs no configured trunk: say so where the trunk is missing.
_TRUNK_HINT = {
    "ELO_LIVEKIT__SIP_TRUNK_ID": "ELO_LIVEKIT__SIP_TRUNK_ID (or create the campaign with --trunk)"
}


class UsageProblem(Exception):
    """A one-line reason the run cannot start."""


async def run_campaign(
    settings: AppSettings, name: str, *, until: datetime | None = None
) -> dict[str, Any]:
    """Run a campaign from the command line until it is done, stopped or ``until``.

    Raises:
        UsageProblem: Unknown campaign, missing configuration, or another runner holds it.
    """
    from app.application import open_application
    from campaign.dialer import DialerError, LiveKitDialer
    from campaign.launcher import PipelineLauncher

    async with open_application(settings) as app:
        campaign = await app.store.campaigns.get(name=name)
        if campaign is None:
            raise UsageProblem(f"no campaign named {name!r}")
        if campaign.service_state == "stopped":
            raise UsageProblem(f"campaign {name!r} was stopped and is never dialled again")
        missing = missing_settings(
            settings, purpose=Purpose.CAMPAIGN, trunk_id=campaign.sip_trunk_id
        )
        if missing:
            named = [_TRUNK_HINT.get(variable, variable) for variable in missing]
            raise UsageProblem(f"set {', '.join(named)} (see .env.example)")
        try:
            dialer = LiveKitDialer.from_settings(settings)
        except DialerError as exc:
            raise UsageProblem(str(exc)) from None
        display = ProgressLine(sys.stderr, tz=app.clinic.tz)
        runner = CampaignRunner(
            store=app.store,
            settings=settings,
            campaign=campaign,
            dialer=dialer,
            launcher=PipelineLauncher(app),
            on_progress=display,
        )
        restore = _handle_interrupts(runner)
        try:
            progress = await runner.run(until=until)
        except CampaignBusyError as exc:
            raise UsageProblem(str(exc)) from None
        except DialerError as exc:
            raise UsageProblem(f"cannot resume safely: {exc}") from None
        finally:
            restore()
            display.close()
            await dialer.aclose()
        if runner.problem is not None:
            raise UsageProblem(f"stopped: {runner.problem}")
        status = await app.store.campaigns.status(campaign_id=campaign.id)
    return {
        "campaign": name,
        "ended": progress.state,
        "this_run": {
            "dialled": progress.dialled,
            "answered": progress.answered,
            "booked": progress.booked,
            "outcomes": dict(progress.outcomes),
        },
        "status": status.model_dump(mode="json"),
    }


def _handle_interrupts(runner: CampaignRunner) -> Any:
    """First Ctrl-C stops dialling, the second hangs up; returns a function undoing this."""
    loop = asyncio.get_running_loop()
    presses = 0
    pending: set[asyncio.Task] = set()

    def interrupted() -> None:
        nonlocal presses
        presses += 1
        if presses == 1:
            print(
                f"\nelo: stopping: no new calls; {runner.active} in progress will finish"
                " (Ctrl-C again to hang up now)",
                file=sys.stderr,
            )
            runner.stop()
        else:
            print("\nelo: hanging up the calls in progress", file=sys.stderr)
            task = loop.create_task(runner.hang_up_all())
            pending.add(task)
            task.add_done_callback(pending.discard)

    try:
        loop.add_signal_handler(signal.SIGINT, interrupted)
        loop.add_signal_handler(signal.SIGTERM, runner.stop)
    except (NotImplementedError, RuntimeError):  # not the main thread, or no signals here
        return lambda: None

    def restore() -> None:
        loop.remove_signal_handler(signal.SIGINT)
        loop.remove_signal_handler(signal.SIGTERM)

    return restore
