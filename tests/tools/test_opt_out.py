"""opt_out: the call's bound number goes on the do-not-call list; the model cannot pick a number."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from storage import Store
from tools.context import ToolContext, ToolMode
from tools.registry import ToolRegistry

ARTA = "+355691234567"
OTHER = "+355682223344"

Rows = list[dict[str, Any]]


@pytest.mark.asyncio
async def test_opt_out_lists_the_bound_number_and_steers_to_end_call(
    registry: ToolRegistry,
    make_context: Callable[..., ToolContext],
    rows: Callable[..., Rows],
) -> None:
    ctx = make_context(phone=ARTA, call_id="call-7")
    result = await registry.call("opt_out", {"reason": "  not interested  "}, ctx)

    assert result["status"] == "opted_out"
    assert "end_call" in result["hint"] and "opted_out" in result["hint"]
    assert ARTA not in str(result)  # the model is not told the number back
    assert rows("SELECT phone, reason, source, call_id FROM do_not_call") == [
        {"phone": ARTA, "reason": "not interested", "source": "agent", "call_id": "call-7"}
    ]


@pytest.mark.asyncio
async def test_opt_out_twice_keeps_one_entry(
    registry: ToolRegistry,
    make_context: Callable[..., ToolContext],
    store: Store,
) -> None:
    ctx = make_context(phone=ARTA, call_id="call-7")
    first = await registry.call("opt_out", {}, ctx)
    second = await registry.call("opt_out", None, ctx)
    assert first["status"] == second["status"] == "opted_out"
    entries = await store.dnc.list()
    assert [(e.phone, e.reason, e.call_id) for e in entries] == [(ARTA, None, "call-7")]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "arguments",
    [{"phone": OTHER}, {"phone_number": OTHER}, {"reason": "x", "phone_number": OTHER}],
)
async def test_opt_out_takes_no_phone_number_from_the_model(
    registry: ToolRegistry,
    make_context: Callable[..., ToolContext],
    store: Store,
    arguments: dict[str, Any],
) -> None:
    result = await registry.call("opt_out", arguments, make_context(phone=ARTA))
    assert "error" in result and "not an argument" in result["error"]
    assert await store.dnc.list() == []


@pytest.mark.asyncio
@pytest.mark.parametrize("mode", [ToolMode.CALL, ToolMode.ADMIN])
async def test_opt_out_without_a_bound_number_is_an_error_and_writes_nothing(
    registry: ToolRegistry,
    make_context: Callable[..., ToolContext],
    snapshot: Callable[[], dict[str, Rows]],
    mode: ToolMode,
) -> None:
    before = snapshot()
    result = await registry.call("opt_out", {"reason": "stop"}, make_context(mode=mode))
    assert result["error"] and "end_call" in result["hint"]
    assert snapshot() == before


@pytest.mark.asyncio
async def test_opt_out_reason_is_bounded_and_cleaned(
    registry: ToolRegistry,
    make_context: Callable[..., ToolContext],
    store: Store,
) -> None:
    ctx = make_context(phone=ARTA)
    too_long = await registry.call("opt_out", {"reason": "ZZZZZZZZZZ" * 30}, ctx)
    assert too_long["error"].startswith("invalid arguments: reason is too long")
    assert "ZZZZZZZZZZ" not in str(too_long)
    assert await store.dnc.list() == []

    result = await registry.call("opt_out", {"reason": "<b>mos</b> më telefononi"}, ctx)
    assert result["status"] == "opted_out"
    (entry,) = await store.dnc.list()
    assert entry.reason == "mos më telefononi"


def test_opt_out_is_offered_in_calls_and_its_schema_has_no_phone(
    registry: ToolRegistry, clinic: Any
) -> None:
    offered = {s.name for s in registry.offered(mode=ToolMode.CALL, expose_confidential=False)}
    assert "opt_out" in offered
    assert registry.names.index("opt_out") == registry.names.index("end_call") + 1
    (schema,) = [
        s
        for s in registry.function_schemas(clinic, mode=ToolMode.CALL, expose_confidential=False)
        if s.name == "opt_out"
    ]
    assert set(schema.properties) == {"reason"} and schema.required == []
