"""Campaign calls on the live board: a launcher that reports the calls it starts.

:class:`TrackedLauncher` wraps the service's launcher (in this process or the worker pool) for
one campaign runner. The runner stays as it is: it sees a launcher and the calls it starts;
the board sees each call start, its line go up (the runner tells the call to greet) and end.

Staff ending a call: once answered, the pipeline is stopped with the staff reason and the runner
records the attempt from what the call did, as after any call. While it still rings (or the
pipeline is joining its room), the runner's task for the call is cancelled too, which stops the
dial, closes the room and records the attempt.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from campaign.calls import CallEnd, CallJob, CallLauncher, LiveCall
from service.live_calls import CallTracker, LiveCallBoard
from storage.models import CallDirection


class TrackedCall:
    """A campaign call whose changes reach the board (a :class:`campaign.calls.LiveCall`)."""

    def __init__(
        self, live: LiveCall, *, call_id: str, tracker: CallTracker, stop_task: Callable[[], bool]
    ) -> None:
        self._live = live
        self._call_id = call_id
        self._tracker = tracker
        self._stop_task = stop_task
        self.ready = live.ready
        self.answered = False
        self._watch = asyncio.create_task(self._until_ended())

    async def _until_ended(self) -> None:
        try:
            await self._live.wait()
        finally:
            self._tracker.ended(self._call_id)

    async def callee_answered(self) -> None:
        """Greet now (the board shows the line up)."""
        self.answered = True
        self._tracker.answered(self._call_id)
        await self._live.callee_answered()

    async def cancel(self, *, reason: str) -> None:
        """Stop the pipeline."""
        await self._live.cancel(reason=reason)

    async def wait(self) -> CallEnd:
        """Wait for the pipeline to end."""
        return await self._live.wait()

    def done(self) -> bool:
        """Whether the pipeline has ended."""
        return self._live.done()

    async def end_by_staff(self, reason: str) -> None:
        """Hang up: stop the pipeline; while ringing, also stop the runner's dial."""
        await self._live.cancel(reason=reason)
        if not self.answered:
            self._stop_task()


class TrackedLauncher:
    """A :class:`campaign.calls.CallLauncher` whose calls appear on the board.

    Args:
        launcher: Starts the calls (in this process, or the worker pool).
        board: The board.
        stop_call: Cancels the runner's task of an attempt (``CampaignRunner.cancel_call``);
            False when it is not running.
    """

    def __init__(
        self, launcher: CallLauncher, board: LiveCallBoard, stop_call: Callable[[int], bool]
    ) -> None:
        self._launcher = launcher
        self._board = board
        self._stop_call = stop_call

    async def start(self, job: CallJob) -> LiveCall:
        """Start the call and show it, ringing, on the board."""
        live = await self._launcher.start(job)
        attempt_id = job.attempt.id
        tracked = TrackedCall(
            live,
            call_id=job.call_id,
            tracker=self._board,
            stop_task=lambda: self._stop_call(attempt_id),
        )
        self._board.started(
            self._board.call(
                call_id=job.call_id,
                direction=CallDirection.OUTBOUND,
                phone=job.contact.phone,
                campaign_id=job.campaign.id,
                # A call in a worker process says which (service.workers.WorkerCall).
                worker=getattr(live, "worker_index", None),
            ),
            end=tracked.end_by_staff,
        )
        return tracked
