"""The campaign runner: dial due contacts within the rules, one isolated task per call.

Several runners (one host or several) may work one campaign at once (campaign/lease.py). Each
contact is claimed in a write transaction that opens its attempt before anything is dialled (caps
counted across all runners), so a crash leaves an open attempt (never a lost one) that a live
runner adopts, hangs up and records. The unique index on open attempts per number keeps one
number out of two calls at once. Per call: create the room, start the voice pipeline in it (no
word of the callee is lost), dial with SIP, then greet (answered) or cancel the pipeline.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from loguru import logger

from app.call_policy import CallPolicy
from app.calling_rules import CampaignRules
from campaign import calls
from campaign.attempts import AttemptEnd, record_attempt, settle_from_call
from campaign.breaker import FaultBreaker
from campaign.calls import CallJob, CallLauncher, LiveCall, Progress
from campaign.dialer import Dialer, DialerError, DialRequest
from campaign.lease import CampaignLease, pid_alive
from campaign.outcomes import RetryDelays
from campaign.planner import next_wake, plan_batch
from config.clock import Clock, system_clock
from config.settings import AppSettings
from storage import CallAttempt, Campaign, CampaignContact, Store
from storage.campaign_queue import NOT_DIALLED
from storage.retention import purge_logged, retention_task

# Seconds the pipeline may take to join the room before the attempt fails.
READY_TIMEOUT_S = 30.0
# Seconds a cancelled pipeline gets to end before its attempt is recorded anyway.
STOP_TIMEOUT_S = 5.0
# Seconds an empty room lives on at LiveKit after a crash (it is deleted after each call anyway).
ROOM_EMPTY_TIMEOUT_S = 120
# Shortest idle wait: a due contact that cannot be claimed is not retried in a tight loop.
MIN_IDLE_S = 1.0


class CampaignRunner:
    """Runs one campaign until it is done, stopped, or ``until``.

    Args:
        store: The database.
        settings: Application settings.
        campaign: The campaign to run.
        dialer: Places and ends calls (LiveKit SIP).
        launcher: Starts the voice pipeline for a call.
        clock: Source of the current time.
        sleep: Waits a number of seconds (a simulation advances its clock instead).
        on_progress: Called with the progress after every change.
        host: This machine's name and ``pid`` its process id, registered with the runners.
        process_alive: Tells whether a process on this machine is alive (a dead runner's calls
            are adopted at once instead of after ``lease_secs``).
        hosts_retention: Run the retention purge while running (False where the host process,
            the service, runs it once for all campaigns).
    """

    def __init__(
        self,
        *,
        store: Store,
        settings: AppSettings,
        campaign: Campaign,
        dialer: Dialer,
        launcher: CallLauncher,
        clock: Clock = system_clock,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        on_progress: Callable[[Progress], None] | None = None,
        host: str | None = None,
        pid: int | None = None,
        process_alive: Callable[[int], bool] = pid_alive,
        hosts_retention: bool = True,
    ) -> None:
        self._store = store
        self._settings = settings
        self.campaign = campaign
        self._dialer = dialer
        self._launcher = launcher
        self._clock = clock
        self._sleep = sleep
        self._on_progress = on_progress
        self._hosts_retention = hosts_retention
        self.policy = CallPolicy(
            store=store,
            limits=settings.limits,
            rules=CampaignRules.for_campaign(campaign, settings),
            clock=clock,
        )
        self._delays = RetryDelays.build(settings.campaign, campaign.retry_delays)
        self._lease = CampaignLease(
            store=store,
            settings=settings,
            campaign=campaign,
            clock=clock,
            host=host,
            pid=pid,
            process_alive=process_alive,
            dialer=dialer,
            delays=self._delays,
        )
        self.progress = Progress()
        self._calls: dict[int, asyncio.Task] = {}
        self._live: dict[int, LiveCall] = {}
        self._wake = asyncio.Event()
        self._stopping = False
        self.problem: str | None = None
        self._breaker = FaultBreaker(settings.campaign)
        self.pause_reason: str | None = None  # why the fault breaker paused the campaign

    @property
    def active(self) -> int:
        """Calls in progress."""
        return len(self._calls)

    def stop(self) -> None:
        """Dial no one new; the calls in progress finish normally, then :meth:`run` returns."""
        self._stopping = True
        self._wake.set()

    def cancel_call(self, attempt_id: int) -> bool:
        """Stop one call's task (its dial too); it is still recorded. False if not running."""
        task = self._calls.get(attempt_id)
        return task is not None and task.cancel()

    async def hang_up_all(self) -> None:
        """Stop at once: end every call in progress (each is still recorded)."""
        self.stop()
        for attempt_id, task in list(self._calls.items()):
            live = self._live.get(attempt_id)
            if live is not None:
                await live.cancel(reason="the campaign was stopped")
            # A pipeline still joining ends by itself (nothing dialled); past that, cancel.
            if live is None or live.ready.is_set():
                task.cancel()

    async def run(self, *, until: datetime | None = None) -> Progress:
        """Run the campaign.

        Args:
            until: Stop dialling at this time (the calls in progress still finish).

        Returns:
            The final progress; ``state`` is ``done`` (every contact finished), ``stopped``,
            ``until``, ``no_calling_time``, ``configuration_error`` (LiveKit refused the set-up;
            :attr:`problem` says how) or ``fault_pause`` (the fault breaker tripped;
            :attr:`pause_reason` says why, also stored as the campaign's ``pause_reason``).

        Raises:
            CampaignBusyError: The campaign no longer exists.
            DialerError: Calls left open by a crashed runner could not be confirmed ended.
        """
        await self._lease.take()
        final_status = "paused"
        heartbeat: asyncio.Task | None = None
        # Storage limitation when the runner is the long-running process: purge now, then daily.
        retention = asyncio.create_task(self._keep_retention())
        try:
            if self._hosts_retention:
                await purge_logged(self._store, self._settings)
            await self._lease.adopt_dead()
            heartbeat = asyncio.create_task(self._lease.keep(self.stop, self._wake))
            final_status = await self._loop(until)
        finally:
            # A purge or recovery in progress rolls back before the runner leaves.
            tasks = [t for t in (heartbeat, retention) if t is not None]
            for task in tasks:
                task.cancel()
            await asyncio.wait(tasks)
            if self._calls:
                await asyncio.gather(*self._calls.values(), return_exceptions=True)
            self.progress.active = 0
            self.progress.remaining = await self._store.queue.count_queued(
                campaign_id=self.campaign.id
            )
            await self._lease.release(status=final_status, pause_reason=self.pause_reason)
            self._report()
        return self.progress

    async def _keep_retention(self) -> None:
        if self._hosts_retention:
            await retention_task(self._store, self._settings, purge_now=False)

    async def _loop(self, until: datetime | None) -> str:
        store, campaign, idle_before = self._store, self.campaign, False
        while not self._stopping:
            # Cleared before looking, so a call ending while this pass runs still wakes the wait.
            self._wake.clear()
            now = self._clock()
            if until is not None and now >= until:
                self.progress.state = "until"
                return "paused"
            try:
                started = await self._dial_due(now)
                remaining = await store.queue.count_queued(campaign_id=campaign.id)
                wake = await next_wake(store, campaign, self.policy.rules, now=now)
                # Other runners' calls may make more due; a call just ended gets one more pass.
                idle = wake is None and not self._calls and not await self._lease.others_calling()
                self._lease.database_ok()
            except sqlite3.OperationalError as exc:  # e.g. the connection dropped mid-pass
                self._lease.database_failed(exc)
                await calls.wake_or_sleep(self._sleep, self._wake, MIN_IDLE_S)
                continue
            self.progress.remaining = remaining
            if remaining == 0 and not self._calls:
                self.progress.state = "done"
                return "done"
            if idle and idle_before:
                self.progress.state = "no_calling_time"
                return "paused"
            if idle_before := idle:
                continue
            poll = self._settings.campaign.poll_secs
            delay = poll if wake is None else (wake - now).total_seconds()
            if not started:
                delay = max(delay, MIN_IDLE_S)
            if len(self._calls) >= self.campaign.max_concurrent_calls:
                # Only a call ending can free a slot, and that wakes the wait.
                delay = poll
            delay = min(delay, poll)
            if until is not None:
                delay = max(0.0, min(delay, (until - now).total_seconds()))
            # The earliest possible next call (a window opening, a retry falling due), which
            # may lie beyond this wait: the runner also looks again every poll_secs.
            self.progress.waiting_until = wake if not started and not self._calls else None
            self.progress.state = "calling" if self._calls else "waiting"
            self._report()
            if not self._stopping:
                await calls.wake_or_sleep(self._sleep, self._wake, delay)
        if self.pause_reason is not None:
            self.progress.state = "fault_pause"
        else:
            self.progress.state = "stopped" if self.problem is None else "configuration_error"
        return "paused"

    async def _dial_due(self, now: datetime) -> int:
        """Claim and start calls for due contacts while the caps allow; returns how many."""
        free = self.campaign.max_concurrent_calls - len(self._calls)
        if free <= 0:
            return 0
        batch = await plan_batch(
            self._store, self.campaign, self.policy.rules, now=now, limit=free * 2
        )
        started = 0
        for contact in batch:
            if started >= free or self._stopping:
                break
            call_id = uuid.uuid4().hex
            claim = await self._lease.claim(contact, call_id=call_id, now=now, policy=self.policy)
            if claim.skipped == "runner_lost":
                self._lease.give_up(self.stop)
            if claim.skipped in ("global_cap", "campaign_cap", "runner_lost"):
                break
            if claim.attempt is None:
                continue
            attempt = claim.attempt
            self._calls[attempt.id] = asyncio.create_task(self._call(contact, attempt, call_id))
            started += 1
        self.progress.active = len(self._calls)
        return started

    async def _call(self, contact: CampaignContact, attempt: CallAttempt, call_id: str) -> None:
        """One call, isolated: whatever happens, the attempt is recorded and the room closed."""
        room = attempt.room or f"elo-{call_id[:16]}"
        # Until the dial starts nothing has reached the patient: such an attempt does not count
        # against the attempt caps (see CampaignQueue.claim_contact).
        end = AttemptEnd()
        live: LiveCall | None = None
        try:
            await self._dialer.create_room(
                room=room,
                metadata=json.dumps({"campaign": self.campaign.id, "attempt": attempt.id}),
                empty_timeout_s=ROOM_EMPTY_TIMEOUT_S,
            )
            job = CallJob(
                campaign=self.campaign,
                contact=contact,
                attempt=attempt,
                call_id=call_id,
                room=room,
                participant_identity=f"patient-{attempt.id}",
                dialer=self._dialer,
            )
            live = await self._launcher.start(job)
            self._live[attempt.id] = live
            await calls.wait_until_ready(live, timeout_s=READY_TIMEOUT_S)
            if not await self._lease.holds(attempt):
                return  # cut off past the lease meanwhile: another runner recorded it
            self.progress.dialled += 1
            self._report()
            # From here the number may ring: the attempt counts, whatever happens next.
            end.sip_status = None
            request = DialRequest.for_attempt(
                self._settings.livekit,
                self.campaign,
                contact,
                room=room,
                participant_identity=job.participant_identity,
            )
            result = await self._dialer.dial(request)
            end.sip_status, end.fault = result.sip_status, result.fault
            self._count_dial(result.fault)
            if not result.answered:
                await live.cancel(reason=f"not answered ({result.sip_status or 'no status'})")
                await live.wait()
                end.outcome, end.permanent = result.outcome or "no_answer", result.permanent
            else:
                self.progress.answered += 1
                await live.callee_answered()
                call_end = await live.wait()
                end.duration_s = call_end.duration_s
                await settle_from_call(
                    end,
                    self._store,
                    call_id=call_id,
                    phone=contact.phone,
                    now=self._clock(),
                    call_outcome=call_end.outcome,
                )
        except DialerError as exc:
            logger.warning("attempt {}: dialing failed: {}", attempt.id, exc)
            if end.sip_status != NOT_DIALLED:
                # LiveKit unreachable, 5xx, a timeout or a refused set-up once the dial was
                # sent: the system's fault, never the patient's (campaign.sip_outcomes).
                end.fault = str(exc)
                if not exc.configuration:
                    self._count_dial(end.fault)
            if exc.configuration and self.problem is None:
                # Every further call would fail the same way and only burn attempts.
                self.problem = str(exc)
                self.stop()
        except asyncio.CancelledError:
            logger.info("attempt {}: stopped", attempt.id)
        except Exception as exc:  # one broken call must never stop the campaign
            logger.error("attempt {}: call failed: {}", attempt.id, type(exc).__name__)
        finally:
            finish = asyncio.ensure_future(self._finish(attempt, live, room, end))
            # This task ends only once the attempt is recorded, even if it is cancelled (again)
            # meanwhile: whoever waits for it (run(), at exit) then knows the store is done.
            while not finish.done():
                # A completion the database kept failing was logged (record_attempt).
                with contextlib.suppress(asyncio.CancelledError, sqlite3.Error):
                    await asyncio.shield(finish)

    async def _finish(
        self, attempt: CallAttempt, live: LiveCall | None, room: str, end: AttemptEnd
    ) -> None:
        try:
            if live is not None and not live.done():
                await live.cancel(reason="the call attempt ended")
                # A pipeline still joining its room only stops when the join gives up; the
                # attempt is recorded without waiting for that.
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(live.wait(), timeout=STOP_TIMEOUT_S)
            try:
                await self._dialer.hang_up(room=room)
            except DialerError as exc:
                logger.warning("attempt {}: could not close the room: {}", attempt.id, exc)
            if not await record_attempt(
                self._store, attempt, end=end, now=self._clock(), delays=self._delays
            ):
                return  # adopted meanwhile: the adopter records and counts it
            self.progress.outcomes[end.outcome] += 1
            if end.outcome == "booked":
                self.progress.booked += 1
            logger.info("attempt {} ended: {}", attempt.id, end.outcome)
        finally:
            self._calls.pop(attempt.id, None)
            self._live.pop(attempt.id, None)
            self.progress.active = len(self._calls)
            self._wake.set()
            self._report()

    def _count_dial(self, fault: str | None) -> None:
        """Feed the fault breaker; when it trips, stop dialling with a reason for staff."""
        reason = self._breaker.record(self._clock(), fault)
        if reason is None:
            return
        self.pause_reason = reason
        logger.error("campaign {}: {}", self.campaign.id, reason)
        if self.problem is None:
            self.problem = reason
        self.stop()

    def _report(self) -> None:
        if self._on_progress is not None:
            self._on_progress(self.progress)
