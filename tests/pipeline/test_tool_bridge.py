import asyncio

import pytest

from config.settings import load_settings
from pipeline.stages import make_llm
from pipeline.tool_bridge import make_tool_caller, register_tools
from tests.telemetry.scrape import Scrape
from tools.catalog import CLINIC_TOOLS
from tools.common import ToolArgs
from tools.context import ToolMode
from tools.registry import ToolRegistry, ToolSpec


class Gate:
    """A tool gate that refuses the names in ``refuse`` and remembers what it recorded."""

    def __init__(self, refuse: dict | None = None, name: str | None = None) -> None:
        self._refuse = refuse
        self._name = name
        self.recorded: list = []

    async def check(self, name):
        return self._refuse if self._refuse is not None and name == self._name else None

    def record(self, name, result):
        self.recorded.append((name, result))


@pytest.mark.asyncio
async def test_caller_runs_the_registry_in_the_call_context(registry, ctx):
    gate = Gate()
    call = make_tool_caller(registry, ctx, gate=gate)
    result = await call("check_available_slots", {"preferred_date": "2026-12-02"})
    assert result["available"] is True
    assert gate.recorded == [("check_available_slots", result)]


@pytest.mark.asyncio
async def test_gate_refusal_never_reaches_the_registry(registry, ctx, snapshot_counts):
    refusal = {"error": "limit reached", "hint": "Apologise."}
    gate = Gate(refusal, "schedule_appointment")
    call = make_tool_caller(registry, ctx, gate=gate)
    args = {
        "patient_name": "Arbër Çela",
        "preferred_date": "2026-12-02T10:00",
        "service_type": "checkup",
        "phone_number": "069 123 4567",
    }
    before = await snapshot_counts()
    assert await call("schedule_appointment", args) == refusal
    assert await snapshot_counts() == before
    assert gate.recorded == []


@pytest.mark.asyncio
async def test_confidential_tool_is_not_callable_in_a_patient_call(registry, ctx):
    call = make_tool_caller(registry, ctx)
    result = await call("get_clinic_stats", {})
    assert "error" in result and "total_calls" not in result


def test_register_tools_registers_exactly_the_tools_offered_in_calls(
    registry, make_context, clinic
):
    settings = load_settings(env_file=None, google={"api_key": "k"})
    ctx = make_context(settings=settings)
    tools = registry.tools_schema(clinic, mode=ToolMode.CALL, expose_confidential=False)
    llm = make_llm(settings, tools=tools, system_instruction="x", language="sq")
    names = register_tools(llm, registry, ctx)
    assert sorted(names) == sorted(s.name for s in tools.standard_tools)
    assert "get_clinic_stats" not in names
    assert all(llm.has_function(name) for name in names)


@pytest.fixture
def snapshot_counts(store):
    async def counts():
        return (await store.patients.count(), await store.appointments.count())

    return counts


@pytest.mark.asyncio
async def test_a_tool_that_raises_still_releases_the_gates_reservation(ctx):
    """The limiter reserves a booking's place at the gate; a crash must give it back."""

    class Broken(ToolRegistry):
        async def run(self, name, arguments, context):
            raise RuntimeError("tool crashed")

    gate = Gate()
    call = make_tool_caller(Broken(CLINIC_TOOLS), ctx, gate=gate)
    before = Scrape.in_process()
    with pytest.raises(RuntimeError):
        await call("schedule_appointment", {})
    assert gate.recorded == [("schedule_appointment", None)]
    after = Scrape.in_process()
    labels = {"tool": "schedule_appointment", "result": "error"}
    assert after.value("elo_tool_calls_total", **labels) == (
        before.value("elo_tool_calls_total", **labels) + 1
    )


class _NoArgs(ToolArgs):
    pass


async def _raises(args, ctx):
    raise RuntimeError("the tool broke")


async def _slow(args, ctx):
    await asyncio.sleep(60)
    return {"status": "done"}


def _registry_with_trouble() -> ToolRegistry:
    return ToolRegistry(
        [
            *CLINIC_TOOLS,
            ToolSpec("broken_tool", "Fails.", _NoArgs, _raises),
            ToolSpec("slow_tool", "Hangs.", _NoArgs, _slow, timeout_secs=0.2),
        ]
    )


@pytest.mark.asyncio
async def test_a_tool_that_fails_is_counted_as_an_error_and_an_error_kind(ctx):
    call = make_tool_caller(_registry_with_trouble(), ctx)
    before = Scrape.in_process()
    result = await call("broken_tool", {})
    after = Scrape.in_process()
    assert "internal problem" in result["error"]
    assert after.value("elo_tool_calls_total", tool="broken_tool", result="error") == (
        before.value("elo_tool_calls_total", tool="broken_tool", result="error") + 1
    )
    assert after.value("elo_errors_total", kind="tool") == (
        before.value("elo_errors_total", kind="tool") + 1
    )


@pytest.mark.asyncio
async def test_a_tool_cut_off_at_its_timeout_is_a_timeout_and_sooner_is_cancelled(ctx):
    """Pipecat cancels a handler once its spec's timeout has passed since the handler started."""
    call = make_tool_caller(_registry_with_trouble(), ctx, gate=Gate())

    async def cut_off(after_secs: float) -> None:
        task = asyncio.ensure_future(call("slow_tool", {}))
        await asyncio.sleep(0)  # it runs until it waits inside the tool
        await asyncio.sleep(after_secs)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    before = Scrape.in_process()
    await cut_off(0.2)  # the spec's timeout_secs
    await cut_off(0.0)
    after = Scrape.in_process()

    def grew(result: str) -> float:
        labels = {"tool": "slow_tool", "result": result}
        return after.value("elo_tool_calls_total", **labels) - before.value(
            "elo_tool_calls_total", **labels
        )

    assert (grew("timeout"), grew("cancelled"), grew("ok")) == (1, 1, 0)
