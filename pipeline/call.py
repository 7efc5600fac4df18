"""One call, end to end: build the pipeline around a transport, run it, record the outcome.

The pipeline is ``transport in -> user aggregator (local VAD) -> Gemini Live -> transport out ->
assistant aggregator``. The transcript logger and analytics counter are observers, so they see both
directions without sitting on the audio path. Every call ends with an outcome in ``calls``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from loguru import logger

from config.clinic import ClinicProfile
from config.logs import bind_call, redactor
from config.settings import AppSettings
from pipeline.limits import CallLimiter
from pipeline.metadata import CallMetadata
from pipeline.processors import CallAnalytics, TranscriptLogger
from pipeline.processors.group import ObserverGroup
from pipeline.prompts import build_system_instruction, prompt_language
from pipeline.stages import make_llm, make_vad
from pipeline.tool_bridge import register_tools
from pipeline.watchdogs import FirstAudioWatch, TurnAfterToolWatch
from storage import CallRecord, Store
from tools.context import ToolMode, build_context, system_clock
from tools.registry import ToolRegistry

# What the model is told when the callee is on the line, so that Elo speaks first.
_GREET = {
    "sq": "Pacienti sapo u përgjigj në telefon. Përshëndete tani, siç thonë udhëzimet.",
    "en": "The patient has just answered the phone. Greet them now, as instructed.",
}
# end_call reasons that are outcomes in their own right (others become "completed").
_REASON_OUTCOMES = {
    "declined": "declined",
    "opted_out": "opted_out",
    "voicemail": "voicemail",
    "wrong_person": "wrong_person",
    "call_back_later": "follow_up",
}


class CallRefusedError(Exception):
    """The call may not be placed (e.g. the number's hourly cap); nothing was recorded."""


@dataclass(frozen=True)
class CallResult:
    """How a call ended."""

    record: CallRecord
    summary: dict[str, Any]


class CallSession:
    """Runs one call and records it. Also the :class:`tools.call_control.CallControl` of the call.

    Args:
        settings: Application settings.
        clinic: The clinic profile.
        store: The database.
        registry: The tool registry.
        metadata: Who is called and why.
        transport: The call's transport (see :func:`pipeline.transports.make_transport`).
        clock: Source of the current time.
        first_audio_timeout: Seconds to wait for Elo's first audio after the greeting starts;
            silence by then means the model never answered and the call fails.
        goodbye_timeout: Seconds end_call waits for Elo's goodbye turn to end before ending
            the call anyway (the model may have said goodbye before calling it).
        http_client_args: Extra model-client arguments (e.g. an SSL context for an emulator).
    """

    def __init__(
        self,
        *,
        settings: AppSettings,
        clinic: ClinicProfile,
        store: Store,
        registry: ToolRegistry,
        metadata: CallMetadata,
        transport: Any,
        clock: Callable[[], datetime] = system_clock,
        first_audio_timeout: float = 15.0,
        goodbye_timeout: float = 10.0,
        http_client_args: dict[str, Any] | None = None,
    ) -> None:
        self._settings = settings
        self._clinic = clinic
        self._store = store
        self._registry = registry
        self.metadata = metadata
        self._transport = transport
        self._clock = clock
        self._first_audio_timeout = first_audio_timeout
        self._goodbye_timeout = goodbye_timeout
        self._http_client_args = http_client_args
        self._worker: Any = None
        self._outcome: tuple[str, str | None] | None = None
        self._ending = False
        self._goodbye: TurnAfterToolWatch | None = None
        self._tasks: list[asyncio.Task] = []

    def _set_outcome(self, outcome: str, reason: str | None = None) -> None:
        # The first cause wins: a failure after the patient hung up is still a hang-up.
        if self._outcome is None:
            self._outcome = (outcome, reason)

    async def cancel(self, *, reason: str = "cancelled by the operator") -> None:
        """Stop the call now (e.g. a campaign runner shutting down); it is still recorded.

        Cancelling the task that runs :meth:`run` is not enough: Pipecat's runner absorbs the
        cancellation, so callers stop a call through this method.
        """
        self._set_outcome("cancelled", reason)
        if self._worker is not None:
            await self._worker.cancel()

    async def end_call(self, *, reason: str) -> None:
        """End the call after Elo's goodbye (the model's end_call tool)."""
        self._set_outcome(_REASON_OUTCOMES.get(reason, "completed"), reason)
        if self._goodbye is None:
            await self._finish_gracefully()
        elif not self._ending:
            # The goodbye is the model's answer to this tool's result, so it has not started
            # yet: ending now would cut it. Wait for that turn in the background.
            self._tasks.append(asyncio.create_task(self._end_after_goodbye(self._goodbye)))

    async def _end_after_goodbye(self, goodbye: TurnAfterToolWatch) -> None:
        try:
            await asyncio.wait_for(goodbye.finished.wait(), timeout=self._goodbye_timeout)
        except TimeoutError:
            logger.info("no goodbye turn after end_call; ending the call")
        await self._finish_gracefully()

    async def _finish_gracefully(self) -> None:
        from pipecat.frames.frames import EndFrame

        if not self._ending and self._worker is not None:
            self._ending = True
            await self._worker.queue_frame(EndFrame())

    async def run(self) -> CallResult:
        """Run the call to its end and record the outcome.

        Raises:
            CallRefusedError: The number is on the do-not-call list or has had too many calls
                this hour.
        """
        with bind_call(self.metadata.call_id):
            return await self._run()

    async def _run(self) -> CallResult:
        from pipecat.pipeline.pipeline import Pipeline
        from pipecat.pipeline.worker import PipelineParams, PipelineWorker, ProcessorUnusablePolicy
        from pipecat.processors.aggregators.llm_context import LLMContext
        from pipecat.processors.aggregators.llm_response_universal import (
            LLMContextAggregatorPair,
            LLMUserAggregatorParams,
        )
        from pipecat.workers.runner import WorkerRunner

        settings, meta, store = self._settings, self.metadata, self._store
        if meta.patient_name:
            redactor.remember_name(meta.patient_name)

        async def recent_calls(phone: str, since: datetime) -> int:
            return await store.count_recent_calls(phone=phone, since=since)

        limiter = CallLimiter(
            settings.limits,
            max_call_seconds=settings.pipeline.max_call_seconds,
            recent_calls=recent_calls,
            clock=self._clock,
        )
        if meta.phone and await store.is_do_not_call(phone=meta.phone):
            raise CallRefusedError("this number is on the do-not-call list")
        if meta.phone and not await limiter.number_allowed(meta.phone):
            raise CallRefusedError("this number has had the most calls allowed in the last hour")

        patient = await store.get_patient(phone=meta.phone) if meta.phone else None
        await store.start_call(
            call_id=meta.call_id, patient_id=patient.id if patient else None, phone=meta.phone
        )
        ctx = build_context(
            store=store,
            settings=settings,
            clinic=self._clinic,
            clock=self._clock,
            mode=ToolMode.CALL,
            language=meta.language,
            call_id=meta.call_id,
            phone=meta.phone,
            call_control=self,
        )
        language = prompt_language(meta.language)
        llm = make_llm(
            settings,
            tools=self._registry.tools_schema(
                self._clinic,
                mode=ToolMode.CALL,
                expose_confidential=settings.security.expose_stats_to_model,
            ),
            system_instruction=build_system_instruction(self._clinic, meta, now=self._clock()),
            language=meta.language,
            http_client_args=self._http_client_args,
        )
        analytics = CallAnalytics(limiter=limiter)
        register_tools(llm, self._registry, ctx, gate=limiter.check, on_result=limiter.record)

        async def save_progress(entries: list[dict[str, Any]]) -> None:
            await store.save_call_progress(
                call_id=meta.call_id,
                transcript=entries,
                counters=analytics.summary(),
                turns=analytics.turns,
                tool_calls=analytics.tool_calls,
            )

        transcript = TranscriptLogger(on_update=save_progress, clock=self._clock)
        first_audio = FirstAudioWatch()
        self._goodbye = TurnAfterToolWatch("end_call")
        context = LLMContext()
        aggregators = LLMContextAggregatorPair(
            context, user_params=LLMUserAggregatorParams(vad_analyzer=make_vad(settings))
        )
        transport = self._transport
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
            params=PipelineParams(enable_metrics=True, enable_usage_metrics=True),
            # One Pipecat observer for all four: each observer costs a queue and a task per frame.
            observers=[ObserverGroup(transcript, analytics, first_audio, self._goodbye)],
            idle_timeout_secs=settings.pipeline.silence_timeout_secs,
            processor_unusable_policy=ProcessorUnusablePolicy.CANCEL,
        )
        self._worker = worker
        watchdogs = self._tasks

        async def greet(*_: Any) -> None:
            from pipecat.frames.frames import LLMRunFrame

            context.add_message({"role": "user", "content": _GREET[language]})
            await worker.queue_frame(LLMRunFrame())
            watchdogs.append(asyncio.create_task(self._watch_first_audio(first_audio)))

        self._greet_when_answered(transport, worker, greet)

        @worker.event_handler("on_idle_timeout")
        async def on_idle(_worker: Any) -> None:
            self._set_outcome("no_response", "silence")

        @worker.event_handler("on_pipeline_error")
        async def on_error(_worker: Any, frame: Any) -> None:
            self._set_outcome("failed", _error_text(frame))
            await worker.cancel()

        watchdogs.append(asyncio.create_task(self._watch_length()))
        runner = WorkerRunner(handle_sigint=False)
        await runner.add_workers(worker)
        try:
            await runner.run()
        finally:
            for task in watchdogs:
                task.cancel()
            await transcript.flush()
        await save_progress(transcript.entries)
        outcome, reason = self._outcome or ("completed", None)
        if analytics.bookings and outcome not in ("failed", "opted_out"):
            outcome = "booked"
        record = await store.finish_call(
            call_id=meta.call_id,
            outcome=outcome,
            outcome_reason=reason,
            appointments_booked=analytics.bookings,
            revenue_booked=analytics.revenue_lek,
        )
        logger.info("call ended: {} ({})", outcome, reason or "-")
        return CallResult(record=record, summary=analytics.summary())

    def _greet_when_answered(self, transport: Any, worker: Any, greet: Callable) -> None:
        """Greet once the callee is there: a LiveKit participant, a browser, or at once."""
        from pipecat.transports.livekit.transport import LiveKitTransport
        from pipecat.transports.smallwebrtc.transport import SmallWebRTCTransport

        async def hung_up(*_: Any) -> None:
            self._set_outcome("hung_up", "the patient hung up")
            await worker.cancel()

        if isinstance(transport, LiveKitTransport):
            transport.event_handler("on_first_participant_joined")(greet)
            transport.event_handler("on_participant_left")(hung_up)
        elif isinstance(transport, SmallWebRTCTransport):
            transport.event_handler("on_client_connected")(greet)
            transport.event_handler("on_client_disconnected")(hung_up)
        else:
            worker.event_handler("on_pipeline_started")(greet)

    async def _watch_first_audio(self, watch: FirstAudioWatch) -> None:
        try:
            await asyncio.wait_for(watch.heard.wait(), timeout=self._first_audio_timeout)
        except TimeoutError:
            self._set_outcome("failed", "the model did not answer (no audio)")
            if self._worker is not None:
                await self._worker.cancel()

    async def _watch_length(self) -> None:
        await asyncio.sleep(self._settings.pipeline.max_call_seconds)
        self._set_outcome("completed", "maximum call length")
        await self._finish_gracefully()


def _error_text(frame: Any) -> str:
    text = str(getattr(frame, "error", "") or "pipeline error").splitlines()[0]
    return redactor.redact(text)[:300]
