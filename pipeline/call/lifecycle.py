"""The life of a running call: its state in one object, and every way the call ends.

Shared by the session (:mod:`pipeline.call.session`, which runs the call and hears from the
transport) and the call's controls (:mod:`pipeline.call.control`, which the model's tools use).
A call ends in one of three ways: stopped now (the worker is cancelled: a hang-up, a failure,
an operator stop), ended gracefully (an ``EndFrame`` after Elo's last words), or stopped once a
tool's result is through (a transfer, a voicemail hang-up).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from loguru import logger
from pipecat.frames.frames import EndFrame
from pipecat.pipeline.worker import PipelineWorker

from pipeline.call.outcome import OutcomeLatch
from storage.models import CallOutcome

# How long a tool that ends the call waits for its own result to go through.
_RESULT_GRACE_SECS = 2.0


class Phase(StrEnum):
    """Where a call is in its life."""

    STARTING = "starting"  # built, the pipeline not started (or not in the room) yet
    RUNNING = "running"
    ENDED = "ended"


@dataclass
class CallState:
    """What changes while a call runs.

    Attributes:
        answered: The callee picked up (from the start unless the call waits for the answer).
        phase: Where the call is in its life.
        greeted: Elo has been told to greet (once per call).
        ending: The call is on its way out (an ``EndFrame`` is queued, or it stops once a
            tool's result is through): no other ending, and no transfer, starts.
        transferring: A transfer is under way.
        left_in_transfer: The callee's leg left while a transfer was under way.
    """

    answered: bool
    phase: Phase = Phase.STARTING
    greeted: bool = False
    ending: bool = False
    transferring: bool = False
    left_in_transfer: bool = False


class CallLifecycle:
    """A call's state, why it ended, and the ways to end it.

    Args:
        answered: The callee is there from the start (the call does not wait for the answer).

    Attributes:
        state: What changes while the call runs.
        outcome: Why the call ended (the first cause wins).
        ready: Set once the call can be dialled, and when it ends (see
            :attr:`pipeline.call.session.CallSession.ready`).
    """

    def __init__(self, *, answered: bool) -> None:
        self.state = CallState(answered=answered)
        self.outcome = OutcomeLatch()
        self.ready = asyncio.Event()
        self._worker: PipelineWorker | None = None
        self._tasks: list[asyncio.Task[Any]] = []

    @property
    def running(self) -> bool:
        """Whether the pipeline has started and the call has not ended yet."""
        return self.state.phase is Phase.RUNNING

    @property
    def built(self) -> bool:
        """Whether the call's pipeline exists (so there is something to end)."""
        return self._worker is not None

    def attach(self, worker: PipelineWorker) -> None:
        """The call's pipeline, once built."""
        self._worker = worker

    def mark_ready(self) -> None:
        """The call can be dialled: it is running."""
        if self.state.phase is Phase.STARTING:
            self.state.phase = Phase.RUNNING
        self.ready.set()

    def mark_ended(self) -> None:
        """The run is over; a caller waiting to dial must not hang on a failed start."""
        self.state.phase = Phase.ENDED
        self.ready.set()

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` in the background until the call ends."""
        self._tasks.append(asyncio.create_task(work))

    def cancel_background(self) -> None:
        """Cancel the background work (watchdogs, waits for a goodbye or a result)."""
        for task in self._tasks:
            task.cancel()

    async def stop(self, outcome: CallOutcome, reason: str | None) -> None:
        """End the call now, for this cause (unless an earlier one was recorded)."""
        self.outcome.set(outcome, reason)
        if self._worker is not None:
            await self._worker.cancel()

    async def end_gracefully(self) -> None:
        """End the call after what Elo is saying (once: later calls do nothing)."""
        if not self.state.ending and self._worker is not None:
            self.state.ending = True
            await self._worker.queue_frame(EndFrame())

    def stop_after(self, result_seen: asyncio.Event) -> None:
        """Stop the call once a tool's result is through, so that it is recorded."""
        self.state.ending = True  # no goodbye turn and no other ending from now on
        self.spawn(self._stop_when_seen(result_seen))

    async def _stop_when_seen(self, seen: asyncio.Event) -> None:
        try:
            await asyncio.wait_for(seen.wait(), timeout=_RESULT_GRACE_SECS)
        except TimeoutError:
            pass
        if self._worker is not None:
            await self._worker.cancel()

    async def watch_first_audio(self, heard: asyncio.Event, within: float) -> None:
        """Fail the call when Elo has not been heard ``within`` seconds of the greeting."""
        try:
            await asyncio.wait_for(heard.wait(), timeout=within)
        except TimeoutError:
            await self.stop(CallOutcome.FAILED, "the model did not answer (no audio)")

    async def watch_length(
        self, max_seconds: float, *, on_reached: Callable[[float], None]
    ) -> None:
        """End the call gracefully once it has lasted ``max_seconds``: its one length limit.

        Args:
            max_seconds: The call's maximum length.
            on_reached: Told when the limit is reached (the limiter counts it).
        """
        await asyncio.sleep(max_seconds)
        on_reached(max_seconds)
        self.outcome.set(CallOutcome.COMPLETED, "maximum call length")
        await self.end_gracefully()

    async def callee_left(self) -> None:
        """The callee's side left: a hang-up, unless a transfer or the answer decides."""
        if not self.state.answered:
            # A SIP callee leaves the room when it rejects or stops ringing; the caller's
            # dial result says which, and it ends the call with that reason.
            logger.info("callee left before answering")
            return
        if self.state.transferring:
            # After an accepted REFER LiveKit hangs up its leg within a second (livekit/sip
            # be5d3f57 pkg/sip/outbound.go outboundCall.transferCall), often before
            # TransferSIPParticipant answers: the transfer's answer decides the outcome.
            self.state.left_in_transfer = True
            return
        await self.stop(CallOutcome.HUNG_UP, "the patient hung up")
