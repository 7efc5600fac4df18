"""CallLimiter: tool calls per rolling minute, bookings per call, call length, calls per number."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from config.settings import LimitsSettings
from pipeline.limits import CallLimiter
from pipeline.tool_bridge import make_tool_caller
from tests.conftest import DEFAULT_NOW, FixedClock

BOOKING = {
    "patient_name": "Arbër Çela",
    "phone_number": "069 123 4567",
    "service_type": "checkup",
}


class RecentCalls:
    """Stands in for the store query: answers a fixed count and remembers what it was asked."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.asked: list[tuple[str, datetime]] = []

    async def __call__(self, phone: str, since: datetime) -> int:
        self.asked.append((phone, since))
        return self.count


def make_limiter(
    clock: FixedClock,
    *,
    recent: int = 0,
    max_call_seconds: float = 600,
    **limits: int,
) -> CallLimiter:
    return CallLimiter(
        LimitsSettings(**limits),
        max_call_seconds=max_call_seconds,
        recent_calls=RecentCalls(recent),
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


@pytest.mark.asyncio
async def test_wrap_keeps_refused_calls_from_the_tool(clock: FixedClock) -> None:
    limiter = make_limiter(clock, tool_calls_per_minute=2)
    reached: list[str] = []

    async def tool(name: str, arguments: Any) -> dict[str, Any]:
        reached.append(name)
        return {"ok": arguments}

    call = limiter.wrap(tool)
    assert await call("a", 1) == {"ok": 1}
    assert await call("b", 2) == {"ok": 2}
    assert is_refusal(await call("c", 3))
    assert reached == ["a", "b"]


@pytest.mark.asyncio
async def test_wrap_records_a_booking_that_raises(clock: FixedClock) -> None:
    limiter = make_limiter(clock, bookings_per_call=1)

    async def broken(name: str, arguments: Any) -> dict[str, Any]:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await limiter.wrap(broken)("schedule_appointment", {})
    # The failed attempt released its reservation.
    assert await limiter.check("schedule_appointment") is None


@pytest.mark.asyncio
async def test_booking_cap_holds_against_the_real_registry(registry, ctx, store, clock) -> None:
    limiter = make_limiter(clock, bookings_per_call=1)
    call = limiter.wrap(lambda name, args: registry.call(name, args, ctx))
    first = await call("schedule_appointment", {**BOOKING, "preferred_date": "2026-12-02T10:00"})
    assert first["status"] == "booked"
    second = await call("schedule_appointment", {**BOOKING, "preferred_date": "2026-12-03T10:00"})
    assert is_refusal(second)
    assert await store.count_appointments() == 1


@pytest.mark.asyncio
async def test_limiter_plugs_into_the_tool_bridge(registry, ctx, store, clock) -> None:
    limiter = make_limiter(clock, bookings_per_call=1)
    call = make_tool_caller(registry, ctx, gate=limiter.check, on_result=limiter.record)
    first = await call("schedule_appointment", {**BOOKING, "preferred_date": "2026-12-02T10:00"})
    assert first["status"] == "booked"
    assert limiter.bookings == 1
    second = await call("schedule_appointment", {**BOOKING, "preferred_date": "2026-12-03T10:00"})
    assert is_refusal(second)
    assert await store.count_appointments() == 1


@pytest.mark.asyncio
@pytest.mark.parametrize(("earlier", "allowed"), [(0, True), (2, True), (3, False), (7, False)])
async def test_calls_per_number_per_hour(clock: FixedClock, earlier: int, allowed: bool) -> None:
    recent = RecentCalls(earlier)
    limiter = CallLimiter(
        LimitsSettings(calls_per_number_per_hour=3),
        max_call_seconds=600,
        recent_calls=recent,
        clock=clock,
    )
    assert await limiter.number_allowed("+355691234567") is allowed
    assert recent.asked == [("+355691234567", DEFAULT_NOW - timedelta(hours=1))]
    assert limiter.refusals == ({} if allowed else {"calls_per_number_per_hour": 1})


def test_call_length_cap(clock: FixedClock) -> None:
    limiter = make_limiter(clock, max_call_seconds=120)
    assert not limiter.call_over()
    assert not limiter.call_over(DEFAULT_NOW + timedelta(seconds=119))
    clock.now = DEFAULT_NOW + timedelta(seconds=120)
    assert limiter.call_over()
    assert limiter.call_over(DEFAULT_NOW + timedelta(seconds=500))
    # Reaching the cap is counted once, however often it is asked.
    assert limiter.refusals == {"call_length": 1}
