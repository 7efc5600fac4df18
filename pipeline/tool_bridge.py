"""Plugging the tool registry into a model service: one handler per offered tool.

The handlers run the registry exactly as the command line does, in the call's context, behind the
call's one tool gate (:func:`make_tool_caller`, with the call's limiter as the gate). What a tool
does in a call (its timeout, whether it writes, blocks or is a booking) is read from its spec.
The model never reaches a tool the registry does not offer in calls.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

from telemetry import ErrorKind, ToolResultKind
from telemetry import record as metrics
from telemetry.vocabulary import UNKNOWN_TOOL
from tools.context import ToolContext, ToolMode
from tools.registry import DEFAULT_TIMEOUT_SECS, LimitClass, ToolRegistry, ToolResult, ToolRun

if TYPE_CHECKING:
    from pipecat.services.llm_service import FunctionCallParams, LLMService


class ToolGate(Protocol):
    """What stands in front of every tool call of a call: ``pipeline.limits.CallLimiter``."""

    async def check(self, tool_name: str) -> ToolResult | None:
        """A refusal result for the model, or None to let the call run."""
        ...

    def record(self, tool_name: str, result: ToolResult | None) -> None:
        """How an accepted call ended: its result, or None when it raised or was cancelled."""
        ...


def make_tool_caller(
    registry: ToolRegistry,
    ctx: ToolContext,
    *,
    gate: ToolGate | None = None,
) -> Callable[[str, Any], Awaitable[ToolResult]]:
    """The tool gate: an async ``(name, arguments) -> result`` that checks, runs and records.

    A call the gate refuses never reaches the registry; an accepted one is always recorded,
    also when the tool raises or is cancelled (its reservation under the caps is released).
    Every call is counted in the metrics by tool and result, with its duration.

    Args:
        registry: The tool registry.
        ctx: The call's tool context.
        gate: The call's limiter; None runs every call (e.g. the command line's own tools).
    """

    async def call(name: str, arguments: Any) -> ToolResult:
        # Metric labels carry registry names only: a name the model made up is "unknown".
        label = name if registry.get(name) is not None else UNKNOWN_TOOL
        refusal = await gate.check(name) if gate is not None else None
        if refusal is not None:
            metrics.tool_called(label, ToolResultKind.REFUSED, None)
            return refusal
        run: ToolRun | None = None
        cancelled = False
        started = time.perf_counter()
        try:
            run = await registry.run(name, arguments, ctx)
        except asyncio.CancelledError:
            cancelled = True
            raise
        finally:
            if gate is not None:
                gate.record(name, run.result if run is not None else None)
            elapsed = time.perf_counter() - started
            kind = _result_kind(run, registry, name, elapsed, cancelled=cancelled)
            metrics.tool_called(label, kind, elapsed)
            if kind is ToolResultKind.ERROR:
                metrics.error(ErrorKind.TOOL)
        return run.result

    return call


def _result_kind(
    run: ToolRun | None, registry: ToolRegistry, name: str, elapsed: float, *, cancelled: bool
) -> ToolResultKind:
    """How a tool call that was let through ended, for the metrics."""
    if cancelled:
        # Pipecat cancels a handler that outlives its timeout (the spec's), whose clock starts
        # after this call's; anything sooner is the server or the call ending.
        spec = registry.get(name)
        limit = spec.timeout_secs if spec is not None else DEFAULT_TIMEOUT_SECS
        return ToolResultKind.TIMEOUT if elapsed >= limit * 0.99 else ToolResultKind.CANCELLED
    if run is None or run.raised:
        return ToolResultKind.ERROR
    return ToolResultKind.INPUT_ERROR if "error" in run.result else ToolResultKind.OK


def register_tools(
    llm: LLMService,
    registry: ToolRegistry,
    ctx: ToolContext,
    *,
    gate: ToolGate | None = None,
) -> list[str]:
    """Register a handler on ``llm`` for every tool offered in calls, and a catch-all.

    The catch-all answers any other name the model calls with the registry's refusal.

    Args:
        llm: The model service.
        registry: The tool registry.
        ctx: The call's tool context (mode CALL).
        gate: The call's limiter (see :func:`make_tool_caller`).

    Returns:
        The names registered.
    """
    caller = make_tool_caller(registry, ctx, gate=gate)
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
        declare(
            blocking=registry.names_where(blocking=True),
            writes=writes,
            bookings=registry.names_where(limit=LimitClass.BOOKING),
        )

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
        llm.register_function(spec.name, handler, timeout_secs=spec.timeout_secs)
    # Any other name (a tool the model made up, or one not offered in calls) also goes to the
    # registry, which refuses it with the usual {"error", "hint"} listing the real tools;
    # Pipecat's own fallback would answer with a bare sentence instead.
    llm.register_function(None, handler, timeout_secs=DEFAULT_TIMEOUT_SECS)
    names = [spec.name for spec in offered]
    metrics.tools_offered([*names, UNKNOWN_TOOL])
    return names
