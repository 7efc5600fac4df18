"""CallLimiter: per-call caps, the tool gate, and the caps counted in the database across calls."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import pytest

from config.settings_call import LimitsSettings
from pipeline.call.assembly import call_limiter
from pipeline.limits import CallLimiter, WriteCounts
from pipeline.tool_bridge import make_tool_caller
from storage import Store
from tests.conftest import DEFAULT_NOW, FixedClock
from tests.pipeline.conftest import LogCapture
from tools.catalog import default_registry
from tools.context import ToolContext
from tools.registry import ToolRegistry, ToolRun

TOOLS = default_registry()

BOOKING = {
    "patient_name": "Arbër Çela",
    "phone_number": "069 123 4567",
    "service_type": "checkup",
}


def make_limiter(
    clock: FixedClock,
    **limits: int,
) -> CallLimiter:
    return CallLimiter(
        LimitsSettings(**limits),
        tools=TOOLS,
        clock=clock,
    )


def is_refusal(result: Any) -> bool:
    return (
        isinstance(result, dict)
        and set(result) == {"error", "hint"}
        and all(isinstance(v, str) and v for v in result.values())
    )


@pytest.mark.asyncio
async def test_tool_calls_are_capped_per_rolling_minute(clock: FixedClock) -> None:
    limiter = make_limiter(clock, tool_calls_per_minute=3)
    for _ in range(3):
        assert await limiter.check("check_available_slots") is None
        clock.now += timedelta(seconds=10)
    # t=30 s: three calls in the last minute.
    refusal = await limiter.check("get_clinic_info")
    assert is_refusal(refusal)
    assert "3 per minute" in refusal["error"]
    assert limiter.refusals == {"tool_calls_per_minute": 1}
    # t=60 s: the first call (t=0) has left the window, the others (t=10, t=20) have not.
    clock.now = DEFAULT_NOW + timedelta(seconds=60)
    assert await limiter.check("get_clinic_info") is None
    assert is_refusal(await limiter.check("get_clinic_info"))
    assert limiter.refusals == {"tool_calls_per_minute": 2}


@pytest.mark.asyncio
async def test_refused_calls_do_not_fill_the_window(clock: FixedClock) -> None:
    limiter = make_limiter(clock, tool_calls_per_minute=1)
    assert await limiter.check("a") is None
    for _ in range(5):
        assert is_refusal(await limiter.check("a"))
    clock.now += timedelta(seconds=60)
    assert await limiter.check("a") is None
    assert limiter.refusals == {"tool_calls_per_minute": 5}


@pytest.mark.asyncio
async def test_bookings_are_capped_per_call_and_only_successes_count(clock: FixedClock) -> None:
    limiter = make_limiter(clock, bookings_per_call=2)
    assert await limiter.check("schedule_appointment") is None
    limiter.record("schedule_appointment", {"status": "booked", "appointment_id": 1})
    # A failed booking frees its place.
    assert await limiter.check("schedule_appointment") is None
    limiter.record("schedule_appointment", {"error": "slot taken", "hint": "..."})
    assert await limiter.check("schedule_appointment") is None
    limiter.record("schedule_appointment", {"status": "booked", "appointment_id": 2})
    assert limiter.bookings == 2
    refusal = await limiter.check("schedule_appointment")
    assert is_refusal(refusal)
    assert "at most 2 appointments" in refusal["error"]
    # Other tools still work.
    assert await limiter.check("schedule_follow_up") is None
    assert limiter.refusals == {"bookings_per_call": 1}


@pytest.mark.asyncio
async def test_bookings_asked_for_at_once_cannot_pass_the_last_place(clock: FixedClock) -> None:
    limiter = make_limiter(clock, bookings_per_call=1)
    assert await limiter.check("schedule_appointment") is None
    # The first booking is still running: its place is reserved.
    assert is_refusal(await limiter.check("schedule_appointment"))
    limiter.record("schedule_appointment", None)  # it ended without a result
    assert await limiter.check("schedule_appointment") is None


class ToolsOf:
    """A registry stand-in whose every tool is ``tool(name, arguments)``."""

    def __init__(self, tool: Any) -> None:
        self._tool = tool

    def get(self, name: str) -> None:
        return None  # no specs: every name is an ordinary tool

    async def run(self, name: str, arguments: Any, context: Any) -> ToolRun:
        return ToolRun(await self._tool(name, arguments))


def gated(limiter: CallLimiter, tool: Any, ctx: ToolContext) -> Any:
    """The tool gate (as in production) with ``limiter`` in front of ``tool``."""
    return make_tool_caller(ToolsOf(tool), ctx, gate=limiter)  # type: ignore[arg-type]


@pytest.mark.asyncio
async def test_the_gate_keeps_refused_calls_from_the_tool(
    clock: FixedClock, ctx: ToolContext
) -> None:
    limiter = make_limiter(clock, tool_calls_per_minute=2)
    reached: list[str] = []

    async def tool(name: str, arguments: Any) -> dict[str, Any]:
        reached.append(name)
        return {"ok": arguments}

    call = gated(limiter, tool, ctx)
    assert await call("a", 1) == {"ok": 1}
    assert await call("b", 2) == {"ok": 2}
    assert is_refusal(await call("c", 3))
    assert reached == ["a", "b"]


@pytest.mark.asyncio
async def test_the_gate_records_a_booking_that_raises(clock: FixedClock, ctx: ToolContext) -> None:
    limiter = make_limiter(clock, bookings_per_call=1)

    async def broken(name: str, arguments: Any) -> dict[str, Any]:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await gated(limiter, broken, ctx)("schedule_appointment", {})
    # The failed attempt released its reservation.
    assert await limiter.check("schedule_appointment") is None


@pytest.mark.asyncio
async def test_the_gate_records_a_booking_that_is_cancelled(
    clock: FixedClock, ctx: ToolContext
) -> None:
    limiter = make_limiter(clock, bookings_per_call=1)
    started = asyncio.Event()

    async def stuck(name: str, arguments: Any) -> dict[str, Any]:
        started.set()
        await asyncio.Event().wait()
        raise AssertionError("never reached")

    running = asyncio.create_task(gated(limiter, stuck, ctx)("schedule_appointment", {}))
    await started.wait()
    # Running: its place is reserved.
    assert is_refusal(await limiter.check("schedule_appointment"))
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    # The cancelled attempt released its reservation, and booked nothing.
    assert await limiter.check("schedule_appointment") is None
    assert limiter.bookings == 0


@pytest.mark.asyncio
async def test_booking_cap_holds_against_the_real_registry(registry, ctx, store, clock) -> None:
    limiter = make_limiter(clock, bookings_per_call=1)
    call = make_tool_caller(registry, ctx, gate=limiter)
    first = await call("schedule_appointment", {**BOOKING, "preferred_date": "2026-12-02T10:00"})
    assert first["status"] == "booked"
    second = await call("schedule_appointment", {**BOOKING, "preferred_date": "2026-12-03T10:00"})
    assert is_refusal(second)
    assert await store.appointments.count() == 1


@pytest.mark.asyncio
async def test_limiter_plugs_into_the_tool_bridge(registry, ctx, store, clock) -> None:
    limiter = make_limiter(clock, bookings_per_call=1)
    call = make_tool_caller(registry, ctx, gate=limiter)
    first = await call("schedule_appointment", {**BOOKING, "preferred_date": "2026-12-02T10:00"})
    assert first["status"] == "booked"
    assert limiter.bookings == 1
    second = await call("schedule_appointment", {**BOOKING, "preferred_date": "2026-12-03T10:00"})
    assert is_refusal(second)
    assert await store.appointments.count() == 1


class NumberWrites:
    """Stands in for the per-number database count; remembers what it was asked."""

    def __init__(self, bookings: int = 0, follow_ups: int = 0) -> None:
        self.counts = WriteCounts(bookings, follow_ups)
        self.asked: list[tuple[str, datetime]] = []

    async def __call__(self, phone: str, since: datetime) -> WriteCounts:
        self.asked.append((phone, since))
        return self.counts


class UnboundWrites:
    """Stands in for the database count of unbound calls' bookings and callbacks."""

    def __init__(self, count: int = 0) -> None:
        self.count = count
        self.asked: list[datetime] = []

    async def __call__(self, since: datetime) -> int:
        self.asked.append(since)
        return self.count


