"""Per-call caps (OWASP LLM10): tool calls, bookings, call length, calls per number.

:class:`CallLimiter` is plain Python: it knows nothing of Pipecat or storage. It is enforced
around the tool handlers (a processor cannot veto a call: the handler has already run by the time
the function-call frames reach it), so it never touches audio. A refused tool call answers the
model with a polite ``{"error", "hint"}`` result, like any other tool error, and is counted.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from loguru import logger

from config.settings import LimitsSettings

ToolResult = dict[str, Any]
ToolCall = Callable[[str, Any], Awaitable[ToolResult]]
RecentCalls = Callable[[str, datetime], Awaitable[int]]

BOOKING_TOOL = "schedule_appointment"

# Refusal kinds, as counted in :attr:`CallLimiter.refusals`.
TOOL_RATE = "tool_calls_per_minute"
BOOKINGS = "bookings_per_call"
NUMBER_RATE = "calls_per_number_per_hour"
CALL_LENGTH = "call_length"

_MINUTE = timedelta(minutes=1)
_HOUR = timedelta(hours=1)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class CallLimiter:
    """The caps of one call. Build one per call.

    Every tool call that :meth:`check` accepts must be followed by :meth:`record` (``wrap`` and
    ``pipeline.tool_bridge.register_tools(gate=..., on_result=...)`` do this), because a booking
    reserves its place under the cap at check time: two bookings the model asks for at once
    cannot both slip under the last free place.

    Args:
        limits: The caps from settings.
        max_call_seconds: Longest call (``PipelineSettings.max_call_seconds``).
        recent_calls: ``async (phone, since) -> int``: how many calls this E.164 number has taken
            part in since ``since``; supplied by the caller so this module stays out of storage.
        clock: Returns the current aware time; tests pass a clock they can move.
        started_at: When the call started; defaults to ``clock()`` at construction.
    """

    def __init__(
        self,
        limits: LimitsSettings,
        *,
        max_call_seconds: float,
        recent_calls: RecentCalls,
        clock: Callable[[], datetime] = _utc_now,
        started_at: datetime | None = None,
    ) -> None:
        self._limits = limits
        self._max_call = timedelta(seconds=max_call_seconds)
        self._recent_calls = recent_calls
        self._clock = clock
        self._started_at = started_at if started_at is not None else clock()
        self._accepted: deque[datetime] = deque()
        self._bookings = 0
        self._bookings_pending = 0
        self._refusals: Counter[str] = Counter()
        self._call_over_counted = False

    @property
    def bookings(self) -> int:
        """Appointments booked in this call so far."""
        return self._bookings

    @property
    def refusals(self) -> dict[str, int]:
        """How often each cap refused something, by kind (JSON-ready, for analytics)."""
        return dict(self._refusals)

    async def check(self, tool_name: str) -> ToolResult | None:
        """Decide whether a tool call may run now; an accepted call counts towards the caps.

        Args:
            tool_name: The tool the model called.

        Returns:
            None to go ahead, or a polite refusal result for the model.
        """
        now = self._clock()
        while self._accepted and now - self._accepted[0] >= _MINUTE:
            self._accepted.popleft()
        per_minute = self._limits.tool_calls_per_minute
        if len(self._accepted) >= per_minute:
            return self._refuse(
                TOOL_RATE,
                f"too many tool calls: this call may make at most {per_minute} per minute",
                "Do not call any tool for a minute. Keep talking with the patient using what you"
                " already know; if they need something you cannot give now, offer a callback from"
                " the clinic staff.",
            )
        if tool_name == BOOKING_TOOL:
            per_call = self._limits.bookings_per_call
            if self._bookings + self._bookings_pending >= per_call:
                return self._refuse(
                    BOOKINGS,
                    f"booking limit reached: one call may book at most {per_call} appointments",
                    "Do not try to book again in this call. Tell the patient kindly that the"
                    " clinic staff will help with further appointments, and offer a callback.",
                )
            self._bookings_pending += 1
        self._accepted.append(now)
        return None

    def record(self, tool_name: str, result: Mapping[str, Any] | None) -> None:
        """Tell the limiter how an accepted tool call ended.

        Args:
            tool_name: The tool that ran.
            result: Its result, or None when it ended without one (it raised or was cancelled).
        """
        if tool_name != BOOKING_TOOL:
            return
        self._bookings_pending = max(0, self._bookings_pending - 1)
        if isinstance(result, Mapping) and result.get("status") == "booked":
            self._bookings += 1

    def wrap(self, call: ToolCall) -> ToolCall:
        """Put the caps in front of an async ``(name, arguments) -> result`` tool call.

        A refused call never reaches ``call``; an accepted one is always recorded, even if it
        raises.
        """

        async def limited(name: str, arguments: Any) -> ToolResult:
            refusal = await self.check(name)
            if refusal is not None:
                return refusal
            result: ToolResult | None = None
            try:
                result = await call(name, arguments)
            finally:
                self.record(name, result)
            return result

        return limited

    async def number_allowed(self, phone: str) -> bool:
        """Whether a call with this number stays within the per-number hourly cap.

        Ask before the new call is recorded: the count is of earlier calls in the last hour.

        Args:
            phone: The E.164 number.
        """
        since = self._clock() - _HOUR
        earlier = await self._recent_calls(phone, since)
        if earlier >= self._limits.calls_per_number_per_hour:
            self._refusals[NUMBER_RATE] += 1
            # No number in the log: the call id the log line carries identifies the call.
            logger.warning("call refused: the number reached its hourly call cap")
            return False
        return True

    def call_over(self, now: datetime | None = None) -> bool:
        """Whether the call has reached its maximum length (counted once as a refusal).

        Args:
            now: The time to judge at; defaults to the clock's.
        """
        now = now if now is not None else self._clock()
        over = now - self._started_at >= self._max_call
        if over and not self._call_over_counted:
            self._call_over_counted = True
            self._refusals[CALL_LENGTH] += 1
            logger.info(
                "call reached its maximum length of {} s", int(self._max_call.total_seconds())
            )
        return over

    def _refuse(self, kind: str, error: str, hint: str) -> ToolResult:
        self._refusals[kind] += 1
        logger.warning("tool call refused by the {} cap", kind)
        return {"error": error, "hint": hint}
