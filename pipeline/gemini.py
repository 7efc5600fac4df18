"""Gemini Live sessions that survive: goAway, dropped sockets and a slow first connect.

Pipecat 1.14's ``GeminiLiveLLMService`` (``pipecat/services/google/gemini_live/llm.py``) asks for
session resumption and reconnects after an error, but:

* it never reads ``goAway`` (``_handle_server_message``, l. 1598-1654, has no branch for it), so a
  call breaks when Google closes the connection ("The lifetime of a connection is limited to
  around 10 minutes [...] You'll also receive a GoAway message before the connection ends",
  https://docs.cloud.google.com/vertex-ai/generative-ai/docs/live-api/start-manage-session);
* the first connect is not retried: ``_connection_task_handler`` (l. 1570) opens the socket
  outside its ``try``, so a refusal only ends a task and gets logged;
* while it reconnects, ``_send_user_audio``/``_send_user_text``/``_tool_result`` return without
  sending (``not self._session``, l. 1848, 1906, 2110), which loses caller audio and leaves the
  model waiting for a tool result (pipecat issue 5465);
* ``_disconnect`` (l. 1783) forgets which tool calls were answered, so after a reconnect the next
  context frame sends old results again.

:class:`ResilientGeminiLive` keeps the upstream service and changes only the connection: every
send goes through an :class:`Outbox` that keeps what was sent since the last resumable handle
and holds new input while no socket is open; a resume replays both, in order, once the new
socket has answered ``setupComplete`` (google-genai's ``connect`` returns only then,
``google/genai/live.py`` l. 1190-1230). ``transparent`` resumption, which would say exactly which
message a handle covers, is refused outside Vertex (``_live_converters.py`` l. 1869), hence the
replay from the last handle the client saw.

A session resumed from a handle knows only the tool calls issued before that handle, and the
server refuses an answer to an id it did not issue (close 1007). The answer to a call issued
after the handle is therefore held: sent if the resumed model asks for the same id again,
reported as a note if the call wrote (the model must not book again), dropped if it only read.
"""

from __future__ import annotations

import asyncio
import re
import time
from contextlib import AsyncExitStack
from typing import Any

from google.genai.types import LiveConnectConfig, LiveServerMessage, SessionResumptionConfig
from loguru import logger
from pipecat.frames.frames import Frame, FunctionCallCancelFrame
from pipecat.processors.frame_processor import FrameDirection
from pipecat.services.google.gemini_live.llm import GeminiLiveLLMService
from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_after_delay,
    wait_exponential_jitter,
)

from pipeline.gemini_errors import connect_failure, describe, retryable
from pipeline.gemini_outbox import Outbox
from pipeline.tool_calls import ToolCallReconciler
from telemetry import ErrorKind, Reconnect
from telemetry import record as metrics

DOWNSTREAM = FrameDirection.DOWNSTREAM


def _seconds(duration: str | None) -> float:
    """A protobuf Duration in JSON ("9.5s") as seconds; 0 when missing or unreadable."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)s\s*", duration or "")
    return float(match.group(1)) if match else 0.0


def _connect_retry(state: Any) -> None:
    """Tenacity's ``before_sleep``: a connect attempt failed and is tried again."""
    logger.warning(
        "Gemini Live connect attempt {} failed ({}); retrying",
        state.attempt_number,
        describe(state.outcome.exception()) if state.outcome else "-",
    )
    metrics.gemini_reconnect(Reconnect.CONNECT_RETRY)


