"""The application's one clock: a function returning the current aware time.

Everything that needs "now" takes a :data:`Clock` (tests and simulations pass one they can move,
e.g. ``devtools.clock.ManualClock``); :func:`system_clock` is the real one.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]
"""Returns the current time, timezone-aware."""


def system_clock() -> datetime:
    """The real current time, aware, in UTC."""
    return datetime.now(UTC)
