"""The service's campaign supervisor: runs every active campaign with the existing runner.

Every ``poll_secs`` it reads the campaigns staff started (``store.campaigns.for_service``) and
starts a :class:`campaign.runner.CampaignRunner` for each one not running yet; a campaign paused
or stopped meanwhile has its runner told to stop dialling (its calls in progress finish). The
runner keeps its own rules: caps counted across every runner of the campaign (each node, and any
``elo campaign run``, works it at once), calling windows, retries and adopting a dead runner's
calls. On PostgreSQL a campaign started on any node wakes every node's supervisor at once.

When a runner ends by itself the supervisor decides what next: a campaign the fault breaker or a
refused set-up stopped is paused for staff (with the reason); one with nothing left to call for
now is looked at again after ``retry_secs``.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from loguru import logger

from app.application import Application
from campaign.calls import CallLauncher
from campaign.dialer import Dialer, DialerError
from campaign.lease import CampaignBusyError
from campaign.runner import CampaignRunner
from service.campaign_progress import CampaignProgressFeed
from service.confirmations import ConfirmationFiller
from service.live_calls import LiveCallBoard
from service.live_tracking import TrackedLauncher
from service.readiness import Check
from storage import Campaign
from storage.retention import retention_task

# Runner end states that need staff: the campaign is paused with the runner's reason.
_NEEDS_STAFF = ("fault_pause", "configuration_error")


@dataclass
class _Running:
    runner: CampaignRunner
    task: asyncio.Task[None] = field(init=False)


class CampaignSupervisor:
    """Starts and stops campaign runners as staff start, pause, resume and stop campaigns.

    Args:
        app: The open application.
        dialer: Places the calls (LiveKit SIP), shared by every runner.
        launcher: Starts the voice pipeline of each call.
        poll_secs: How often to read which campaigns should run.
        retry_secs: How long to leave a campaign that could not run (held by another process,
            nothing to call for now, an error) before trying again.
        live: The board of calls in progress, which shows the runners' calls (None: none).
        progress: The campaigns' live progress, told of each runner's change (None: none).
    """

    def __init__(
        self,
        *,
        app: Application,
        dialer: Dialer,
        launcher: CallLauncher,
        poll_secs: float,
        retry_secs: float = 60.0,
        live: LiveCallBoard | None = None,
        progress: CampaignProgressFeed | None = None,
    ) -> None:
        self._app = app
        self._dialer = dialer
        self._launcher = launcher
        self._poll_secs = poll_secs
        self._retry_secs = retry_secs
        self._live = live
        self._progress = progress
        self._running: dict[int, _Running] = {}
        self._not_before: dict[int, float] = {}
        self._wake = asyncio.Event()
        self._stopping = False
        self.last_tick: float | None = None
        self.last_error: str | None = None

    @property
    def active_calls(self) -> int:
        """Calls in progress across every campaign."""
        return sum(running.runner.active for running in self._running.values())

    @property
    def running_campaigns(self) -> list[int]:
        """Ids of the campaigns with a runner now."""
        return sorted(self._running)

    @property
    def draining(self) -> bool:
        """Whether the supervisor was told to dial no one new (a stop is under way)."""
        return self._stopping

    def check(self) -> Check:
        """The readiness check of the supervisor's loop: alive, recent, not draining."""
        if self._stopping:
            return Check("campaign_supervisor", False, "stopping: no new calls are placed")
        if self.last_tick is None:
            return Check("campaign_supervisor", False, "not started yet")
        age = time.monotonic() - self.last_tick
        # A round can wait on a busy database for a while; three missed rounds is stuck.
        if age > 3 * self._poll_secs + 30:
            return Check("campaign_supervisor", False, f"no round for {age:.0f} s")
        if self.last_error is not None:
            return Check("campaign_supervisor", False, f"the last round failed: {self.last_error}")
        running = len(self._running)
        return Check(
            "campaign_supervisor",
            True,
            f"{running} campaign(s) running, {self.active_calls} call(s) in progress",
        )

    async def run(self) -> None:
        """Supervise until :meth:`stop_dialling`; hosts the retention purge meanwhile."""
        retention = asyncio.create_task(retention_task(self._app.store, self._app.settings))
        # The confirmations campaign is filled beside the runs; a round that adds calls wakes
        # the loop so they start without waiting for the next poll.
        confirmations = asyncio.create_task(
            ConfirmationFiller(self._app, on_added=self._wake.set).run()
        )
        listener = asyncio.create_task(self._listen())
        try:
            while not self._stopping:
                self._wake.clear()
                try:
                    await self._tick()
                    self.last_error = None
                except Exception as exc:  # e.g. a locked database: the next round tries again
                    self.last_error = type(exc).__name__
                    logger.warning("campaign supervisor: {}", self.last_error)
                self.last_tick = time.monotonic()
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=self._poll_secs)
                except TimeoutError:
                    pass
        finally:
            for task in (retention, confirmations, listener):
                task.cancel()
            await asyncio.wait([retention, confirmations, listener])

    async def _listen(self) -> None:
        """Wake the loop when a campaign is started or changed (PostgreSQL: on any node)."""
        waiter = await self._app.store.queue.waiter()
        try:
            while True:
                if await waiter.wait(self._poll_secs):
                    self._wake.set()
        finally:
            waiter.close()

    def stop_dialling(self) -> None:
        """Start no runner and no call from now on; calls in progress go on."""
        self._stopping = True
        self._wake.set()
        for running in self._running.values():
            running.runner.stop()

    async def drain(self, *, timeout_s: float) -> int:
        """Stop dialling, let calls finish for ``timeout_s``, then hang up the rest.

        Returns when every runner has recorded its attempts and released its campaign.

        Returns:
            How many calls were still in progress at the deadline and were hung up.
        """
        self.stop_dialling()
        tasks = [running.task for running in self._running.values()]
        if not tasks:
            return 0
        _, pending = await asyncio.wait(tasks, timeout=timeout_s)
        hung_up = 0
        if pending:
            hung_up = await self.hang_up_all()
            await asyncio.wait(pending)
        return hung_up

    async def hang_up_all(self) -> int:
        """End every call in progress now (each attempt is still recorded); returns how many."""
        self.stop_dialling()
        calls = self.active_calls
        for running in list(self._running.values()):
            await running.runner.hang_up_all()
        return calls

    async def _tick(self) -> None:
        wanted = {c.id: c for c in await self._app.store.campaigns.for_service()}
        for campaign_id, running in self._running.items():
            if campaign_id not in wanted:
                logger.info("campaign {}: no longer active; stopping its runner", campaign_id)
                running.runner.stop()
        now = time.monotonic()
        for campaign_id, campaign in wanted.items():
            if self._stopping:
                return
            if campaign_id in self._running or self._not_before.get(campaign_id, 0.0) > now:
                continue
            self._start(campaign)

    def _start(self, campaign: Campaign) -> None:
        launcher = self._launcher
        if self._live is not None:
            # The runner's own cancel stops a ringing call's dial when staff end it.
            launcher = TrackedLauncher(launcher, self._live, lambda a: runner.cancel_call(a))
        progress = self._progress
        runner = CampaignRunner(
            store=self._app.store,
            settings=self._app.settings,
            campaign=campaign,
            dialer=self._dialer,
            launcher=launcher,
            clock=self._app.clock,
            on_progress=None if progress is None else lambda _: progress.poke(campaign.id),
            hosts_retention=False,
        )
        running = _Running(runner)
        running.task = asyncio.create_task(self._run_one(runner))
        self._running[campaign.id] = running
        logger.info("campaign {}: runner started", campaign.id)

    async def _run_one(self, runner: CampaignRunner) -> None:
        campaign_id = runner.campaign.id
        retry = True
        try:
            progress = await runner.run()
        except CampaignBusyError:
            logger.info("campaign {}: no longer exists", campaign_id)
        except DialerError as exc:
            logger.warning("campaign {}: cannot resume safely: {}", campaign_id, exc)
        except Exception as exc:  # one campaign's failure never stops the others
            logger.error("campaign {}: runner failed: {}", campaign_id, type(exc).__name__)
        else:
            logger.info("campaign {}: runner ended: {}", campaign_id, progress.state)
            if progress.state in _NEEDS_STAFF:
                await self._pause_for_staff(campaign_id, runner.problem or progress.state)
            # Stopped by a pause, a stop or the lease lost: the next round decides.
            retry = progress.state != "stopped"
        finally:
            self._running.pop(campaign_id, None)
        if retry:
            self._not_before[campaign_id] = time.monotonic() + self._retry_secs

    async def _pause_for_staff(self, campaign_id: int, reason: str) -> None:
        try:
            await self._app.store.campaigns.set_service_state(
                campaign_id=campaign_id,
                to="paused",
                allowed_from=frozenset({"active"}),
                pause_reason=reason,
            )
        except Exception as exc:  # the runner stays stopped; retried after retry_secs
            logger.error("campaign {}: could not pause: {}", campaign_id, type(exc).__name__)
        else:
            logger.warning("campaign {}: paused for staff: {}", campaign_id, reason)
