"""Assembling a call's pipeline around its transport.

The pipeline is ``transport in -> user aggregator (local VAD) -> Gemini Live -> transport out ->
assistant aggregator``. The observers (transcript, analytics, the session's watches) see both
directions without sitting on the audio path; the transport wires its own events
(:mod:`pipeline.call.transport`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker, ProcessorUnusablePolicy
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import (
    LLMContextAggregatorPair,
    LLMUserAggregatorParams,
)
from pipecat.services.llm_service import LLMService

from app.application import Application
from config.clock import Clock, system_clock
from config.settings import AppSettings
from pipeline.call.spec import CallSpec
from pipeline.limits import CallLimiter, WriteCounts
from pipeline.metadata import CallMetadata
from pipeline.observers.base import FrameObserver
from pipeline.observers.group import ObserverGroup
from pipeline.prompts import build_system_instruction
from pipeline.stages import make_llm, make_turn_strategies, make_vad
from pipeline.tool_bridge import register_tools
from storage import Store
from tools.call_port import CallControl
from tools.context import ToolContext, ToolMode
from tools.registry import ToolRegistry


@dataclass(frozen=True)
class CallPipeline:
    """A call's pipeline, built and not started.

    Attributes:
        worker: Runs the pipeline.
        context: The model's context (the greeting goes in here).
    """

    worker: PipelineWorker
    context: LLMContext


def call_limiter(
    settings: AppSettings,
    store: Store,
    tools: ToolRegistry,
    *,
    phone: str | None,
    clock: Clock = system_clock,
) -> CallLimiter:
    """The limiter of one call, with its database counts wired to ``store``.

    Args:
        settings: Application settings (the caps).
        store: The database the counts across calls come from.
        tools: The tool registry (each tool's spec says which caps it counts against).
        phone: The number the call is bound to, or None (browser, file).
        clock: Source of the current time.
    """

    async def number_writes(number: str, since: datetime) -> WriteCounts:
        return WriteCounts(*await store.calls.writes_for_number(phone=number, since=since))

    async def unbound_writes(since: datetime) -> int:
        return await store.calls.unbound_writes(since=since)

    return CallLimiter(
        settings.limits,
        tools=tools,
        phone=phone,
        number_writes=number_writes,
        unbound_writes=unbound_writes,
        clock=clock,
    )


def call_tools(app: Application, metadata: CallMetadata, control: CallControl) -> ToolContext:
    """The context the call's tools run in: bound to the call, its number and its controls."""
    return app.tool_context(
        mode=ToolMode.CALL,
        language=metadata.language,
        call_id=metadata.call_id,
        phone=metadata.phone,
        call_control=control,
        patient_name=metadata.patient_name,
        purpose=metadata.purpose,
    )


def call_llm(
    app: Application, metadata: CallMetadata, *, tools: ToolContext, limiter: CallLimiter
) -> LLMService:
    """The call's model: its system instruction and its tools, each call through the limiter."""
    settings, clinic = app.settings, app.clinic
    llm = make_llm(
        settings,
        tools=app.registry.tools_schema(
            clinic,
            mode=ToolMode.CALL,
            expose_confidential=settings.security.expose_stats_to_model,
        ),
        system_instruction=build_system_instruction(clinic, metadata, now=app.clock()),
        language=metadata.language,
        http_client_args=app.http_client_args,
    )
    register_tools(llm, app.registry, tools, gate=limiter)
    return llm


def call_pipeline(
    settings: AppSettings,
    spec: CallSpec,
    *,
    llm: LLMService,
    observers: Sequence[FrameObserver],
) -> CallPipeline:
    """The call's pipeline around ``spec.transport``, with ``observers`` (in this order).

    Args:
        settings: Application settings (VAD, turns, rates, silence timeout).
        spec: The call (its transport, and whether it waits for the answer).
        llm: The call's model (see :func:`call_llm`).
        observers: Every observer of the call's frames.
    """
    context = LLMContext()
    aggregators = LLMContextAggregatorPair(
        context,
        user_params=LLMUserAggregatorParams(
            vad_analyzer=make_vad(settings), user_turn_strategies=make_turn_strategies(settings)
        ),
    )
    transport = spec.transport
    worker = PipelineWorker(
        Pipeline(
            [
                transport.input(),
                aggregators.user(),
                llm,
                transport.output(),
                aggregators.assistant(),
            ]
        ),
        params=PipelineParams(
            # The rate processors learn from the start frame (Smart Turn reads it; the VAD
            # is built with the same setting): the line's, not Pipecat's 16 kHz default.
            audio_in_sample_rate=settings.pipeline.input_sample_rate,
            enable_metrics=True,
            enable_usage_metrics=True,
        ),
        # One Pipecat observer for all: each observer costs a queue and a task per frame.
        observers=[ObserverGroup(*observers)],
        idle_timeout_secs=settings.pipeline.silence_timeout_secs,
        # Waiting for the answer, the ringing is silent: the session's on_idle decides instead.
        cancel_on_idle_timeout=not spec.wait_for_answer,
        processor_unusable_policy=ProcessorUnusablePolicy.CANCEL,
    )
    return CallPipeline(worker=worker, context=context)
