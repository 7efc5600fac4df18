"""The calls in progress, for the dashboard: the board implementing ``app.live.LiveCalls``.

Whoever runs a call tells the board (:class:`CallTracker`): the campaign supervisor through
:class:`service.live_tracking.TrackedLauncher`, inbound calls through :class:`service.inbound.
InboundCalls` in this process or :class:`service.workers.WorkerPool` for worker processes. Each
call registers with the way to end it, so :meth:`LiveCallBoard.end` works wherever it runs.

Publishing never waits: each subscriber has a bounded queue, and one that falls behind is
emptied and told to take a fresh snapshot (a call never waits for a slow browser).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Protocol

from loguru import logger

from app.live import ENDED_BY_STAFF, ActiveCall, LiveCallEvent
from config.clock import Clock, system_clock
from storage.audit import AuditTrail
from storage.models import CallDirection
from validation.phone import mask_phone

# Events a subscriber may have waiting before it is resynchronised with a snapshot.
QUEUE_SIZE = 100

Ender = Callable[[str], Awaitable[None]]
"""Ends one call with the given reason (it is still recorded)."""


class CallTracker(Protocol):
    """Where the code that runs calls reports them (the board, or a worker's pipe)."""

    def started(self, call: ActiveCall, *, end: Ender) -> None:
        """A call started; ``end(reason)`` hangs it up."""

    def answered(self, call_id: str) -> None:
        """The call's line is up."""

    def ended(self, call_id: str) -> None:
        """The call is over."""


def active_call(
    clock: Clock,
    *,
    call_id: str,
    direction: CallDirection,
    phone: str | None,
    campaign_id: int | None = None,
    worker: int | None = None,
) -> ActiveCall:
    """A call starting now, ringing; its number is masked here and kept nowhere in full."""
    return ActiveCall(
        call_id=call_id,
        direction=direction,
        campaign_id=campaign_id,
        started_at=clock(),
        answered=False,
        phone_masked=None if phone is None else mask_phone(phone),
        worker=worker,
    )


class _Subscriber:
    """One reader of the changes: a bounded queue and a flag for what it missed."""

    def __init__(self) -> None:
        self.queue: deque[LiveCallEvent] = deque()
        self.behind = True  # the first thing it reads is a snapshot
        self.wake = asyncio.Event()

    def put(self, event: LiveCallEvent) -> None:
        if self.behind:
            return  # a snapshot comes next anyway
        if len(self.queue) >= QUEUE_SIZE:
            self.queue.clear()
            self.behind = True
        else:
            self.queue.append(event)
        self.wake.set()


class LiveCallBoard:
    """The calls in progress in this service, wherever they run (``app.live.LiveCalls``).

    Args:
        clock: When calls start.
        audit: The audit trail a staff hang-up is written to (None: not written).
        on_change: Told the campaign id (or None) of every change, e.g. to refresh its progress.
    """

    def __init__(
        self,
        *,
        clock: Clock = system_clock,
        audit: AuditTrail | None = None,
        on_change: Callable[[int | None], None] | None = None,
    ) -> None:
        self._clock = clock
        self._audit = audit
        self._on_change = on_change
        self._calls: dict[str, ActiveCall] = {}
        self._enders: dict[str, Ender] = {}
        self._subscribers: set[_Subscriber] = set()

    def call(
        self,
        *,
        call_id: str,
        direction: CallDirection,
        phone: str | None,
        campaign_id: int | None = None,
        worker: int | None = None,
    ) -> ActiveCall:
        """An :class:`ActiveCall` starting now (see :func:`active_call`)."""
        return active_call(
            self._clock,
            call_id=call_id,
            direction=direction,
            phone=phone,
            campaign_id=campaign_id,
            worker=worker,
        )

    # CallTracker -------------------------------------------------------------------------

    def started(self, call: ActiveCall, *, end: Ender) -> None:
        """A call started (a second report of the same call changes nothing)."""
        if call.call_id in self._calls:
            return
        self._calls[call.call_id] = call
        self._enders[call.call_id] = end
        self._publish(LiveCallEvent(kind="started", call=call))

    def answered(self, call_id: str) -> None:
        """The call's line is up."""
        call = self._calls.get(call_id)
        if call is None or call.answered:
            return
        call = self._calls[call_id] = call.model_copy(update={"answered": True})
        self._publish(LiveCallEvent(kind="answered", call=call))

    def ended(self, call_id: str) -> None:
        """The call is over."""
        call = self._calls.pop(call_id, None)
        self._enders.pop(call_id, None)
        if call is not None:
            self._publish(LiveCallEvent(kind="ended", call=call))

    # LiveCalls ---------------------------------------------------------------------------

    def snapshot(self) -> list[ActiveCall]:
        """Every call in progress now, oldest first."""
        return sorted(self._calls.values(), key=lambda c: (c.started_at, c.call_id))

    async def end(self, call_id: str, *, by: str) -> bool:
        """Hang up one call in progress (see ``app.live.LiveCalls.end``)."""
        call, ender = self._calls.get(call_id), self._enders.get(call_id)
        if call is None or ender is None:
            return False
        if self._audit is not None:
            detail = {"direction": call.direction.value, "answered": call.answered}
            if call.campaign_id is not None:
                detail["campaign_id"] = call.campaign_id
            await self._audit.record(actor=by, action="call.end", subject=call_id, detail=detail)
        logger.info("call {}: hung up by staff", call_id)
        await ender(ENDED_BY_STAFF)
        return True

    async def subscribe(self) -> AsyncIterator[LiveCallEvent]:
        """The changes from now on, starting with a snapshot (see ``app.live.LiveCalls``)."""
        subscriber = _Subscriber()
        self._subscribers.add(subscriber)
        try:
            while True:
                if subscriber.behind:
                    subscriber.behind = False
                    subscriber.queue.clear()
                    yield LiveCallEvent(kind="snapshot", calls=tuple(self.snapshot()))
                    continue
                if not subscriber.queue:
                    subscriber.wake.clear()
                    await subscriber.wake.wait()
                    continue
                yield subscriber.queue.popleft()
        finally:
            self._subscribers.discard(subscriber)

    @property
    def subscribers(self) -> int:
        """How many readers follow the changes now."""
        return len(self._subscribers)

    def _publish(self, event: LiveCallEvent) -> None:
        for subscriber in self._subscribers:
            subscriber.put(event)
        if self._on_change is not None and event.call is not None:
            self._on_change(event.call.campaign_id)