PHONE = "+355691234567"
NAME = "Arbër Çela"


def bound_limiter(
    clock: FixedClock,
    *,
    phone: str | None = PHONE,
    number: NumberWrites | None = None,
    unbound: UnboundWrites | None = None,
    **limits: int,
) -> CallLimiter:
    return CallLimiter(
        LimitsSettings(**limits),
        tools=TOOLS,
        phone=phone,
        number_writes=number or NumberWrites(),
        unbound_writes=unbound or UnboundWrites(),
        clock=clock,
    )


SCHEDULED = {"status": "scheduled", "follow_up_id": 1}


@pytest.mark.asyncio
async def test_follow_ups_are_capped_per_call(clock: FixedClock) -> None:
    limiter = bound_limiter(clock, follow_ups_per_call=2, follow_ups_per_number_per_day=50)
    for _ in range(2):
        assert await limiter.check("schedule_follow_up") is None
        limiter.record("schedule_follow_up", SCHEDULED)
    assert limiter.follow_ups == 2
    refusal = await limiter.check("schedule_follow_up")
    assert is_refusal(refusal)
    assert "callback" in refusal["error"]
    # Other tools, bookings included, are not affected.
    assert await limiter.check("schedule_appointment") is None
    assert limiter.refusals == {"follow_ups_per_call": 1}


