"""A runner's place among the runners of a campaign: registered, renewed, released.

Several runners (processes, on one host or several) may work one campaign at once. Each one
registers a row (``campaign_runners``) and renews it every ``lease_secs / 3``. A runner whose row
was not renewed for ``lease_secs`` (or, on this host, whose process no longer exists) is dead: a
live runner adopts its open attempts (hangs their calls up and records them) and deletes its row
(see docs/campaigns.md).
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from loguru import logger

from app.call_policy import CallPolicy
from campaign.attempts import recover_attempts
from campaign.dialer import Dialer
from campaign.outcomes import RetryDelays
from config.clock import Clock
from config.settings import AppSettings
from storage import CallAttempt, Campaign, CampaignContact, Store
from storage.campaign_queue import Claim


class CampaignBusyError(Exception):
    """The campaign cannot be run (it no longer exists); the message says why, on one line."""


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class CampaignLease:
    """One runner's registration among a campaign's runners.

    Args:
        store: The database.
        settings: Application settings (``lease_secs``).
        campaign: The campaign.
        clock: Source of the current time.
        host: This machine's name.
        pid: This process's id.
        process_alive: Tells whether a process on this machine is alive.
        dialer: Hangs up the calls of adopted attempts.
        delays: The campaign's retry delays (for recording adopted attempts).
    """

    def __init__(
        self,
        *,
        store: Store,
        settings: AppSettings,
        campaign: Campaign,
        clock: Clock,
        host: str | None = None,
        pid: int | None = None,
        process_alive: Callable[[int], bool] = pid_alive,
        dialer: Dialer,
        delays: RetryDelays,
    ) -> None:
        self._store = store
        self._settings = settings
        self.campaign = campaign
        self._clock = clock
        self._host = host or socket.gethostname()
        self._pid = os.getpid() if pid is None else pid
        self._process_alive = process_alive
        self._dialer = dialer
        self._delays = delays
        self.token = uuid.uuid4().hex
        self.lost = False
        self._adopted: list[CallAttempt] = []  # adopted from dead runners, not yet recorded
        self._failing_since: datetime | None = None  # first of the claims the database failed

    async def take(self) -> None:
        """Register as one of the campaign's runners.

        Raises:
            CampaignBusyError: The campaign no longer exists.
        """
        current = await self._store.campaigns.get_by_id(campaign_id=self.campaign.id)
        if current is None:
            raise CampaignBusyError(f"campaign {self.campaign.name!r} no longer exists")
        await self._store.runners.register(
            campaign_id=self.campaign.id, token=self.token, host=self._host, pid=self._pid
        )

    async def claim(
        self, contact: CampaignContact, *, call_id: str, now: datetime, policy: CallPolicy
    ) -> Claim:
        """Claim a contact in this runner's name (every rule re-checked; see ``claim_contact``).

        A ``runner_lost`` skip means another runner took this one for dead: stop dialling.
        """
        return await self._store.queue.claim_contact(
            contact_id=contact.id,
            room=f"elo-{call_id[:16]}",
            call_id=call_id,
            campaign_cap=self.campaign.max_concurrent_calls,
            global_cap=self._settings.campaign.max_concurrent_calls,
            max_attempts=self.campaign.max_attempts,
            policy=policy.next_attempt_allowed,
            history_since=now - policy.history,
            inbound_since=now - timedelta(seconds=self._settings.pipeline.max_call_seconds),
            runner_token=self.token,
        )

    def database_failed(self, exc: Exception) -> None:
        """Note a pass the database failed (a dropped connection, a busy file): try again.

        The runner tries again on its next pass (a runner taken for dead meanwhile learns so
        from its next claim). Once the failures have lasted a whole lease the other runners
        have taken this one for dead anyway, and ``exc`` is raised.
        """
        now = self._clock()
        if self._failing_since is None:
            self._failing_since = now
        if now - self._failing_since >= timedelta(seconds=self._settings.campaign.lease_secs):
            raise exc
        logger.warning("the database failed a pass ({}); trying again", type(exc).__name__)

    def database_ok(self) -> None:
        """Note a pass the database answered."""
        self._failing_since = None

    async def holds(self, attempt: CallAttempt) -> bool:
        """Whether this runner still holds the open attempt: checked just before dialling.

        False when it was cut off from the database past its lease and another runner adopted
        and recorded the attempt meanwhile; the number must then not be dialled.
        """
        return await self._store.runners.holds(token=self.token, attempt_id=attempt.id)

    async def adopt_dead(self) -> int:
        """Adopt the open attempts of the campaign's dead runners; hang up and record them.

        Attempts whose call LiveKit could not confirm ended stay adopted and are tried again
        at the next call.

        Returns:
            How many attempts were adopted.

        Raises:
            DialerError: LiveKit could not confirm a call ended.
        """
        lease = timedelta(seconds=self._settings.campaign.lease_secs)
        runners = await self._store.runners.list(campaign_id=self.campaign.id)
        dead = [
            r.token
            for r in runners
            if r.token != self.token
            and r.host == self._host
            and r.pid != self._pid
            and not self._process_alive(r.pid)
        ]
        adopted = await self._store.runners.adopt(
            campaign_id=self.campaign.id,
            token=self.token,
            stale_before=self._clock() - lease,
            dead=dead,
        )
        if adopted:
            logger.warning("adopting {} open attempts of a stopped runner", len(adopted))
        self._adopted.extend(adopted)
        await recover_attempts(
            self._adopted,
            store=self._store,
            dialer=self._dialer,
            delays=self._delays,
            clock=self._clock,
        )
        return len(adopted)

    async def keep(self, on_lost: Callable[[], None], wake: asyncio.Event) -> None:
        """Renew the registration until cancelled, adopting dead runners' attempts each round.

        ``on_lost`` is called if another runner took this one for dead (and adopted its calls).
        ``wake`` is set after attempts were adopted (their numbers and capacity are free again)
        and whenever the database says work may be there (see :meth:`listen`).
        """
        listener = asyncio.create_task(self.listen(wake))
        try:
            await self._renew_until_lost(on_lost, wake)
        finally:
            listener.cancel()
            await asyncio.wait([listener])

    async def _renew_until_lost(self, on_lost: Callable[[], None], wake: asyncio.Event) -> None:
        interval = self._settings.campaign.lease_secs / 3
        while True:
            await asyncio.sleep(interval)
            try:
                renewed = await self._store.runners.renew(token=self.token)
                if renewed and await self.adopt_dead():
                    wake.set()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # e.g. a locked database: try again next round
                logger.warning("could not renew the campaign lease: {}", type(exc).__name__)
                continue
            if not renewed:
                self.give_up(on_lost)
                return

    def give_up(self, on_lost: Callable[[], None]) -> None:
        """Stop for good: another runner took this one for dead and adopted its calls.

        Happens to a runner cut off from the database for longer than the lease; it leaves
        its row (already deleted) and the campaign's status alone.
        """
        if not self.lost:
            logger.error("another runner took this one for dead; stopping")
        self.lost = True
        on_lost()

    async def listen(self, wake: asyncio.Event) -> None:
        """Set ``wake`` whenever the database says work may be there (PostgreSQL: any node).

        Runs until cancelled; waits on the campaign's notifications with the poll interval.
        """
        waiter = await self._store.queue.waiter(campaign_id=self.campaign.id)
        try:
            while True:
                if await waiter.wait(self._settings.campaign.poll_secs):
                    wake.set()
        finally:
            waiter.close()

    async def others_calling(self) -> bool:
        """Whether the campaign has calls in progress (this runner's or another's)."""
        return bool(await self._store.queue.open_attempts(campaign_id=self.campaign.id))

    async def release(self, *, status: str, pause_reason: str | None) -> None:
        """Leave the campaign's runners; the last one leaves the campaign ``status``."""
        if self.lost:
            return
        await self._store.runners.release(
            campaign_id=self.campaign.id,
            token=self.token,
            status=status,  # type: ignore[arg-type]
            pause_reason=pause_reason,
        )
