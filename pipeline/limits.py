"""Caps an abusive caller cannot walk around (OWASP LLM10).

Per call: tool calls per minute and in all, bookings, callbacks, web searches. Which caps a tool
counts against is declared on its spec (``ToolSpec.limit``); the call's length is the session's
watch (``pipeline.call.CallSession``), which reports reaching it here.
Across calls, counted in the database: bookings and callbacks per bound number per 24 hours, and
one shared hourly budget of bookings plus callbacks for every call without a bound number (browser
and file calls), which no per-number cap can reach. Whether a call may start at all (do-not-call,
calls per number per hour) is the calling policy's answer (:mod:`app.call_policy`).

:class:`CallLimiter` is plain Python: it knows nothing of Pipecat or storage (the caller passes
the database counts as callbacks). It is enforced around the tool handlers (a processor cannot
veto a call: the handler has already run by the time the function-call frames reach it), so it
never touches audio. A refused tool call answers the model with a polite ``{"error", "hint"}``
result, like any other tool error, and is counted.

The limiter is also the call's one count of the bookings and callbacks it made (a tool call's
result reaches it through the tool gate, ``pipeline.tool_bridge.make_tool_caller``, even when the
model no longer waits for it); the call's analytics read the bookings from here.
"""

from __future__ import annotations

import asyncio
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from loguru import logger

from config.clock import Clock, system_clock
from config.settings_call import LimitsSettings
from tools.registry import LimitClass, ToolRegistry

ToolResult = dict[str, Any]


class WriteCounts(NamedTuple):
    """Records Elo made (``source = agent``) in a period: appointments and callbacks."""

    bookings: int
    follow_ups: int


NumberWrites = Callable[[str, datetime], Awaitable[WriteCounts]]
"""``async (phone, since) -> WriteCounts``: Elo's bookings and callbacks for this E.164 number
(the patient's number, or made in a call bound to it) created since ``since``."""
UnboundWrites = Callable[[datetime], Awaitable[int]]
"""``async (since) -> int``: Elo's bookings plus callbacks made in calls without a bound number
(or with no call row), created since ``since``."""

# The limit classes whose records the caps count, per call and in the database.
_WRITES = (LimitClass.BOOKING, LimitClass.CALLBACK)

# Refusal kinds, as counted in :attr:`CallLimiter.refusals`.
TOOL_RATE = "tool_calls_per_minute"
BOOKINGS = "bookings_per_call"
CALL_LENGTH = "call_length"
TOOL_TOTAL = "tool_calls_per_call"
FOLLOW_UPS = "follow_ups_per_call"
SEARCHES = "search_web_per_call"
NUMBER_BOOKINGS = "bookings_per_number_per_day"
NUMBER_FOLLOW_UPS = "follow_ups_per_number_per_day"
UNBOUND_WRITES = "unbound_writes_per_hour"

_MINUTE = timedelta(minutes=1)
_HOUR = timedelta(hours=1)
_DAY = timedelta(days=1)

_STAFF_HINT = (
    " Tell the patient kindly that the clinic staff will help with this, and that they can call"
    " the clinic directly."
)


async def _no_number_writes(phone: str, since: datetime) -> WriteCounts:
    return WriteCounts(0, 0)


async def _no_unbound_writes(since: datetime) -> int:
    return 0


