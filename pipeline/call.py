"""One call, end to end: build the pipeline around a transport, run it, record the outcome.

The pipeline is ``transport in -> user aggregator (local VAD) -> Gemini Live -> transport out ->
assistant aggregator``. The transcript logger and analytics counter are observers, so they see both
directions without sitting on the audio path. Every call ends with an outcome in ``calls``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from loguru import logger

from config.clinic import ClinicProfile
from config.logs import bind_call, redactor
from config.settings import AppSettings
from pipeline.limits import CallLimiter, WriteCounts
from pipeline.metadata import CallMetadata
from pipeline.processors import CallAnalytics, TranscriptLogger
from pipeline.processors.base import FrameObserver
from pipeline.processors.group import ObserverGroup
from pipeline.prompts import build_system_instruction, prompt_language
from pipeline.stages import make_llm, make_turn_strategies, make_vad
from pipeline.telephony import NO_TELEPHONY, Telephony, TransferOutcome
from pipeline.tool_bridge import register_tools
from pipeline.watchdogs import (
    BotQuietWatch,
    FirstAudioWatch,
    LongGreetingWatch,
    ToolResultWatch,
    TurnAfterToolWatch,
)
from storage import CallRecord, Store
from tools.context import ToolMode, build_context, system_clock
from tools.registry import ToolRegistry

# What the model is told when the callee is on the line, so that Elo speaks first.
_GREET = {
    "sq": "Pacienti sapo u përgjigj në telefon. Përshëndete tani, siç thonë udhëzimet.",
    "en": "The patient has just answered the phone. Greet them now, as instructed.",
}
# Added to the model's context when the callee's first utterance is long (an answering machine?).
_LONG_GREETING = {
    "sq": (
        "Shënim: fjalia e parë e të telefonuarit zgjati {seconds:.0f} sekonda pa pushim: mund të"
        " jetë sekretari telefonike. Nëse është, thirr voicemail_detected."
    ),
    "en": (
        "Note: the callee's first utterance lasted {seconds:.0f} s without a pause: this may be an"
        " answering machine; if so call voicemail_detected."
    ),
}
# Tools whose success ends Elo's side of the call at once, once their result is through.
_TRANSFER_TOOL = "transfer_to_human"
_VOICEMAIL_TOOL = "voicemail_detected"
# end_call reasons that are outcomes in their own right (others become "completed").
_REASON_OUTCOMES = {
    "declined": "declined",
    "opted_out": "opted_out",
    "voicemail": "voicemail",
    "wrong_person": "wrong_person",
    "call_back_later": "follow_up",
}


# The outcome of a call whose callee never answered (see CallSession's wait_for_answer).
NOT_ANSWERED = "not_answered"


class CallRefusedError(Exception):
    """The call may not be placed (e.g. the number's hourly cap); nothing was recorded."""


@dataclass(frozen=True)
class CallResult:
    """How a call ended."""

    record: CallRecord
    summary: dict[str, Any]


class CallSession:
    """Runs one call and records it. Also the :class:`tools.call_control.CallControl` of the call.

    An outbound phone call is started before it is dialed, so no word is lost: the caller
    starts :meth:`run` with ``wait_for_answer=True``, waits for :attr:`ready`, dials, then calls
    :meth:`callee_answered` (Elo greets) or :meth:`cancel` (nobody answered)::

        session = CallSession(..., wait_for_answer=True, telephony=trunk)
        running = asyncio.create_task(session.run())
        await session.ready.wait()
        if not session.running:          # the run failed or was refused before it started
            result = await running       # raises CallRefusedError, or holds the failure
        elif await dial():
            await session.callee_answered()
        else:
            await session.cancel(reason="no answer")

    Args:
        settings: Application settings.
        clinic: The clinic profile.
        store: The database.
        registry: The tool registry.
        metadata: Who is called and why.
        transport: The call's transport (see :func:`pipeline.transports.make_transport`).
        clock: Source of the current time.
        first_audio_timeout: Seconds to wait for Elo's first audio after the greeting starts;
            silence by then means the model never answered and the call fails. Defaults to
            ``ELO_PIPELINE__FIRST_AUDIO_TIMEOUT_SECS``.
        goodbye_timeout: Seconds end_call waits for Elo's goodbye turn to end before ending
            the call anyway (the model may have said goodbye before calling it).
        http_client_args: Extra model-client arguments (e.g. an SSL context for an emulator).
        wait_for_answer: Greet only when :meth:`callee_answered` is called, not when the
            callee joins the room or the pipeline starts (a SIP callee joins while ringing).
            The silence timeout also waits for the answer.
        telephony: Transfers for phone calls; None (file and browser calls) means
            transfer_to_human falls back to a callback.
        transfer_quiet_timeout: Seconds a transfer waits for Elo's current sentence to finish
            playing before moving the line anyway.
        transfer_timeout: Seconds a transfer may take before it counts as failed (below the
            tool's own 60 s limit, so the callback is still arranged).
        observers: More observers of the call's frames, next to the session's own (e.g. the
            smoke test's probe, see :mod:`devtools.smoke`).

    Attributes:
        ready: Set once the call can be dialed: the LiveKit transport is in the room (others:
            the pipeline has started). Also set when :meth:`run` ends or is refused before
            that, so a waiter never hangs: :attr:`running` tells the two apart.
        metadata: Who is called and why.
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
        first_audio_timeout: float | None = None,
        goodbye_timeout: float = 10.0,
        http_client_args: dict[str, Any] | None = None,
        wait_for_answer: bool = False,
        telephony: Telephony | None = None,
        transfer_quiet_timeout: float = 5.0,
        transfer_timeout: float = 45.0,
        observers: Sequence[FrameObserver] = (),
    ) -> None:
        self._settings = settings
        self._observers = tuple(observers)
        self._clinic = clinic
        self._store = store
        self._registry = registry
        self.metadata = metadata
        self._transport = transport
        self._clock = clock
        self._first_audio_timeout = (
            settings.pipeline.first_audio_timeout_secs
            if first_audio_timeout is None
            else first_audio_timeout
        )
        self._goodbye_timeout = goodbye_timeout
        self._http_client_args = http_client_args
        self._worker: Any = None
        self._outcome: tuple[str, str | None] | None = None
        self._ending = False
        self._goodbye: TurnAfterToolWatch | None = None
        self._tasks: list[asyncio.Task] = []
        self._wait_for_answer = wait_for_answer
        self._telephony = telephony
        self._transfer_quiet_timeout = transfer_quiet_timeout
        self._transfer_timeout = transfer_timeout
        self.ready = asyncio.Event()
        self._started = False
        self._finished = False
        self._answered = not wait_for_answer
        self._greet: Callable[[], Awaitable[None]] | None = None
        self._greeted = False
        self._transferring = False
        # The callee's leg left while a transfer was under way (see hung_up).
        self._left_in_transfer = False
        self._results = ToolResultWatch(_TRANSFER_TOOL, _VOICEMAIL_TOOL)
        self._bot_quiet = BotQuietWatch()

    @property
    def callee_name(self) -> str | None:
        """The name the call was placed for, if any (part of the CallControl interface)."""
        return self.metadata.patient_name

    @property
    def running(self) -> bool:
        """Whether the pipeline has started and the call has not ended yet."""
        return self._started and not self._finished

    def _mark_ready(self) -> None:
        self._started = True
        self.ready.set()

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

    async def callee_answered(self) -> None:
        """The callee picked up: Elo greets now (once).

        Waits for :attr:`ready` first; does nothing once the call has ended. Without
        ``wait_for_answer`` the greeting has usually happened already and this is a no-op.
        """
        await self.ready.wait()
        self._answered = True
        if self.running and self._greet is not None:
            await self._greet()

    async def transfer(self, *, to: str) -> TransferOutcome:
        """Transfer the callee to staff (the model's transfer_to_human tool).

        On success the outcome is "transferred" and Elo's side ends as soon as the tool's result
        is through: the patient is with a person now. Never raises for a failed transfer.
        """
        if self._telephony is None:
            return TransferOutcome(ok=False, reason=NO_TELEPHONY)
        if self._transferring or self._ending:
            return TransferOutcome(ok=False, reason="the call is already being handed over")
        self._transferring = True
        # A failed earlier transfer's result was seen already: wait for this one's.
        self._results.seen[_TRANSFER_TOOL].clear()
        try:
            # Let "connecting you now" finish playing before the line moves.
            try:
                await asyncio.wait_for(
                    self._bot_quiet.quiet.wait(), timeout=self._transfer_quiet_timeout
                )
            except TimeoutError:
                pass
            try:
                outcome = await asyncio.wait_for(
                    self._telephony.transfer(to=to), timeout=self._transfer_timeout
                )
            except TimeoutError:
                outcome = TransferOutcome(ok=False, reason="transfer timed out")
            except Exception as exc:  # the contract says never, but a call must survive it
                logger.warning("transfer raised {}", type(exc).__name__)
                outcome = TransferOutcome(ok=False, reason="transfer error")
        finally:
            self._transferring = False
        if outcome.ok:
            self._set_outcome("transferred", "transferred to staff")
            self._stop_after_result(_TRANSFER_TOOL)
        else:
            logger.info("transfer failed: {}", redactor.redact(outcome.reason or "-")[:200])
            if self._left_in_transfer:
                # The patient left during a transfer that did not go through: a hang-up.
                self._set_outcome("hung_up", "the patient hung up")
                if self._worker is not None:
                    await self._worker.cancel()
        return outcome

    async def callee_left(self) -> None:
        """The callee's side left the call (the transport saw the participant go)."""
        if not self._answered:
            # A SIP callee leaves the room when it rejects or stops ringing; the caller's
            # dial result says which, and it ends the call with that reason.
            logger.info("callee left before answering")
            return
        if self._transferring:
            # After an accepted REFER LiveKit hangs up its leg within a second (livekit/sip
            # be5d3f57 pkg/sip/outbound.go outboundCall.transferCall), often before
            # TransferSIPParticipant answers: the transfer's answer decides the outcome.
            self._left_in_transfer = True
            return
        self._set_outcome("hung_up", "the patient hung up")
        if self._worker is not None:
            await self._worker.cancel()

    async def voicemail_reached(self, *, leave_message: bool) -> None:
        """An answering machine answered (the model's voicemail_detected tool).

        Args:
            leave_message: Keep the call up for Elo's message (it then calls end_call);
                otherwise end the call as soon as the tool's result is through.
        """
        self._set_outcome("voicemail", "answering machine")
        if not leave_message:
            self._stop_after_result(_VOICEMAIL_TOOL)

    def _stop_after_result(self, tool: str) -> None:
        self._ending = True  # no goodbye turn and no other ending from now on
        self._tasks.append(asyncio.create_task(self._stop_when_seen(self._results.seen[tool])))

    async def _stop_when_seen(self, seen: asyncio.Event) -> None:
        try:
            await asyncio.wait_for(seen.wait(), timeout=2.0)
        except TimeoutError:
            pass
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
            try:
                return await self._run()
            finally:
                self._finished = True
                self.ready.set()  # a caller waiting to dial must not hang on a failed start

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

        limiter = call_limiter(settings, store, phone=meta.phone, clock=self._clock)
        if meta.phone and await store.dnc.is_listed(phone=meta.phone):
            raise CallRefusedError("this number is on the do-not-call list")
        if meta.phone and not await limiter.number_allowed(meta.phone):
            raise CallRefusedError("this number has had the most calls allowed in the last hour")

        patient = await store.patients.get(phone=meta.phone) if meta.phone else None
        await store.calls.start(
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
            patient_name=meta.patient_name,
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
            await store.calls.save_progress(
                call_id=meta.call_id,
                transcript=entries,
                counters=analytics.summary(),
                turns=analytics.turns,
                tool_calls=analytics.tool_calls,
            )

        transcript = TranscriptLogger(on_update=save_progress, clock=self._clock)
        first_audio = FirstAudioWatch()
        self._goodbye = TurnAfterToolWatch("end_call")
        watchdogs = self._tasks

        def long_greeting(seconds: float) -> None:
            logger.info("long first utterance ({:.1f} s): maybe an answering machine", seconds)
            note = _LONG_GREETING[language].format(seconds=seconds)
            # Straight into the model session as realtime text (ResilientGeminiLive.send_note):
            # the context is not re-read after the first turn, and the clientContent an
            # LLMMessagesAppendFrame sends is refused mid-call by the 3.x family (close 1007).
            watchdogs.append(asyncio.create_task(llm.send_note(note)))  # type: ignore[attr-defined]

        greeting_watch = LongGreetingWatch(
            settings.calling.voicemail_min_greeting_secs, long_greeting
        )
        context = LLMContext()
        aggregators = LLMContextAggregatorPair(
            context,
            user_params=LLMUserAggregatorParams(
                vad_analyzer=make_vad(settings), user_turn_strategies=make_turn_strategies(settings)
            ),
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
            params=PipelineParams(
                # The rate processors learn from the start frame (Smart Turn reads it; the VAD
                # is built with the same setting): the line's, not Pipecat's 16 kHz default.
                audio_in_sample_rate=settings.pipeline.input_sample_rate,
                enable_metrics=True,
                enable_usage_metrics=True,
            ),
            # One Pipecat observer for all: each observer costs a queue and a task per frame.
            observers=[
                ObserverGroup(
                    transcript,
                    analytics,
                    first_audio,
                    self._goodbye,
                    self._results,
                    self._bot_quiet,
                    greeting_watch,
                    *self._observers,
                )
            ],
            idle_timeout_secs=settings.pipeline.silence_timeout_secs,
            # Waiting for the answer, the ringing is silent: on_idle decides instead.
            cancel_on_idle_timeout=not self._wait_for_answer,
            processor_unusable_policy=ProcessorUnusablePolicy.CANCEL,
        )
        self._worker = worker

        async def greet(*_: Any) -> None:
            from pipecat.frames.frames import LLMRunFrame

            if self._greeted:
                return
            self._greeted = True
            greeting_watch.arm()
            context.add_message({"role": "user", "content": _GREET[language]})
            await worker.queue_frame(LLMRunFrame())
            watchdogs.append(asyncio.create_task(self._watch_first_audio(first_audio)))

        self._greet = greet
        self._greet_when_answered(transport, worker, greet)

        @worker.event_handler("on_idle_timeout")
        async def on_idle(_worker: Any) -> None:
            if not self._wait_for_answer:
                self._set_outcome("no_response", "silence")
            elif self._answered:
                self._set_outcome("no_response", "silence")
                await worker.cancel()
            # Still ringing: the caller decides (callee_answered or cancel).

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
        if not self._answered:
            # A dial nobody picked up is an attempt, not a conversation: kept out of call stats.
            outcome = NOT_ANSWERED
        if analytics.bookings and outcome not in ("failed", "opted_out"):
            outcome = "booked"
        record = await store.calls.finish(
            call_id=meta.call_id,
            outcome=outcome,
            outcome_reason=reason,
            appointments_booked=analytics.bookings,
            revenue_booked=analytics.revenue_lek,
        )
        logger.info("call ended: {} ({})", outcome, reason or "-")
        return CallResult(record=record, summary=analytics.summary())

    def _greet_when_answered(self, transport: Any, worker: Any, greet: Callable) -> None:
        """Greet once the callee is there: a LiveKit participant, a browser, or at once.

        With ``wait_for_answer`` only :meth:`callee_answered` greets. Also sets :attr:`ready`:
        for LiveKit once the transport is in the room, otherwise when the pipeline starts.
        """
        from pipecat.transports.livekit.transport import LiveKitTransport
        from pipecat.transports.smallwebrtc.transport import SmallWebRTCTransport

        async def hung_up(*_: Any) -> None:
            await self.callee_left()

        async def ready(*_: Any) -> None:
            self._mark_ready()

        answered = None if self._wait_for_answer else greet
        if isinstance(transport, LiveKitTransport):
            transport.event_handler("on_connected")(ready)
            if answered:
                transport.event_handler("on_first_participant_joined")(answered)
            transport.event_handler("on_participant_left")(hung_up)
        elif isinstance(transport, SmallWebRTCTransport):
            worker.event_handler("on_pipeline_started")(ready)
            if answered:
                transport.event_handler("on_client_connected")(answered)
            transport.event_handler("on_client_disconnected")(hung_up)
        else:
            worker.event_handler("on_pipeline_started")(ready)
            if answered:
                worker.event_handler("on_pipeline_started")(answered)

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


def call_limiter(
    settings: AppSettings,
    store: Store,
    *,
    phone: str | None,
    clock: Callable[[], datetime] = system_clock,
) -> CallLimiter:
    """The limiter of one call, with its database counts wired to ``store``.

    Args:
        settings: Application settings (the caps and the maximum call length).
        store: The database the counts across calls come from.
        phone: The number the call is bound to, or None (browser, file).
        clock: Source of the current time.
    """

    async def recent_calls(number: str, since: datetime) -> int:
        return await store.calls.count_recent(phone=number, since=since)

    async def number_writes(number: str, since: datetime) -> WriteCounts:
        return WriteCounts(*await store.calls.writes_for_number(phone=number, since=since))

    async def unbound_writes(since: datetime) -> int:
        return await store.calls.unbound_writes(since=since)

    return CallLimiter(
        settings.limits,
        max_call_seconds=settings.pipeline.max_call_seconds,
        recent_calls=recent_calls,
        phone=phone,
        number_writes=number_writes,
        unbound_writes=unbound_writes,
        clock=clock,
    )


def _error_text(frame: Any) -> str:
    text = str(getattr(frame, "error", "") or "pipeline error").splitlines()[0]
    return redactor.redact(text)[:300]
