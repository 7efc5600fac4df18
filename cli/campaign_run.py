"""``elo campaign run NAME``: dial a campaign's due contacts with a live progress line.

Ctrl-C once: dial no one new and let the calls in progress finish. Twice: hang up now (every
attempt is still recorded). A restart resumes where the last run stopped.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from datetime import datetime
from typing import Any, TextIO

from campaign.calls import Progress
from campaign.runner import CampaignBusyError, CampaignRunner
from config.settings import AppSettings
from tools.context import ToolMode


class UsageProblem(Exception):
    """A one-line reason the run cannot start."""


def preflight(settings: AppSettings, *, trunk_id: str | None) -> list[str]:
    """The variables (or options) still missing before a campaign can dial."""
    from pipeline.transports import missing_livekit_settings

    missing = missing_livekit_settings(settings.livekit)
    if not (trunk_id or settings.livekit.sip_trunk_id):
        missing.append("ELO_LIVEKIT__SIP_TRUNK_ID (or create the campaign with --trunk)")
    if not settings.google.api_key.get_secret_value() and settings.google.base_url is None:
        missing.append("ELO_GOOGLE__API_KEY")
    return missing


class ProgressLine:
    """Shows the runner's progress: one rewritten line on a terminal, plain lines otherwise."""

    def __init__(self, stream: TextIO, *, tz: Any) -> None:
        self._stream = stream
        self._tty = stream.isatty()
        self._tz = tz
        self._last = ""

    def __call__(self, progress: Progress) -> None:
        """Show the progress if it changed."""
        text = self.render(progress)
        if text == self._last:
            return
        self._last = text
        if self._tty:
            self._stream.write("\r\x1b[2K" + text)
        else:
            self._stream.write(text + "\n")
        self._stream.flush()

    def render(self, progress: Progress) -> str:
        """The progress as one line (counts only, no patient data)."""
        parts = [
            f"dialled {progress.dialled}",
            f"answered {progress.answered}",
            f"booked {progress.booked}",
            f"in call {progress.active}",
            f"remaining {progress.remaining}",
        ]
        if progress.state == "waiting" and progress.waiting_until is not None:
            parts.append(f"next call {_local(progress.waiting_until, self._tz)}")
        elif progress.state not in ("calling", "waiting"):
            parts.append(progress.state)
        return " | ".join(parts)

    def close(self) -> None:
        """End the rewritten line."""
        if self._tty and self._last:
            self._stream.write("\n")
            self._stream.flush()


def _local(moment: datetime, tz: Any) -> str:
    return moment.astimezone(tz).strftime("%a %H:%M")


async def run_campaign(
    settings: AppSettings, name: str, *, until: datetime | None = None
) -> dict[str, Any]:
    """Run a campaign from the command line until it is done, stopped or ``until``.

    Raises:
        UsageProblem: Unknown campaign, missing configuration, or another runner holds it.
    """
    from campaign.dialer import DialerError, LiveKitDialer
    from campaign.launcher import PipelineLauncher
    from cli.runtime import open_context
    from tools.catalog import default_registry

    async with open_context(settings, mode=ToolMode.ADMIN) as ctx:
        campaign = await ctx.store.campaigns.get(name=name)
        if campaign is None:
            raise UsageProblem(f"no campaign named {name!r}")
        missing = preflight(settings, trunk_id=campaign.sip_trunk_id)
        if missing:
            raise UsageProblem(f"set {', '.join(missing)} (see .env.example)")
        try:
            dialer = LiveKitDialer.from_settings(settings)
        except DialerError as exc:
            raise UsageProblem(str(exc)) from None
        display = ProgressLine(sys.stderr, tz=ctx.clinic.tz)
        runner = CampaignRunner(
            store=ctx.store,
            settings=settings,
            campaign=campaign,
            dialer=dialer,
            launcher=PipelineLauncher(
                settings=settings, clinic=ctx.clinic, store=ctx.store, registry=default_registry()
            ),
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
        status = await ctx.store.campaigns.status(campaign_id=campaign.id)
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