class CallLimiter:
    """The caps of one call. Build one per call.

    Every tool call that :meth:`check` accepts must be followed by :meth:`record` (the tool gate,
    ``pipeline.tool_bridge.make_tool_caller``, does this, also when the tool raises or is
    cancelled), because a booking or callback reserves its place under the caps at check time:
    two bookings the model asks for at once cannot both slip under the last free place.

    The database caps add this call's reservations to what the database already holds, so the
    call's own committed records are not counted twice. Two calls writing at the very same
    moment can each pass the last free place of a shared cap; the browser page's limit on
    concurrent calls bounds that overshoot.

    Args:
        limits: The caps from settings.
        tools: The tool registry, whose specs say which caps each tool counts against (a name
            it does not know counts as an ordinary tool call).
        phone: The number the call is bound to (E.164), or None for a call without one (browser,
            file), whose bookings and callbacks draw on the shared unbound budget instead.
        number_writes: Database count of Elo's bookings and callbacks for a number (see
            :data:`NumberWrites`); None counts nothing (tests of the per-call caps).
        unbound_writes: Database count of bookings and callbacks made by unbound calls (see
            :data:`UnboundWrites`); None counts nothing.
        clock: Returns the current aware time; tests pass a clock they can move.
    """

    def __init__(
        self,
        limits: LimitsSettings,
        *,
        tools: ToolRegistry,
        phone: str | None = None,
        number_writes: NumberWrites | None = None,
        unbound_writes: UnboundWrites | None = None,
        clock: Clock = system_clock,
    ) -> None:
        self._limits = limits
        self._tools = tools
        self._phone = phone
        self._number_writes = number_writes or _no_number_writes
        self._unbound_writes = unbound_writes or _no_unbound_writes
        self._clock = clock
        self._accepted: deque[datetime] = deque()
        self._total = 0
        self._searches = 0
        self._done: Counter[LimitClass] = Counter()  # bookings and callbacks written
        self._pending: Counter[LimitClass] = Counter()  # accepted, not yet recorded
        self._booked: list[Mapping[str, Any]] = []  # the results of the bookings made
        self._refusals: Counter[str] = Counter()
        self._call_length_counted = False
        # Serialises the database look-up and the reservation of one write against another
        # write of the same call the model runs at the same time.
        self._write_lock = asyncio.Lock()

    @property
    def bookings(self) -> int:
        """Appointments booked in this call so far (the call's one count of them)."""
        return self._done[LimitClass.BOOKING]

    @property
    def booked(self) -> tuple[Mapping[str, Any], ...]:
        """The results of the appointments booked in this call so far, in order."""
        return tuple(self._booked)

    @property
    def follow_ups(self) -> int:
        """Callbacks arranged in this call so far."""
        return self._done[LimitClass.CALLBACK]

    def _limit_of(self, tool_name: str) -> LimitClass:
        spec = self._tools.get(tool_name)
        return spec.limit if spec is not None else LimitClass.ORDINARY

    @property
    def refusals(self) -> dict[str, int]:
        """How often each cap refused something, by kind (JSON-ready, for analytics)."""
        return dict(self._refusals)

    async def check(self, tool_name: str) -> ToolResult | None:
        """Decide whether a tool call may run now; an accepted call counts towards the caps.

        Tools declared ``LimitClass.UNCAPPED`` (ending the call, opting out) always go ahead,
        uncounted.

        Args:
            tool_name: The tool the model called.

        Returns:
            None to go ahead, or a polite refusal result for the model.
        """
        limit = self._limit_of(tool_name)
        if limit is LimitClass.UNCAPPED:
            return None
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
        total = self._limits.tool_calls_per_call
        if self._total >= total:
            return self._refuse(
                TOOL_TOTAL,
                f"tool limit reached: one call may make at most {total} tool calls",
                "Do not call any more tools in this call. Answer from what you already know,"
                " then wrap up the call politely." + _STAFF_HINT,
            )
        if limit is LimitClass.SEARCH:
            searches = self._limits.search_web_per_call
            if self._searches >= searches:
                return self._refuse(
                    SEARCHES,
                    f"search limit reached: one call may search the web at most {searches} times",
                    f"Do not call {tool_name} again in this call. Answer from the clinic"
                    " information (get_clinic_info, get_payment_info) or say that staff will"
                    " answer the question.",
                )
            self._searches += 1
        elif limit in _WRITES:
            async with self._write_lock:
                refusal = await self._check_write(tool_name, limit, now)
                if refusal is not None:
                    return refusal
                self._pending[limit] += 1
        self._total += 1
        self._accepted.append(now)
        return None

    async def _check_write(
        self, tool_name: str, limit: LimitClass, now: datetime
    ) -> ToolResult | None:
        """The per-call, per-number and unbound caps of a booking or callback."""
        booking = limit is LimitClass.BOOKING
        mine = self._done[limit] + self._pending[limit]
        if booking and mine >= self._limits.bookings_per_call:
            per_call = self._limits.bookings_per_call
            return self._refuse(
                BOOKINGS,
                f"booking limit reached: one call may book at most {per_call} appointments",
                "Do not try to book again in this call. Tell the patient kindly that the"
                " clinic staff will help with further appointments, and offer a callback.",
            )
        if not booking and mine >= self._limits.follow_ups_per_call:
            per_call = self._limits.follow_ups_per_call
            return self._refuse(
                FOLLOW_UPS,
                f"callback limit reached: one call may arrange at most {per_call} callbacks",
                f"Do not call {tool_name} again in this call." + _STAFF_HINT,
            )
        # What this call has accepted but not yet written is not in the database yet.
        pending = self._pending[limit]
        if self._phone is not None:
            counts = await self._number_writes(self._phone, now - _DAY)
            if booking and counts.bookings + pending >= self._limits.bookings_per_number_per_day:
                return self._refuse(
                    NUMBER_BOOKINGS,
                    "booking limit reached: this number has had the most appointments that can"
                    " be booked by phone in one day",
                    "Do not try to book again." + _STAFF_HINT,
                )
            if (
                not booking
                and counts.follow_ups + pending >= self._limits.follow_ups_per_number_per_day
            ):
                return self._refuse(
                    NUMBER_FOLLOW_UPS,
                    "callback limit reached: this number already has the most callbacks that can"
                    " be arranged in one day",
                    f"Do not call {tool_name} again; the clinic already has callbacks"
                    " arranged for this number." + _STAFF_HINT,
                )
            return None
        budget = self._limits.unbound_writes_per_hour
        made = await self._unbound_writes(now - _HOUR)
        all_pending = sum(self._pending[kind] for kind in _WRITES)
        if made + all_pending >= budget:
            # No number or name in the log; staff need only know the shared budget ran out.
            logger.warning(
                "calls without a bound number reached their hourly cap of {} bookings and"
                " callbacks",
                budget,
            )
            return self._refuse(
                UNBOUND_WRITES,
                "booking and callback limit reached for calls like this one: no more can be"
                " made right now",
                "Do not try to book or arrange a callback again in this call." + _STAFF_HINT,
            )
        return None

    def record(self, tool_name: str, result: Mapping[str, Any] | None) -> None:
        """Tell the limiter how an accepted tool call ended.

        Args:
            tool_name: The tool that ran.
            result: Its result, or None when it ended without one (it raised or was cancelled).
        """
        spec = self._tools.get(tool_name)
        if spec is None or spec.limit not in _WRITES:
            return
        self._pending[spec.limit] = max(0, self._pending[spec.limit] - 1)
        if result is not None and spec.made_record(result):
            self._done[spec.limit] += 1
            if spec.limit is LimitClass.BOOKING:
                self._booked.append(result)

    def call_length_reached(self, max_call_seconds: float) -> None:
        """Count that the call reached its maximum length (once, however often it is told).

        Args:
            max_call_seconds: The length reached (``PipelineSettings.max_call_seconds``).
        """
        if self._call_length_counted:
            return
        self._call_length_counted = True
        self._refusals[CALL_LENGTH] += 1
        logger.info("call reached its maximum length of {} s", int(max_call_seconds))

    def _refuse(self, kind: str, error: str, hint: str) -> ToolResult:
        self._refusals[kind] += 1
        logger.warning("tool call refused by the {} cap", kind)
        return {"error": error, "hint": hint}