@pytest.mark.asyncio
async def test_a_failed_follow_up_does_not_use_the_cap(clock: FixedClock) -> None:
    limiter = bound_limiter(clock, follow_ups_per_call=1)
    assert await limiter.check("schedule_follow_up") is None
    limiter.record("schedule_follow_up", {"error": "bad time", "hint": "..."})
    assert await limiter.check("schedule_follow_up") is None
    # Accepted but not yet finished: the place is reserved.
    assert is_refusal(await limiter.check("schedule_follow_up"))


@pytest.mark.asyncio
async def test_web_searches_are_capped_per_call(clock: FixedClock) -> None:
    limiter = bound_limiter(clock, search_web_per_call=5)
    for _ in range(5):
        assert await limiter.check("search_web") is None
    refusal = await limiter.check("search_web")
    assert is_refusal(refusal)
    assert "search_web" in refusal["hint"]
    assert await limiter.check("get_clinic_info") is None
    assert limiter.refusals == {"search_web_per_call": 1}


@pytest.mark.asyncio
async def test_tool_calls_are_capped_per_call_across_minutes(clock: FixedClock) -> None:
    limiter = bound_limiter(clock, tool_calls_per_minute=5, tool_calls_per_call=12)
    for _ in range(12):
        assert await limiter.check("get_clinic_info") is None
        clock.now += timedelta(seconds=15)  # well under the per-minute cap
    refusal = await limiter.check("get_clinic_info")
    assert is_refusal(refusal)
    clock.now += timedelta(minutes=10)
    assert is_refusal(await limiter.check("check_available_slots"))
    assert limiter.refusals == {"tool_calls_per_call": 2}


@pytest.mark.asyncio
async def test_bookings_per_bound_number_are_counted_across_calls(clock: FixedClock) -> None:
    number = NumberWrites(bookings=1)
    limiter = bound_limiter(
        clock, number=number, bookings_per_call=5, bookings_per_number_per_day=2
    )
    assert await limiter.check("schedule_appointment") is None
    assert number.asked == [(PHONE, DEFAULT_NOW - timedelta(days=1))]
    # One in the database plus one reserved by this call: the day's cap of two is reached.
    refusal = await limiter.check("schedule_appointment")
    assert is_refusal(refusal)
    assert "+355" not in refusal["error"] + refusal["hint"]
    assert limiter.refusals == {"bookings_per_number_per_day": 1}


@pytest.mark.asyncio
async def test_follow_ups_per_bound_number_are_counted_across_calls(clock: FixedClock) -> None:
    limiter = bound_limiter(
        clock,
        number=NumberWrites(follow_ups=2),
        follow_ups_per_call=5,
        follow_ups_per_number_per_day=2,
    )
    assert is_refusal(await limiter.check("schedule_follow_up"))
    # The day's bookings are a separate budget.
    assert await limiter.check("schedule_appointment") is None
    assert limiter.refusals == {"follow_ups_per_number_per_day": 1}


@pytest.mark.asyncio
async def test_unbound_calls_share_one_hourly_budget(
    clock: FixedClock, log_capture: LogCapture
) -> None:
    unbound = UnboundWrites(count=9)
    number = NumberWrites()
    limiter = bound_limiter(
        clock, phone=None, number=number, unbound=unbound, unbound_writes_per_hour=10
    )
    assert await limiter.check("schedule_follow_up") is None
    assert unbound.asked == [DEFAULT_NOW - timedelta(hours=1)]
    # Nine made by other unbound calls plus this call's pending one: the budget is spent.
    refusal = await limiter.check("schedule_appointment")
    assert is_refusal(refusal)
    assert limiter.refusals == {"unbound_writes_per_hour": 1}
    assert number.asked == []  # an unbound call has no number to count
    warnings = [m for m in log_capture.messages if "without a bound number" in m]
    assert len(warnings) == 1
    assert "+355" not in warnings[0]


@pytest.mark.asyncio
async def test_unbound_budget_of_zero_refuses_every_write(clock: FixedClock) -> None:
    limiter = bound_limiter(clock, phone=None, unbound_writes_per_hour=0)
    assert is_refusal(await limiter.check("schedule_appointment"))
    assert is_refusal(await limiter.check("schedule_follow_up"))
    assert await limiter.check("check_available_slots") is None