class ResilientGeminiLive(ToolCallReconciler, GeminiLiveLLMService):
    """``GeminiLiveLLMService`` that retries its first connect and resumes on ``goAway``.

    * First connect (and every resume): retried with exponential backoff (tenacity) for
      ``connect_budget_secs``; then a permanent error, which ends the call as ``failed``.
    * ``goAway``: resumes with the session-resumption handle before ``timeLeft`` runs out, at
      the first safe moment: the last handle is resumable (the server marks it not resumable
      while a function call is open, and resuming then loses the call), no tool is running or
      unanswered, and the model is not mid-turn. The old socket is closed first: Gemini
      refuses a resume with 1011 while an earlier socket of the session is open
      (aicc2025/sip-to-ai PR 14; yagudaev/voiceclaw PR 53 on resuming mid-tool-call).
    * A dropped socket resumes the same way, at once.
    * A tool call is never run twice: a re-sent call id is answered with the stored result.
    * Tool calls survive barge-in and obey ``toolCallCancellation`` (``ToolCallReconciler``,
      pipeline/tool_calls.py): no interrupted call is left unanswered, no write is lost.
    * A refused resume (an expired or unknown handle) falls back to a fresh session, which
      upstream seeds with the conversation so far (``_handle_session_ready``, l. 2149).

    Args:
        *args: Passed to ``GeminiLiveLLMService``.
        connect_budget_secs: How long connecting may take, retries included.
        resume_margin_secs: How long before the ``goAway`` deadline a resume starts at the
            latest, whatever is in progress.
        **kwargs: Passed to ``GeminiLiveLLMService``.

    Attributes:
        resumptions: How many times the session was resumed (goAway or a dropped socket).
        go_away: Set when a goAway has arrived.
        response_received_ns: Pipeline-clock time the current (or last) reply began to arrive.
    """

    def __init__(
        self,
        *args: Any,
        connect_budget_secs: float = 9.0,
        resume_margin_secs: float = 2.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self._connect_budget = connect_budget_secs
        self._resume_margin = resume_margin_secs
        self._outbox = Outbox()
        self._live: Any = None
        self._config: LiveConnectConfig | None = None
        self._resume_task: asyncio.Task[None] | None = None
        self._resume_now = False
        self._go_away_seen = False
        self._resumable = False
        self._changed = asyncio.Event()
        self._tools_running: set[str] = set()
        # Tool calls issued since the last resumable handle: a session resumed from that
        # handle never issued them, and ids no open session issued (answered when they come
        # again, or reported as a note when they wrote).
        self._issued_since_handle: set[str] = set()
        self._orphaned: set[str] = set()
        self._tool_results: dict[str, tuple[str, dict[str, Any]]] = {}
        self.resumptions = 0
        self.go_away = asyncio.Event()
        self.response_received_ns: int | None = None

    # --- connecting -------------------------------------------------------------------------

    async def _open(self, config: LiveConnectConfig) -> tuple[AsyncExitStack, Any]:
        """Open a socket and wait for setupComplete, retrying within the connect budget."""
        model = str(self._settings.model)
        deadline = asyncio.get_running_loop().time() + self._connect_budget
        retrying = AsyncRetrying(
            stop=stop_after_delay(self._connect_budget),
            wait=wait_exponential_jitter(initial=0.2, max=2.0),
            retry=retry_if_exception(retryable),
            reraise=True,
            before_sleep=_connect_retry,
        )
        async for attempt in retrying:
            with attempt:
                stack = AsyncExitStack()
                try:
                    # A hanging connect must not outlive the budget either.
                    async with asyncio.timeout_at(deadline):
                        session = await stack.enter_async_context(
                            self._client.aio.live.connect(model=model, config=config)
                        )
                except BaseException:
                    await stack.aclose()
                    raise
                return stack, session
        raise AssertionError("unreachable: tenacity re-raises the last error")

    async def _connection_task_handler(self, config: LiveConnectConfig) -> None:
        """Upstream's handler (llm.py l. 1570-1596) with a retried connect and resumes."""
        self._config = config
        try:
            stack, session = await self._open(config)
        except Exception as e:
            resumption = config.session_resumption
            if resumption and resumption.handle:
                # The handle is refused (expired or unknown): a fresh session, which upstream
                # seeds with the conversation so far, beats ending the call.
                logger.warning("Gemini Live refused the resume ({}); starting afresh", describe(e))
                metrics.gemini_reconnect(Reconnect.RESUME_REFUSED)
                self._session_resumption_handle = None
                self._resumable = False
                fresh = SessionResumptionConfig(handle=None)
                await self._connection_task_handler(
                    config.model_copy(update={"session_resumption": fresh})
                )
                return
            # One line, logged by push_error and kept as the call's outcome reason.
            metrics.error(ErrorKind.MODEL_CONNECT)
            await self.push_error(
                error_msg=connect_failure(e), exception=e, force_treat_as_permanent=True
            )
            return
        async with stack:
            self._connection_start_time = time.time()
            self._go_away_seen = False
            await self._handle_session_ready(session)
            try:
                while True:
                    async for message in session.receive():
                        self._check_and_reset_failure_counter()
                        await self._handle_server_message(message)
            except Exception as e:
                if self._disconnecting or session is not self._live:
                    return  # closed on purpose: by a resume or by the end of the call
                if self._go_away_seen or await self._handle_connection_error(e):
                    logger.info("Gemini Live connection closed ({}); resuming", describe(e))
                    self._start_resume(deadline=None)

    async def _handle_session_ready(self, session: Any) -> None:
        """Route sends through the outbox, then replay what the new socket has to receive."""
        resumption = self._config.session_resumption if self._config else None
        resumed = bool(resumption and resumption.handle)
        self._live = session
        # A session resumed from a handle has the calls issued before it; a fresh one has none.
        self._orphaned |= self._issued_since_handle
        if not resumed:
            self._orphaned |= self._tools_running
        self._issued_since_handle.clear()
        held = self._outbox.take(resumed=resumed, unknown_calls=frozenset(self._orphaned))
        # Upstream seeds the context into the (still offline) outbox, or only marks the
        # session ready when it was resumed.
        await super()._handle_session_ready(self._outbox)
        seed = self._outbox.take(resumed=True)
        await self._outbox.go_live(session, seed + held)
        for call_id in sorted(self._orphaned & self._tool_results.keys()):
            await self._report_orphaned(call_id)

    # --- resuming ---------------------------------------------------------------------------

    def _start_resume(self, *, deadline: float | None) -> None:
        """Resume at ``deadline`` (loop time) at the latest, or at once when None."""
        if deadline is None:
            self._resume_now = True
            self._changed.set()
        if self._resume_task is None or self._resume_task.done():
            self._resume_task = self.create_task(self._resume(deadline), name="gemini-resume")

    def _safe_to_resume(self) -> bool:
        return self._resumable and not self._tools_running and not self._bot_is_responding

    async def _resume(self, deadline: float | None) -> None:
        if deadline is not None:
            try:
                async with asyncio.timeout_at(deadline):
                    while not (self._resume_now or self._safe_to_resume()):
                        self._changed.clear()
                        await self._changed.wait()
            except TimeoutError:
                logger.warning("Gemini Live goAway deadline near: resuming mid-turn or mid-tool")
        self._resume_now = False
        old, old_task = self._live, self._connection_task
        self._live = None
        self._outbox.live = None  # from here on, input is held for the new socket
        if old is not None:
            await old.close()  # before the resume: Gemini refuses it while this one is open
        if old_task is not None and old_task is not asyncio.current_task():
            await self.cancel_task(old_task, timeout=2.0)
        assert self._config is not None
        handle = self._session_resumption_handle
        config = self._config.model_copy(
            update={"session_resumption": SessionResumptionConfig(handle=handle)}
        )
        self.resumptions += 1
        why = Reconnect.GO_AWAY if self._go_away_seen else Reconnect.CONNECTION_LOST
        metrics.gemini_reconnect(why)
        logger.info("resuming the Gemini Live session ({})", "handle" if handle else "fresh")
        self._connection_task = self.create_task(self._connection_task_handler(config=config))

    async def _handle_server_message(self, message: LiveServerMessage) -> None:
        await super()._handle_server_message(message)
        if message.go_away is not None:
            left = _seconds(message.go_away.time_left)
            logger.info("Gemini Live goAway: {:.1f} s left on this connection", left)
            self._go_away_seen = True
            self.go_away.set()
            loop_time = asyncio.get_running_loop().time()
            self._start_resume(deadline=loop_time + max(0.0, left - self._resume_margin))

    def _handle_msg_resumption_update(self, message: LiveServerMessage) -> None:
        super()._handle_msg_resumption_update(message)
        update = message.session_resumption_update
        assert update is not None
        self._resumable = bool(update.resumable and update.new_handle)
        if self._resumable:
            self._outbox.checkpoint()
            self._issued_since_handle.clear()
        self._changed.set()

    async def _set_bot_is_responding(self, responding: bool) -> None:
        if responding and not self._bot_is_responding:
            # Upstream sets this on a reply's first part, as the socket message is handled.
            self.response_received_ns = self.get_clock().get_time()
        await super()._set_bot_is_responding(responding)
        self._changed.set()

    # --- notes to the model -----------------------------------------------------------------

    async def send_note(self, text: str) -> None:
        """Tell the model something in the middle of a call, as both Live families accept it.

        Pipecat's ``LLMMessagesAppendFrame`` goes out as ``clientContent``, which the 3.x family
        takes only as initial history and refuses mid-call with close 1007 (livekit/agents PR
        5251, yagudaev/voiceclaw PR 248; devtools/gemini_rules.py ``client_content``); Google's
        Live guide: "send_client_content is only supported for seeding initial context history
        [...] To send text updates during the conversation" use realtime input
        (https://ai.google.dev/gemini-api/docs/live-guide, 3.1 vs 2.5 comparison). Realtime
        text input is taken by every Live model: it is what Pipecat's ``_send_user_text`` sends
        for any model id, and google-genai's ``AsyncSession.send_realtime_input(text=...)``.
        The outbox holds it while a resume is under way and sends it after, like caller audio.
        """
        if self._disconnecting:
            return
        await self._outbox.send_realtime_input(text=text)

    # --- tools ------------------------------------------------------------------------------

    async def _handle_msg_tool_call(self, message: LiveServerMessage) -> None:
        """Run new calls only: a call id seen before is answered, or left to finish."""
        assert message.tool_call is not None
        fresh = []
        for call in message.tool_call.function_calls or []:
            if call.id:
                self._issued_since_handle.add(call.id)
                self._orphaned.discard(call.id)  # this session issued it: it takes the answer
            if call.id and call.id in self._tool_results:
                logger.info("tool call {} came again; sending its stored result", call.name)
                name, response = self._tool_results[call.id]
                await super()._tool_result(call.id, name, response)
            elif call.id and call.id in self._tools_running:
                logger.info("tool call {} came again while running; not run twice", call.name)
            else:
                fresh.append(call)
                if call.id:
                    self._tools_running.add(call.id)
        self._changed.set()
        if fresh:
            tool_call = message.tool_call.model_copy(update={"function_calls": fresh})
            await super()._handle_msg_tool_call(message.model_copy(update={"tool_call": tool_call}))

    async def _tool_result(
        self,
        tool_call_id: str,
        tool_name: str,
        tool_result_message: dict[str, Any],
        *,
        is_final: bool = True,
        spoken: bool = True,
    ) -> None:
        if tool_call_id in self._orphaned:
            # The session resumed without this call: the server would refuse its answer.
            if is_final:
                self._tool_results[tool_call_id] = (tool_name, tool_result_message)
                self._tools_running.discard(tool_call_id)
                self._changed.set()
                await self._report_orphaned(tool_call_id)
            return
        await super()._tool_result(
            tool_call_id, tool_name, tool_result_message, is_final=is_final, spoken=spoken
        )
        if is_final:
            self._tool_results[tool_call_id] = (tool_name, tool_result_message)
            self._tools_running.discard(tool_call_id)
            self._changed.set()

    async def _report_orphaned(self, tool_call_id: str) -> None:
        """A finished call the session no longer knows: kept for a repeat, a write reported.

        If the model asks again with the same id it gets the stored result
        (``_handle_msg_tool_call``); a write is told as a note now, so a model that asks with
        a new id already knows (and the booking tool returns the existing appointment).
        """
        name, result = self._tool_results[tool_call_id]
        logger.info("{} finished for a call the resumed session never issued; held", name)
        if name in self._write_tools and "error" not in result:
            self._orphaned.discard(tool_call_id)  # reported once
            await self.note_write(name, result)

    async def push_frame(self, frame: Frame, direction: FrameDirection = DOWNSTREAM) -> None:
        """Forget a cancelled tool call (e.g. the caller interrupted it): it sends no result."""
        if direction == DOWNSTREAM and isinstance(frame, FunctionCallCancelFrame):
            self._tools_running.discard(frame.tool_call_id)
            self._changed.set()
        await super().push_frame(frame, direction)

    # --- ending -----------------------------------------------------------------------------

    async def _disconnect(self) -> None:
        if self._resume_task is not None and self._resume_task is not asyncio.current_task():
            await self.cancel_task(self._resume_task, timeout=1.0)
        self._resume_task = None
        self._live = None
        await super()._disconnect()
        self._outbox = Outbox()
