"""Plugging the tool registry into a model service: one handler per offered tool.

The handlers run the registry exactly as the command line does, in the call's context, behind the
call's limits. The model never reaches a tool the registry does not offer in calls.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from tools.context import ToolContext, ToolMode
from tools.registry import ToolRegistry, ToolResult

if TYPE_CHECKING:
    from pipecat.services.llm_service import FunctionCallParams, LLMService

# Optional gate in front of every tool call: returns a refusal result, or None to proceed.
Gate = Callable[[str], Awaitable[ToolResult | None]]
ResultHook = Callable[[str, ToolResult | None], None]

# A transfer rings staff before it answers, and a failed one must still leave its callback.
_TIMEOUTS = {"transfer_to_human": 60.0}
_DEFAULT_TIMEOUT = 15.0


def make_tool_caller(
    registry: ToolRegistry,
    ctx: ToolContext,
    *,
    gate: Gate | None = None,
    on_result: ResultHook | None = None,
) -> Callable[[str, Any], Awaitable[ToolResult]]:
    """An async ``(name, arguments) -> result`` that applies the gate, then the registry."""

    async def call(name: str, arguments: Any) -> ToolResult:
        refusal = await gate(name) if gate is not None else None
        if refusal is not None:
            return refusal
        result: ToolResult | None = None
        try:
            result = await registry.call(name, arguments, ctx)
        finally:
            # Also when the tool raised or was cancelled: a gate's reservation must be released.
            if on_result is not None:
                on_result(name, result)
        return result

    return call


def register_tools(
    llm: LLMService,
    registry: ToolRegistry,
    ctx: ToolContext,
    *,
    gate: Gate | None = None,
    on_result: ResultHook | None = None,
) -> list[str]:
    """Register a handler on ``llm`` for every tool offered in calls, and a catch-all.

    The catch-all answers any other name the model calls with the registry's refusal.

    Args:
        llm: The model service.
        registry: The tool registry.
        ctx: The call's tool context (mode CALL).
        gate: Optional limiter consulted before each call.
        on_result: Optional hook told of each executed call's result (e.g. to count bookings).

    Returns:
        The names registered.
    """
    caller = make_tool_caller(registry, ctx, gate=gate, on_result=on_result)
    offered = registry.offered(
        mode=ToolMode.CALL, expose_confidential=ctx.settings.security.expose_stats_to_model
    )

    # Writes (ToolSpec.writes) must deliver their result even if the call is cancelled: a booking
    # that committed but whose result was lost would be invisible to the model and booked again.
    writes = registry.names_where(writes=True)
    declare = getattr(llm, "declare_tools", None)
    if declare is not None:
        # ResilientGeminiLive: BLOCKING declarations and barge-in/cancellation handling follow
        # the registry (pipeline/tool_calls.py).
        declare(blocking=registry.names_where(blocking=True), writes=writes)

    async def handler(params: FunctionCallParams) -> None:
        work = caller(params.function_name, dict(params.arguments or {}))
        if params.function_name in writes:
            # Shielded: a cancellation must not cut a booking between commit and result.
            task = asyncio.ensure_future(work)
            try:
                result = await asyncio.shield(task)
            except asyncio.CancelledError:
                # Cancelled here (e.g. Pipecat's per-call timeout): the write goes on, and its
                # outcome still reaches the model once it is known.
                report = getattr(llm, "report_late_write", None)
                if report is not None:
                    report(params.tool_call_id, params.function_name, task)
                raise
        else:
            result = await work
        await params.result_callback(result)

    for spec in offered:
        llm.register_function(
            spec.name, handler, timeout_secs=_TIMEOUTS.get(spec.name, _DEFAULT_TIMEOUT)
        )
    # Any other name (a tool the model made up, or one not offered in calls) also goes to the
    # registry, which refuses it with the usual {"error", "hint"} listing the real tools;
    # Pipecat's own fallback would answer with a bare sentence instead.
    llm.register_function(None, handler, timeout_secs=_DEFAULT_TIMEOUT)
    return [spec.name for spec in offered]