@pytest.mark.asyncio
async def test_concurrent_writes_of_one_call_cannot_share_the_last_place(
    clock: FixedClock,
) -> None:
    limiter = bound_limiter(clock, phone=None, unbound=UnboundWrites(9))
    results = await asyncio.gather(*(limiter.check("schedule_follow_up") for _ in range(4)))
    assert sum(result is None for result in results) == 1


def _booking(day: int, hour: int = 10) -> dict[str, str]:
    return {"service_type": "checkup", "preferred_date": f"2026-12-{day:02d}T{hour:02d}:00"}


@pytest.mark.asyncio
async def test_a_new_call_to_the_same_number_cannot_book_past_the_days_cap(
    registry: ToolRegistry, make_context: Any, store: Store, settings: Any, clock: FixedClock
) -> None:
    """Real store and registry: the day's bookings of a number are counted across calls."""
    for call_id in ("call-a", "call-b"):
        await store.calls.start(call_id=call_id, phone=PHONE)
    first = call_limiter(settings, store, registry, phone=PHONE, clock=clock)
    call_a = make_context(call_id="call-a", phone=PHONE, patient_name="Arbër Çela")
    book_a = make_tool_caller(registry, call_a, gate=first)
    for day in (2, 3):
        result = await book_a("schedule_appointment", {**_booking(day), "patient_name": NAME})
        assert result["status"] == "booked", result
    second = call_limiter(settings, store, registry, phone=PHONE, clock=clock)
    call_b = make_context(call_id="call-b", phone=PHONE, patient_name="Arbër Çela")
    book_b = make_tool_caller(registry, call_b, gate=second)
    refused = await book_b("schedule_appointment", {**_booking(4), "patient_name": NAME})
    assert is_refusal(refused)
    assert await store.appointments.count() == 2
    assert second.refusals == {"bookings_per_number_per_day": 1}
    # A day later the number may book again.
    clock.now += timedelta(days=1, minutes=1)
    assert await second.check("schedule_appointment") is None


@pytest.mark.asyncio
async def test_browser_calls_cannot_write_past_the_shared_hourly_budget(
    registry: ToolRegistry, make_context: Any, store: Store, settings: Any, clock: FixedClock
) -> None:
    """Real store: unbound calls, each within its own caps, exhaust one shared budget."""
    settings = settings.model_copy(
        update={"limits": LimitsSettings(unbound_writes_per_hour=3, follow_ups_per_call=2)}
    )
    written = 0
    results = []
    for n in range(3):  # three browser calls, each trying two callbacks to other numbers
        call_id = f"browser-{n}"
        await store.calls.start(call_id=call_id, phone=None)
        limiter = call_limiter(settings, store, registry, phone=None, clock=clock)
        ctx = make_context(call_id=call_id)
        tool = make_tool_caller(registry, ctx, gate=limiter)
        for k in range(2):
            result = await tool(
                "schedule_follow_up",
                {
                    "client_name": "Arbër Çela",
                    "phone_number": f"069 123 45{n}{k}",
                    "preferred_time": "2026-12-02T10:00",
                },
            )
            results.append(result)
            written += result.get("status") == "scheduled"
    assert written == 3
    assert sum(is_refusal(r) for r in results) == 3
    pending = await store.follow_ups.find()
    assert len(pending) == 3
    # An hour later the budget is free again.
    clock.now += timedelta(hours=1, minutes=1)
    limiter = call_limiter(settings, store, registry, phone=None, clock=clock)
    assert await limiter.check("schedule_follow_up") is None


def test_the_limiter_stays_out_of_storage_and_pipecat() -> None:
    """It receives the database counts as callbacks, so it can be tested and reused alone."""
    import ast
    from pathlib import Path

    import pipeline.limits

    tree = ast.parse(Path(pipeline.limits.__file__).read_text(encoding="utf-8"))
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not {name for name in imported if name.split(".")[0] in ("storage", "pipecat")}


@pytest.mark.asyncio
async def test_ending_the_call_and_opting_out_pass_every_spent_cap(clock: FixedClock) -> None:
    limiter = bound_limiter(clock, tool_calls_per_minute=3, tool_calls_per_call=3)
    for _ in range(3):
        assert await limiter.check("get_clinic_info") is None
    assert is_refusal(await limiter.check("get_clinic_info"))
    # A patient who asks not to be called again, and the hang-up, are never held back.
    assert await limiter.check("opt_out") is None
    assert await limiter.check("end_call") is None
    assert limiter.refusals == {"tool_calls_per_minute": 1}


def test_reaching_the_call_length_is_counted_once(clock: FixedClock) -> None:
    """The session's length watch reports it (see test_call_length in test_call_failures)."""
    limiter = make_limiter(clock)
    assert limiter.refusals == {}
    limiter.call_length_reached(120)
    limiter.call_length_reached(120)
    assert limiter.refusals == {"call_length": 1}
