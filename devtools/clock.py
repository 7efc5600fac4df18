"""A clock moved by hand and a sleep that moves it: for simulations, benchmarks and tests."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Protocol


class ManualClock:
    """A clock that shows ``now`` until someone changes it."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        """The clock's current time."""
        return self.now


class _Runner(Protocol):
    @property
    def active(self) -> int: ...


class SimulatedSleep:
    """A campaign runner's ``sleep`` that moves a :class:`ManualClock` instead of waiting.

    Time stands still while calls are in progress (they take no simulated time): the sleep first
    waits (in real time) until the runner has none, then moves the clock.

    Attributes:
        clock: The clock to move.
        runner: The runner whose calls hold time still; set once the runner exists.
    """

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.runner: _Runner | None = None

    async def __call__(self, seconds: float) -> None:
        """Wait for the runner's calls to end, then move the clock by ``seconds``."""
        for _ in range(100_000):
            if self.runner is None or not self.runner.active:
                break
            await asyncio.sleep(0.001)
        # Let a runner woken by a call that just ended cancel this sleep before time moves.
        for _ in range(10):
            await asyncio.sleep(0)
        self.clock.now = self.clock.now + timedelta(seconds=seconds)
        await asyncio.sleep(0)
