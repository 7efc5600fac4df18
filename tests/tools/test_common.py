"""The argument base every tool shares: invisible characters never reach a handler."""

from __future__ import annotations

import typing
from collections.abc import Callable
from typing import Any

import pytest

from tools.common import ToolArgs
from tools.context import ToolContext
from tools.registry import ToolRegistry

# Zero-width space, soft hyphen, a tag character, a Hangul filler, a bidi override, a line
# separator and a variation selector around visible text.
LACED = "\u200bab\u00ad\U000e0041c\u3164\u202e\ufe0f"


def _str_fields(model: type[ToolArgs]) -> list[str]:
    return [
        name
        for name, field in model.model_fields.items()
        if field.annotation is str or str in typing.get_args(field.annotation)
    ]


def test_every_string_argument_of_every_tool_is_cleaned(registry: ToolRegistry) -> None:
    checked = 0
    for name in registry.names:
        spec = registry.get(name)
        assert spec is not None
        assert issubclass(spec.args_model, ToolArgs), name
        fields = _str_fields(spec.args_model)
        if not fields:
            continue
        # Required whole numbers (an appointment id) get a valid value; the text is laced.
        ids = {
            n: 1
            for n, f in spec.args_model.model_fields.items()
            if f.is_required() and f.annotation is int
        }
        args = spec.args_model.model_validate({**ids, **dict.fromkeys(fields, LACED)})
        for field in fields:
            assert getattr(args, field) == "abc", (name, field)
            checked += 1
    assert checked >= 15  # every text argument of the catalogue, not a lucky few


@pytest.mark.asyncio
async def test_invisible_characters_do_not_break_a_booking(
    registry: ToolRegistry, make_context: Callable[..., ToolContext]
) -> None:
    """A zero-width space inside the number or service id is dropped, not a reason to refuse."""
    args: dict[str, Any] = {
        "patient_name": "Arb\u200bër \u00adÇela",
        "phone_number": "069\u200b 123 4567\u2060",
        "preferred_date": "2026-12-02T10:00\ufeff",
        "service_type": "check\u200dup",
    }
    ctx = make_context()
    result = await registry.call("schedule_appointment", args, ctx)
    assert result["status"] == "booked", result
    patient = await ctx.store.patients.get(phone="+355691234567")
    assert patient is not None and patient.name == "Arbër Çela"


def test_oversized_text_is_refused_not_cleaned(registry: ToolRegistry) -> None:
    spec = registry.get("search_web")
    assert spec is not None
    with pytest.raises(ValueError, match="at most 200"):
        spec.args_model.model_validate({"query": "\u200b" * 20_000})
