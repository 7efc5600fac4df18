import pytest

from tools.context import ToolContext


class RecordingControl:
    """A stand-in for the voice pipeline's call control (the interface tools see)."""

    def __init__(self) -> None:
        self.ended: list[str] = []

    async def end_call(self, *, reason: str) -> None:
        self.ended.append(reason)


@pytest.mark.asyncio
async def test_end_call_asks_the_call_to_end_with_the_reason(registry, make_context):
    control = RecordingControl()
    ctx: ToolContext = make_context(call_control=control)
    result = await registry.call("end_call", {"reason": "opted_out"}, ctx)
    assert result["status"] == "ending" and control.ended == ["opted_out"]


@pytest.mark.asyncio
async def test_end_call_outside_a_call_is_an_error_result(registry, ctx):
    result = await registry.call("end_call", {"reason": "completed"}, ctx)
    assert "error" in result and "hint" in result


@pytest.mark.asyncio
async def test_end_call_refuses_reasons_outside_the_list(registry, make_context):
    control = RecordingControl()
    result = await registry.call(
        "end_call", {"reason": "because"}, make_context(call_control=control)
    )
    assert result["error"].startswith("invalid arguments: reason")
    assert control.ended == []
