"""The fault breaker: pause a campaign when most recent dials failed for a non-patient reason.

Like Dograh's "half the calls in 120 s": a trunk that refuses our login, a LiveKit outage or a
wrong set-up fails every dial the same way, and dialling on only fills the log. A system fault
(``DialResult.fault``, see :mod:`campaign.dialer`) is charged to no patient, so the breaker is
what stops a campaign from going round its whole queue against a dead trunk.
"""

from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta

from config.settings_campaign import CampaignSettings


class FaultBreaker:
    """Counts recent dials and trips when enough of them were system faults.

    Args:
        settings: ``fault_breaker_dials`` (fewest dials in the window before it may trip),
            ``fault_breaker_ratio`` (share of faults among them) and
            ``fault_breaker_window_secs`` (how far back dials count).
    """

    def __init__(self, settings: CampaignSettings) -> None:
        self._min_dials = settings.fault_breaker_dials
        self._ratio = settings.fault_breaker_ratio
        self._window = timedelta(seconds=settings.fault_breaker_window_secs)
        self._dials: deque[tuple[datetime, bool]] = deque()
        self.reason: str | None = None

    def record(self, now: datetime, fault: str | None) -> str | None:
        """Count one dial; returns the pause reason the first time the breaker trips.

        Args:
            now: When the dial ended.
            fault: The system fault's one-line reason, or None for a patient's outcome.

        Returns:
            A reason for staff (one line, no phone number) when this dial trips the breaker;
            None otherwise, also after it has tripped once.
        """
        self._dials.append((now, fault is not None))
        horizon = now - self._window
        while self._dials and self._dials[0][0] < horizon:
            self._dials.popleft()
        faults = sum(1 for _, bad in self._dials if bad)
        total = len(self._dials)
        if (
            fault is None
            or self.reason is not None
            or total < self._min_dials
            or faults < self._ratio * total
        ):
            return None
        self.reason = (
            f"paused: {faults} of the last {total} dials failed on the trunk/LiveKit side"
            f" within {int(self._window.total_seconds())} s (last: {fault});"
            " no patient was charged. Check the SIP trunk and LiveKit, then run again."
        )[:500]
        return self.reason
