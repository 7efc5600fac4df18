"""One call, end to end: build the pipeline around a transport, run it, record the outcome.

Every call ends with an outcome in ``calls`` (rules: :mod:`pipeline.call.outcome`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from loguru import logger
from pipecat.pipeline.worker import PipelineWorker
from pipecat.workers.runner import WorkerRunner

from app.application import Application
from config.logs import bind_call, redactor
from pipeline.call.assembly import call_limiter, call_llm, call_pipeline, call_tools
from pipeline.call.control import SessionControl
from pipeline.call.greeting import Greeting
from pipeline.call.lifecycle import CallLifecycle
from pipeline.call.spec import CallSpec
from pipeline.call.transport import CallEvents
from pipeline.gemini import ResilientGeminiLive
from pipeline.observers import CallAnalytics, TranscriptLogger
from pipeline.observers.latency import PipelineDelay
from pipeline.prompts import prompt_language
from storage import CallRecord
from storage.models import CallOutcome
from telemetry import ErrorKind
from telemetry import record as metrics


class CallRefusedError(Exception):
    """The call may not be placed (e.g. the number's hourly cap); nothing was recorded."""


@dataclass(frozen=True)
class CallResult:
    """How a call ended."""

    record: CallRecord
    summary: dict[str, Any]


class CallSession:
    """Runs one call and records it.

    An outbound phone call is started before it is dialed, so no word is lost: the caller
    starts :meth:`run` with ``wait_for_answer=True``, waits for :attr:`ready`, dials, then calls
    :meth:`callee_answered` (Elo greets) or :meth:`cancel` (nobody answered)::

        session = CallSession(deps, CallSpec(..., wait_for_answer=True, telephony=trunk))
        running = asyncio.create_task(session.run())
        await session.ready.wait()
        if not session.running:          # the run failed or was refused before it started
            result = await running       # raises CallRefusedError, or holds the failure
        elif await dial():
            await session.callee_answered()
        else:
            await session.cancel(reason="no answer")

    Args:
        deps: The application's parts.
        spec: The call.

    Attributes:
        ready: Set once the call can be dialed: the LiveKit transport is in the room (others:
            the pipeline has started). Also set when :meth:`run` ends or is refused before
            that, so a waiter never hangs: :attr:`running` tells the two apart.
        metadata: Who is called and why.
        control: What the model's tools do to the call (:class:`tools.call_control.CallControl`).
    """

    def __init__(self, deps: Application, spec: CallSpec) -> None:
        self._deps = deps
        self._spec = spec
        self.metadata = spec.metadata
        self._life = CallLifecycle(answered=not spec.wait_for_answer)
        self.ready = self._life.ready
        self.control = SessionControl(
            self._life,
            metadata=spec.metadata,
            telephony=spec.telephony,
            timeouts=spec.timeouts,
            registry=deps.registry,
        )
        self._greeting: Greeting | None = None

    @property
    def running(self) -> bool:
        """Whether the pipeline has started and the call has not ended yet."""
        return self._life.running

    async def cancel(self, *, reason: str = "cancelled by the operator") -> None:
        """Stop the call now (e.g. a campaign runner shutting down); it is still recorded.

        Cancelling the task that runs :meth:`run` is not enough: Pipecat's runner absorbs the
        cancellation, so callers stop a call through this method.
        """
        await self._life.stop(CallOutcome.CANCELLED, reason)

    async def callee_answered(self) -> None:
        """The callee picked up: Elo greets now (once).

        Waits for :attr:`ready` first; does nothing once the call has ended. Without
        ``wait_for_answer`` the greeting has usually happened already and this is a no-op.
        """
        await self.ready.wait()
        self._life.state.answered = True
        if self.running and self._greeting is not None:
            await self._greeting.greet()

    async def callee_left(self) -> None:
        """The callee's side left the call (the transport saw the participant go)."""
        await self._life.callee_left()

    async def forward(self, *, to: str) -> bool:
        """Hand the line to ``to`` before Elo says a word (an inbound call in opening hours).

        Call it instead of :meth:`callee_answered` once the line is up. On success the call
        ends as ``transferred``; on failure nothing was said yet, and the caller greets with
        :meth:`callee_answered` (Elo answers after all).

        Args:
            to: ``tel:+E164`` or ``sip:...``.

        Returns:
            Whether the call was handed over (or ended meanwhile): True means do not greet.
        """
        await self.ready.wait()
        if not self.running:
            return True
        # The line is answered (LiveKit's SIP bridge picked up): an ending is a call's outcome,
        # not "not answered".
        self._life.state.answered = True
        return await self.control.forward(to=to)

    async def run(self) -> CallResult:
        """Run the call to its end and record the outcome.

        Raises:
            CallRefusedError: The number is on the do-not-call list or has had too many calls
                this hour.
        """
        # Who placed the call is the metadata's (an inbound call is bound to its caller).
        direction = self.metadata.direction.value
        with bind_call(self.metadata.call_id), metrics.active_call(direction):
            try:
                result = await self._run()
            except CallRefusedError:
                metrics.call_refused(direction)
                raise
            except Exception:
                metrics.error(ErrorKind.CALL_CRASHED)
                raise
            finally:
                self._life.mark_ended()
        _record_ended(direction, result.record, answered=self._life.state.answered)
        return result

    async def _run(self) -> CallResult:
        deps, spec, meta, life = self._deps, self._spec, self.metadata, self._life
        settings, store = deps.settings, deps.store
        if meta.patient_name:
            redactor.remember_name(meta.patient_name)

        limiter = call_limiter(settings, store, deps.registry, phone=meta.phone, clock=deps.clock)
        if meta.phone:
            verdict = await deps.call_policy().number(meta.phone, direction=meta.direction)
            if not verdict.allowed:
                raise CallRefusedError(verdict.reason)

        patient = await store.patients.get(phone=meta.phone) if meta.phone else None
        await store.calls.start(
            call_id=meta.call_id,
            patient_id=patient.id if patient else None,
            phone=meta.phone,
            direction=meta.direction,
        )
        tools = call_tools(deps, meta, self.control)
        llm = call_llm(deps, meta, tools=tools, limiter=limiter)
        analytics = CallAnalytics(
            limiter=limiter,
            on_latency=metrics.response_latency,
            pipeline_delay=_pipeline_delay(llm),
        )

        async def save_progress(entries: list[dict[str, Any]]) -> None:
            await store.calls.save_progress(
                call_id=meta.call_id,
                transcript=entries,
                counters=analytics.summary(),
                turns=analytics.turns,
                tool_calls=analytics.tool_calls,
            )

        transcript = TranscriptLogger(on_update=save_progress, clock=deps.clock)
        first_audio_timeout = spec.timeouts.first_audio
        greeting = self._greeting = Greeting(
            life,
            llm=llm,
            language=prompt_language(meta.language),
            inbound=meta.inbound,
            first_audio_timeout=(
                settings.pipeline.first_audio_timeout_secs
                if first_audio_timeout is None
                else first_audio_timeout
            ),
            # A caller is a person who dialled: no answering machine to suspect.
            long_utterance_secs=0 if meta.inbound else settings.calling.voicemail_min_greeting_secs,
        )
        first_audio, long_utterance = greeting.observers
        call = call_pipeline(
            settings,
            spec,
            llm=llm,
            observers=[
                transcript,
                analytics,
                first_audio,
                *self.control.observers,
                long_utterance,
                *spec.observers,
            ],
        )
        worker = call.worker
        life.attach(worker)
        greeting.attach(call)
        self._wire(worker, greeting)
        life.spawn(
            life.watch_length(
                settings.pipeline.max_call_seconds, on_reached=limiter.call_length_reached
            )
        )
        runner = WorkerRunner(handle_sigint=False)
        await runner.add_workers(worker)
        try:
            await runner.run()
        finally:
            life.cancel_background()
            await transcript.flush()
        await save_progress(transcript.entries)
        outcome, reason = life.outcome.final(
            answered=life.state.answered, bookings=analytics.bookings
        )
        record = await store.calls.finish(
            call_id=meta.call_id,
            outcome=outcome,
            outcome_reason=reason,
            appointments_booked=analytics.bookings,
            revenue_booked=analytics.revenue_lek,
        )
        logger.info("call ended: {} ({})", outcome, reason or "-")
        return CallResult(record=record, summary=analytics.summary())

    def _wire(self, worker: PipelineWorker, greeting: Greeting) -> None:
        """Greet once the callee is there; hear the transport's and the worker's events."""
        life, wait_for_answer = self._life, self._spec.wait_for_answer

        async def ready() -> None:
            life.mark_ready()

        # With wait_for_answer only callee_answered greets.
        self._spec.transport.wire(
            worker,
            CallEvents(
                ready=ready,
                joined=None if wait_for_answer else greeting.greet,
                left=life.callee_left,
            ),
        )

        @worker.event_handler("on_idle_timeout")
        async def on_idle(_worker: Any) -> None:
            if not wait_for_answer:
                life.outcome.set(CallOutcome.NO_RESPONSE, "silence")
            elif life.state.answered:
                await life.stop(CallOutcome.NO_RESPONSE, "silence")
            # Still ringing: the caller decides (callee_answered or cancel).

        @worker.event_handler("on_pipeline_error")
        async def on_error(_worker: Any, frame: Any) -> None:
            metrics.error(ErrorKind.PIPELINE)
            await life.stop(CallOutcome.FAILED, _error_text(frame))


def _record_ended(direction: str, call: CallRecord, *, answered: bool) -> None:
    """Count an ended call in the metrics, from what was recorded of it."""
    duration = None
    if call.ended_at is not None:
        duration = (call.ended_at - call.started_at).total_seconds()
    metrics.call_ended(
        direction,
        call.outcome or CallOutcome.COMPLETED,
        answered=answered,
        duration_s=duration,
        bookings=call.appointments_booked,
        revenue_lek=call.revenue_booked,
    )


def _error_text(frame: Any) -> str:
    text = str(getattr(frame, "error", "") or "pipeline error").splitlines()[0]
    return redactor.redact(text)[:300]


def _pipeline_delay(llm: object) -> PipelineDelay | None:
    """The pipeline-added latency measure, for a model that stamps its replies' arrival."""
    if not isinstance(llm, ResilientGeminiLive):
        return None
    gemini = llm
    return PipelineDelay(
        received_at=lambda: gemini.response_received_ns, on_delay=metrics.pipeline_delay
    )
