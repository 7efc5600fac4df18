"""The tool registry: which tools exist, their schemas, who is offered what, and safe dispatch."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pipecat.adapters.llm.schemas.function_schema import FunctionSchema
from pipecat.adapters.llm.schemas.tools_schema import ToolsSchema

from config.clinic import ClinicProfile
from config.settings import load_settings
from tools.catalog import CLINIC_TOOLS
from tools.context import ToolContext, ToolMode
from tools.info import NoArgs
from tools.registry import (
    DEFAULT_TIMEOUT_SECS,
    CallEnding,
    LimitClass,
    ToolRegistry,
    ToolSpec,
)
from validation.errors import InputError

EIGHT_TOOLS = {
    "assess_client_needs",
    "schedule_appointment",
    "schedule_follow_up",
    "get_clinic_info",
    "check_available_slots",
    "get_payment_info",
    "search_web",
    "get_clinic_stats",
}
# The eight clinic tools of the seed plus the call-control tools: end_call, opt_out (the call's
# own number on the do-not-call list), transfer_to_human and voicemail_detected.
ALL_TOOLS = EIGHT_TOOLS | {"end_call", "opt_out", "transfer_to_human", "voicemail_detected"}
# Issue 13: the callee's own appointments (tools/patient_appointments.py).
ALL_TOOLS |= {
    "my_appointments",
    "confirm_appointment",
    "reschedule_appointment",
    "cancel_appointment",
}
PUBLIC_TOOLS = ALL_TOOLS - {"get_clinic_stats"}


def _all_keys(value: Any) -> set[str]:
    """Every dict key at any depth of a JSON-like value."""
    if isinstance(value, dict):
        keys = set(value)
        for item in value.values():
            keys |= _all_keys(item)
        return keys
    if isinstance(value, list):
        return set().union(*(_all_keys(item) for item in value)) if value else set()
    return set()


def _is_error(result: dict[str, Any]) -> bool:
    return (
        isinstance(result.get("error"), str)
        and bool(result["error"])
        and isinstance(result.get("hint"), str)
        and bool(result["hint"])
    )


def test_registry_holds_the_clinic_and_call_control_tools(registry: ToolRegistry) -> None:
    assert len(registry.names) == 16
    assert set(registry.names) == ALL_TOOLS
    for name in ALL_TOOLS:
        spec = registry.get(name)
        assert spec is not None and spec.name == name
    assert registry.get("drop_database") is None


def test_only_the_stats_tool_is_confidential(registry: ToolRegistry) -> None:
    confidential = {name for name in registry.names if registry.get(name).confidential}  # type: ignore[union-attr]
    assert confidential == {"get_clinic_stats"}


def test_a_tool_name_cannot_be_registered_twice() -> None:
    with pytest.raises(ValueError, match="registered twice"):
        ToolRegistry([CLINIC_TOOLS[0], CLINIC_TOOLS[0]])


def test_function_schemas_follow_the_argument_models(
    registry: ToolRegistry, clinic: ClinicProfile
) -> None:
    schemas = registry.function_schemas(clinic, mode=ToolMode.ADMIN, expose_confidential=False)
    assert {schema.name for schema in schemas} == ALL_TOOLS
    for schema in schemas:
        assert isinstance(schema, FunctionSchema)
        spec = registry.get(schema.name)
        assert spec is not None
        model_schema = spec.args_model.model_json_schema()
        assert set(schema.properties) == set(spec.args_model.model_fields)
        assert schema.required == model_schema.get("required", [])
        assert schema.description == spec.description
        for prop in schema.properties.values():
            assert prop.get("description"), f"{schema.name}: every argument is described"


@pytest.mark.parametrize(
    ("tool", "required"),
    [
        # phone_number is optional: a call bound to a number uses its own (tools/appointments.py).
        ("schedule_appointment", {"patient_name", "preferred_date", "service_type"}),
        ("schedule_follow_up", {"client_name", "preferred_time"}),
        ("check_available_slots", {"preferred_date"}),
        ("assess_client_needs", set()),
        ("get_clinic_info", set()),
        ("get_payment_info", set()),
        ("search_web", {"query"}),
        ("get_clinic_stats", set()),
    ],
)
def test_required_arguments(
    registry: ToolRegistry, clinic: ClinicProfile, tool: str, required: set[str]
) -> None:
    schemas = {
        s.name: s
        for s in registry.function_schemas(clinic, mode=ToolMode.ADMIN, expose_confidential=False)
    }
    assert set(schemas[tool].required) == required


def test_string_limits_reach_the_model(registry: ToolRegistry, clinic: ClinicProfile) -> None:
    schemas = {
        s.name: s
        for s in registry.function_schemas(clinic, mode=ToolMode.CALL, expose_confidential=False)
    }
    props = schemas["schedule_appointment"].properties
    assert props["patient_name"] == {
        "type": "string",
        "description": props["patient_name"]["description"],
        "maxLength": 200,
    }
    assert props["phone_number"]["maxLength"] == 32


@pytest.mark.parametrize("tool", ["schedule_appointment", "check_available_slots"])
def test_service_type_enum_is_the_clinic_catalogue(
    registry: ToolRegistry, clinic: ClinicProfile, tool: str
) -> None:
    schemas = {
        s.name: s
        for s in registry.function_schemas(clinic, mode=ToolMode.CALL, expose_confidential=False)
    }
    assert schemas[tool].properties["service_type"]["enum"] == clinic.service_ids
    assert "checkup" in clinic.service_ids

    # A clinic with a smaller catalogue gets a smaller enum: it comes from the profile.
    small = ClinicProfile.model_validate(
        {**clinic.model_dump(), "services": [s.model_dump() for s in clinic.services[:2]]}
    )
    small_schemas = {
        s.name: s
        for s in registry.function_schemas(small, mode=ToolMode.CALL, expose_confidential=False)
    }
    assert small_schemas[tool].properties["service_type"]["enum"] == ["checkup", "cleaning"]


def test_no_pydantic_or_internal_keys_leak_into_schemas(
    registry: ToolRegistry, clinic: ClinicProfile
) -> None:
    schemas = registry.function_schemas(clinic, mode=ToolMode.ADMIN, expose_confidential=True)
    for schema in schemas:
        keys = _all_keys(schema.to_default_dict())
        assert "title" not in keys, schema.name
        assert not [k for k in keys if k.startswith("x-elo")], schema.name
        assert "default" not in keys, schema.name
        # The whole thing is plain JSON.
        json.dumps(schema.to_default_dict())


def test_tools_schema_wraps_the_offered_function_schemas(
    registry: ToolRegistry, clinic: ClinicProfile
) -> None:
    tools = registry.tools_schema(clinic, mode=ToolMode.CALL, expose_confidential=False)
    assert isinstance(tools, ToolsSchema)
    assert {s.name for s in tools.standard_tools} == PUBLIC_TOOLS


@pytest.mark.parametrize(
    ("mode", "expose", "expected"),
    [
        (ToolMode.CALL, False, PUBLIC_TOOLS),
        (ToolMode.CALL, True, ALL_TOOLS),
        (ToolMode.ADMIN, False, ALL_TOOLS),
        (ToolMode.ADMIN, True, ALL_TOOLS),
    ],
)
def test_stats_offered_only_to_admins_or_when_allowed(
    registry: ToolRegistry,
    clinic: ClinicProfile,
    mode: ToolMode,
    expose: bool,
    expected: set[str],
) -> None:
    schemas = registry.function_schemas(clinic, mode=mode, expose_confidential=expose)
    assert {s.name for s in schemas} == expected


def test_stats_are_off_by_default_in_settings() -> None:
    assert load_settings(env_file=None).security.expose_stats_to_model is False


@pytest.mark.asyncio
async def test_stats_call_refused_in_a_patient_call(
    registry: ToolRegistry, ctx: ToolContext
) -> None:
    result = await registry.call("get_clinic_stats", {}, ctx)
    assert _is_error(result)
    assert "get_clinic_stats" in result["error"]
    assert "total_calls" not in result
    assert "revenue_generated_lek" not in result
    # The hint lists what the model may use instead, and the stats tool is not among them.
    assert "get_clinic_stats" not in result["hint"]
    assert "get_clinic_info" in result["hint"]


@pytest.mark.asyncio
async def test_stats_call_allowed_in_a_call_when_the_setting_says_so(
    registry: ToolRegistry, make_context: Callable[..., ToolContext], tmp_path: Path
) -> None:
    exposed = load_settings(
        env_file=None,
        database={"path": tmp_path / "elo.db"},
        security={"expose_stats_to_model": True},
    )
    assert exposed.security.expose_stats_to_model is True
    ctx = make_context(settings=exposed, mode=ToolMode.CALL)
    result = await registry.call("get_clinic_stats", {}, ctx)
    assert "error" not in result
    assert result["total_calls"] == 0


@pytest.mark.asyncio
async def test_stats_call_allowed_for_admins(
    registry: ToolRegistry, make_context: Callable[..., ToolContext]
) -> None:
    result = await registry.call("get_clinic_stats", {"days": 7}, make_context(mode=ToolMode.ADMIN))
    assert "error" not in result
    assert result["period"]["days"] == 7


@pytest.mark.asyncio
@pytest.mark.parametrize("arguments", [None, {}, "{}", "", "   "])
async def test_call_accepts_no_arguments_in_every_form(
    registry: ToolRegistry, ctx: ToolContext, arguments: Any
) -> None:
    result = await registry.call("get_clinic_info", arguments, ctx)
    assert "error" not in result
    assert result["name"] == ctx.clinic.name


@pytest.mark.asyncio
async def test_call_accepts_a_json_string_like_a_dict(
    registry: ToolRegistry, ctx: ToolContext
) -> None:
    args = {"preferred_date": "2026-12-02", "service_type": "cleaning"}
    from_dict = await registry.call("check_available_slots", args, ctx)
    from_json = await registry.call("check_available_slots", json.dumps(args), ctx)
    assert "error" not in from_dict
    assert from_dict["service"]["id"] == "cleaning"
    assert from_json == from_dict


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ('{"preferred_date": "2026-12-02"', "not valid JSON"),
        ("preferred_date=2026-12-02", "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('"2026-12-02"', "must be a JSON object"),
        ("42", "must be a JSON object"),
        ("null", "must be a JSON object"),
        (["2026-12-02"], "must be a JSON object"),
        (json.dumps({"preferred_date": "2026-12-02", "pad": "x" * 20_000}), "too large"),
        # Within the size limit, but beyond what Python's JSON parser will take.
        ("[" * 5_000 + "]" * 5_000, "nested too deeply"),
        ('{"preferred_date": ' + "9" * 5_000 + "}", "too many digits"),
    ],
)
async def test_call_rejects_unusable_arguments(
    registry: ToolRegistry, ctx: ToolContext, arguments: Any, message: str
) -> None:
    result = await registry.call("check_available_slots", arguments, ctx)
    assert _is_error(result)
    assert message in result["error"]
    assert "preferred_date" in result["hint"], "the hint says how to call the tool"
    assert len(json.dumps(result)) < 1000, "the raw arguments are not echoed back"


@pytest.mark.asyncio
async def test_call_refuses_a_mapping_nested_too_deeply(
    registry: ToolRegistry, ctx: ToolContext
) -> None:
    nested: list[Any] = []
    for _ in range(5_000):
        nested = [nested]
    result = await registry.call("check_available_slots", {"preferred_date": nested}, ctx)
    assert _is_error(result)
    assert "nested too deeply" in result["error"]


@pytest.mark.asyncio
async def test_unknown_tool_is_refused_with_the_offered_names(
    registry: ToolRegistry, ctx: ToolContext
) -> None:
    result = await registry.call("delete_all_patients" + "x" * 500, {}, ctx)
    assert _is_error(result)
    assert len(result["error"]) < 120, "the unknown name is truncated"
    for name in PUBLIC_TOOLS:
        assert name in result["hint"]


async def _boom(args: NoArgs, ctx: ToolContext) -> dict[str, Any]:
    raise RuntimeError("database exploded: Arbër Çela +355691234567")


async def _refuse(args: NoArgs, ctx: ToolContext) -> dict[str, Any]:
    raise InputError("when", "is not possible", "Ask again.", {"options": [1, 2]})


@pytest.mark.asyncio
async def test_a_crashing_handler_becomes_an_error_result(ctx: ToolContext) -> None:
    registry = ToolRegistry(
        [ToolSpec(name="boom", description="Always fails.", args_model=NoArgs, handler=_boom)]
    )
    result = await registry.call("boom", None, ctx)
    assert _is_error(result)
    assert "boom" in result["error"]
    # The exception text (which could hold personal data) does not reach the model.
    assert "exploded" not in json.dumps(result)
    assert "355691234567" not in json.dumps(result)


@pytest.mark.asyncio
async def test_an_input_error_from_a_handler_keeps_its_details(ctx: ToolContext) -> None:
    registry = ToolRegistry(
        [ToolSpec(name="refuse", description="Refuses.", args_model=NoArgs, handler=_refuse)]
    )
    result = await registry.call("refuse", {}, ctx)
    assert result == {"error": "when: is not possible", "hint": "Ask again.", "options": [1, 2]}


@pytest.mark.asyncio
async def test_no_argument_tools_refuse_arguments(registry: ToolRegistry, ctx: ToolContext) -> None:
    result = await registry.call("get_payment_info", {"anything": 1}, ctx)
    assert _is_error(result)
    assert "anything" in result["error"]
    assert result["hint"] == "Call get_payment_info with no arguments."


def test_every_write_is_blocking_and_the_declaration_is_complete() -> None:
    from tools.catalog import default_registry

    registry = default_registry()
    writes = registry.names_where(writes=True)
    assert writes == {
        "schedule_appointment",
        "schedule_follow_up",
        "opt_out",
        "transfer_to_human",
        "end_call",
        "voicemail_detected",
        "confirm_appointment",
        "reschedule_appointment",
        "cancel_appointment",
    }
    # The model must wait for every write's outcome, and for the reads whose answer it speaks.
    assert writes <= registry.names_where(blocking=True)
    assert "check_available_slots" in registry.names_where(blocking=True, writes=False)


@pytest.mark.asyncio
async def test_brackets_inside_strings_do_not_count_as_nesting(
    registry: ToolRegistry, ctx: ToolContext
) -> None:
    # A caller may dictate brackets; only structure counts towards the nesting limit.
    args = json.dumps({"preferred_date": "2026-12-02", "service_type": "[" * 200 + '\\"{'})
    result = await registry.call("check_available_slots", args, ctx)
    assert "nested too deeply" not in result.get("error", "")


def test_call_behaviour_is_declared_on_the_specs() -> None:
    from tools.catalog import default_registry

    registry = default_registry()
    assert registry.names_where(limit=LimitClass.BOOKING) == {"schedule_appointment"}
    assert registry.names_where(limit=LimitClass.CALLBACK) == {"schedule_follow_up"}
    assert registry.names_where(limit=LimitClass.SEARCH) == {"search_web"}
    # Never held back by a spent cap: hanging up, and a patient asking to be taken off the list.
    assert registry.names_where(limit=LimitClass.UNCAPPED) == {"end_call", "opt_out"}
    assert registry.ending(CallEnding.END) == "end_call"
    assert registry.ending(CallEnding.TRANSFER) == "transfer_to_human"
    assert registry.ending(CallEnding.VOICEMAIL) == "voicemail_detected"
    # A transfer rings staff before it answers; every other tool has the default.
    timeouts = {spec.name: spec.timeout_secs for spec in CLINIC_TOOLS}
    assert timeouts.pop("transfer_to_human") == 60.0
    assert set(timeouts.values()) == {DEFAULT_TIMEOUT_SECS}
    with pytest.raises(LookupError):
        ToolRegistry([]).ending(CallEnding.END)


def test_made_record_follows_the_declared_status() -> None:
    from tools.catalog import default_registry

    registry = default_registry()
    booking, follow_up = registry.get("schedule_appointment"), registry.get("schedule_follow_up")
    assert booking is not None and follow_up is not None
    assert booking.made_record({"status": "booked", "appointment_id": 1})
    assert not booking.made_record({"status": "booked", "already_booked": True})
    assert not booking.made_record({"error": "slot taken", "hint": "..."})
    assert not booking.made_record(None)
    assert follow_up.made_record({"status": "scheduled"})
    assert not follow_up.made_record({"status": "booked"})
    reads = registry.get("check_available_slots")
    assert reads is not None and not reads.made_record({"status": "booked"})


def test_tool_behaviour_is_not_keyed_by_tool_names_outside_tools() -> None:
    """No string constant in pipeline/ or campaign/ is a tool's name: they read the specs."""
    import ast

    root = Path(__file__).resolve().parents[2]
    names = {spec.name for spec in CLINIC_TOOLS}
    found = []
    for package in ("pipeline", "campaign"):
        for path in sorted((root / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Constant) and node.value in names:
                    found.append(f"{path.relative_to(root)}:{node.lineno} {node.value}")
    assert found == []
