"""get_clinic_stats: aggregate numbers only, never a patient's details."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from storage import Store
from tools.context import ToolContext, ToolMode
from tools.registry import ToolRegistry

PEOPLE = [
    ("Arbër Çela", "069 123 4567", "+355691234567"),
    ("Besa Krasniqi", "068 222 3333", "+355682223333"),
]


def _keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value).union(*(_keys(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(_keys(v) for v in value))
    return set()


@pytest.fixture
def admin(make_context: Callable[..., ToolContext]) -> ToolContext:
    return make_context(mode=ToolMode.ADMIN)


async def _activity(registry: ToolRegistry, ctx: ToolContext, store: Store) -> None:
    """Two bookings by the agent in one call, a follow-up and a second call without a booking."""
    await store.calls.start(call_id="call-1")
    for (name, phone, _), when, service in zip(
        PEOPLE, ("2026-12-02T10:00", "2026-12-03T15:00"), ("filling", "whitening"), strict=True
    ):
        booked = await registry.call(
            "schedule_appointment",
            {
                "patient_name": name,
                "phone_number": phone,
                "preferred_date": when,
                "service_type": service,
            },
            ctx,
        )
        assert booked["status"] == "booked"
    await store.calls.finish(
        call_id="call-1", outcome="booked", appointments_booked=2, revenue_booked=25000
    )
    await store.calls.start(call_id="call-2")
    follow = await registry.call(
        "schedule_follow_up",
        {"client_name": PEOPLE[0][0], "phone_number": PEOPLE[0][1], "preferred_time": "2026-12-04"},
        ctx,
    )
    assert follow["status"] == "scheduled"
    await store.calls.finish(call_id="call-2", outcome="follow_up")


@pytest.mark.asyncio
async def test_stats_on_an_empty_clinic(registry: ToolRegistry, admin: ToolContext) -> None:
    result = await registry.call("get_clinic_stats", None, admin)
    assert result == {
        "period": {"from": "2026-11-02", "to": "2026-12-01", "days": 30},
        "total_calls": 0,
        "appointments_booked": 0,
        "revenue_generated_lek": 0,
        "conversion_rate": 0.0,
        "upcoming_appointments": 0,
        "pending_follow_ups": 0,
    }


@pytest.mark.asyncio
async def test_stats_add_up_the_activity(
    registry: ToolRegistry, ctx: ToolContext, admin: ToolContext, store: Store
) -> None:
    await _activity(registry, ctx, store)
    result = await registry.call("get_clinic_stats", {"days": 7}, admin)
    assert result["period"] == {"from": "2026-11-25", "to": "2026-12-01", "days": 7}
    assert result["total_calls"] == 2
    assert result["appointments_booked"] == 2
    assert result["revenue_generated_lek"] == 5000 + 20000
    assert type(result["revenue_generated_lek"]) is int
    assert result["conversion_rate"] == 0.5
    assert result["upcoming_appointments"] == 2
    assert result["pending_follow_ups"] == 1


@pytest.mark.asyncio
async def test_stats_contain_no_personal_data(
    registry: ToolRegistry, ctx: ToolContext, admin: ToolContext, store: Store
) -> None:
    await _activity(registry, ctx, store)
    result = await registry.call("get_clinic_stats", {"days": 365}, admin)
    assert "error" not in result
    for key in _keys(result):
        for word in ("phone", "name", "email", "patient"):
            assert word not in key.casefold(), key
    text = json.dumps(result, ensure_ascii=False)
    for name, written, e164 in PEOPLE:
        for part in (*name.split(), written, e164, e164[1:], e164[4:]):
            assert part not in text
    assert "call-1" not in text and "call-2" not in text


@pytest.mark.asyncio
async def test_period_leaves_out_older_days(
    registry: ToolRegistry, ctx: ToolContext, admin: ToolContext, store: Store, clock: Any
) -> None:
    await _activity(registry, ctx, store)
    clock.now = clock.now.replace(day=20)  # 19 days later
    recent = await registry.call("get_clinic_stats", {"days": 7}, admin)
    longer = await registry.call("get_clinic_stats", {"days": 30}, admin)
    assert recent["total_calls"] == 0 and recent["revenue_generated_lek"] == 0
    assert longer["total_calls"] == 2 and longer["revenue_generated_lek"] == 25000
    # The appointments are in the past by now.
    assert longer["upcoming_appointments"] == 0


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("args", "problem"),
    [
        ({"days": 0}, "days"),
        ({"days": 100_000}, "days"),
        ({"days": 7.5}, "days"),
        ({"days": None}, "days must be a whole number"),
        ({"patient": "Arbër"}, "patient is not an argument"),
    ],
)
async def test_stats_arguments_are_checked(
    registry: ToolRegistry, admin: ToolContext, args: dict[str, Any], problem: str
) -> None:
    result = await registry.call("get_clinic_stats", args, admin)
    assert problem in result["error"]
    assert result["hint"]


@pytest.mark.asyncio
async def test_days_as_a_json_double_is_accepted(
    registry: ToolRegistry, admin: ToolContext
) -> None:
    """Gemini sends JSON numbers as doubles; 7.0 means 7."""
    result = await registry.call("get_clinic_stats", '{"days": 7.0}', admin)
    assert result["period"]["days"] == 7
    assert type(result["period"]["days"]) is int
