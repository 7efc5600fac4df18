import pytest

from config.settings import load_settings
from pipeline.stages import make_llm
from pipeline.tool_bridge import make_tool_caller, register_tools
from tools.catalog import CLINIC_TOOLS
from tools.context import ToolMode
from tools.registry import ToolRegistry


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
    with pytest.raises(RuntimeError):
        await call("schedule_appointment", {})
    assert gate.recorded == [("schedule_appointment", None)]
