"""What the campaign runner and the voice pipeline exchange about one call.

Kept apart from :mod:`campaign.runner` so the launcher (which builds the real pipeline) and test
doubles depend on these small types, not on the runner.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from campaign.dialer import Dialer
from storage import CallAttempt, Campaign, CampaignContact
from storage.models import CallOutcome


@dataclass(frozen=True)
class CallEnd:
    """How the voice pipeline ended a call."""

    outcome: CallOutcome
    reason: str | None = None
    duration_s: int | None = None


class LiveCall(Protocol):
    """A voice pipeline started for one call (see :mod:`campaign.launcher`)."""

    ready: asyncio.Event

    async def callee_answered(self) -> None:
        """Greet: the callee picked up."""

    async def cancel(self, *, reason: str) -> None:
        """Stop the pipeline (not answered, or the campaign is stopping)."""

    async def wait(self) -> CallEnd:
        """Wait for the pipeline to end."""

    def done(self) -> bool:
        """Whether the pipeline has ended."""


@dataclass(frozen=True)
class CallJob:
    """Everything a launcher needs to start the pipeline for one attempt."""

    campaign: Campaign
    contact: CampaignContact
    attempt: CallAttempt
    call_id: str
    room: str
    participant_identity: str
    dialer: Dialer


class CallLauncher(Protocol):
    """Starts the voice pipeline for a call."""

    async def start(self, job: CallJob) -> LiveCall:
        """Start the pipeline; return at once (readiness is :attr:`LiveCall.ready`)."""


@dataclass
class Progress:
    """What this run has done so far (no patient data)."""

    dialled: int = 0
    answered: int = 0
    booked: int = 0
    active: int = 0
    remaining: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    waiting_until: datetime | None = None
    state: str = "starting"


async def wait_until_ready(live: LiveCall, *, timeout_s: float) -> None:
    """Wait until the pipeline is in the room; a pipeline that ended instead is an error.

    Raises:
        RuntimeError: The pipeline did not start within ``timeout_s`` or ended before dialling.
    """
    try:
        await asyncio.wait_for(live.ready.wait(), timeout=timeout_s)
    except TimeoutError:
        raise RuntimeError("the voice pipeline did not start") from None
    if live.done():
        end = await live.wait()
        raise RuntimeError(f"the voice pipeline ended before dialing ({end.outcome})")


async def wake_or_sleep(
    sleep: Callable[[float], Awaitable[Any]], wake: asyncio.Event, seconds: float
) -> None:
    """Sleep ``seconds`` with ``sleep`` (a simulation's own), but return as soon as ``wake`` is set.

    Used by the runner to wait for the next due contact while a call ending or a stop request
    wakes it early.
    """
    if wake.is_set():
        return
    sleeper = asyncio.ensure_future(sleep(seconds))
    waker = asyncio.ensure_future(wake.wait())
    await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
    for task in (sleeper, waker):
        task.cancel()
