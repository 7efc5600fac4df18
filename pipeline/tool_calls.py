"""Tool calls that survive the patient talking over them, and the server cancelling them.

Mixed into ``ResilientGeminiLive`` (pipeline/gemini.py). Three rules:

* **An interruption cancels no tool call.** Pipecat's ``LLMService._handle_interruptions``
  cancels every handler registered with ``cancel_on_interruption=True`` when the caller barges
  in, and then sends no tool response for it, while the Gemini Live server keeps waiting for
  the answer to every BLOCKING call: the call goes silent, and a booking that committed never
  reaches the model (nor the call's analytics, which count the ``FunctionCallResultFrame``).
  Whether a call is still wanted is the server's decision, which it says with
  ``toolCallCancellation``. So here every call runs to its end and answers; the model, which
  has heard the caller too, decides what to say with it.
* **``toolCallCancellation`` is obeyed.** google-genai ``LiveServerToolCallCancellation``:
  "Notification for the client that a previously issued ``ToolCallMessage`` with the specified
  ``id``s should have been not executed and should be cancelled. If there were side-effects to
  those tool calls, clients may attempt to undo the tool calls. This message occurs only in
  cases where the clients interrupt server turns." (google/genai/types.py, class
  ``LiveServerToolCallCancellation``). Pipecat 1.14 ignores the message. Here: a cancelled id
  that has not run is never run; a running read is cancelled (its handler gets
  ``CancelledError``) and nothing is sent for the id; no response is ever sent for a cancelled
  id (the server no longer waits for it, and a strict server refuses an answer to it).
* **An executed write is kept and reported, never undone.** A write the server cancelled
  after (or while) it ran is left to finish (tool_bridge shields it), and its outcome goes to
  the model as a short realtime-text note ("the appointment WAS booked ..."), the mid-call
  channel both Live families accept (``send_note``). Undoing is allowed but not required by
  the API ("may attempt"), and it would be worse for the patient: the cancellation follows an
  interruption, not a change of mind, and undoing a booking they asked for, an opt-out or a
  transfer cannot be told to them reliably. The patient can still cancel in words; staff see
  every booking. The write's ``FunctionCallResultFrame`` still flows, so the transcript and
  analytics count it.

The per-tool ``BLOCKING`` declaration follows the registry (``ToolSpec.blocking``), not
Pipecat's rule that ties NON_BLOCKING to ``cancel_on_interruption=False``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from typing import Any

from loguru import logger
from pipecat.frames.frames import InterruptionFrame

_NOTE_MAX_CHARS = 600


def write_note(name: str, result: dict[str, Any], *, booking: bool = False) -> str:
    """The note that tells the model a write it no longer waits for was carried out.

    Args:
        name: The tool.
        result: Its result.
        booking: The tool books appointments (``ToolSpec.limit`` is ``LimitClass.BOOKING``).
    """
    outcome = json.dumps(result, ensure_ascii=False, default=str)[:_NOTE_MAX_CHARS]
    if booking and result.get("status") == "booked":
        head = "Note for the assistant: the appointment WAS booked"
    else:
        head = f"Note for the assistant: {name} WAS carried out"
    return (
        f"{head} although its call was interrupted; do not call it again. Result: {outcome}."
        " Tell the patient if it matters to them now."
    )


class ToolCallReconciler:
    """Mixin for ``GeminiLiveLLMService``: see the module docstring.

    Attributes:
        cancelled_by_server: Tool call ids the server cancelled with ``toolCallCancellation``.
        notes_sent: How many write outcomes were reported as notes.
    """

    _blocking_tools: frozenset[str] = frozenset()
    _write_tools: frozenset[str] = frozenset()
    _booking_tools: frozenset[str] = frozenset()

    def declare_tools(
        self, *, blocking: Iterable[str], writes: Iterable[str], bookings: Iterable[str] = ()
    ) -> None:
        """Take the registry's per-tool declaration (``ToolSpec.blocking``, ``writes``, ``limit``).

        Call before the session is set up (``register_tools`` does).

        Args:
            blocking: The tools the model must wait for.
            writes: The tools that change something.
            bookings: The tools that book appointments (their notes say so).
        """
        self._blocking_tools = frozenset(blocking)
        self._write_tools = frozenset(writes)
        self._booking_tools = frozenset(bookings)

    @property
    def cancelled_by_server(self) -> set[str]:  # noqa: D102 - documented on the class
        return self.__dict__.setdefault("_elo_server_cancelled", set())

    @property
    def notes_sent(self) -> int:  # noqa: D102 - documented on the class
        return self.__dict__.get("_elo_notes_sent", 0)

    def _function_is_async(self, function_name: str) -> bool:
        # Pipecat declares NON_BLOCKING (and schedules the response) for a tool registered with
        # cancel_on_interruption=False; a tool the registry says is blocking never is. Where the
        # model cannot take BLOCKING (thinking variants), Pipecat declares nothing and warns.
        if function_name in self._blocking_tools:
            return False
        return super()._function_is_async(function_name)  # type: ignore[misc]

    async def _handle_interruptions(self, _: InterruptionFrame) -> None:
        # Deliberately cancels nothing (see the module docstring): the server cancels what it
        # no longer wants with toolCallCancellation.
        return

    async def _handle_server_message(self, message: Any) -> None:
        cancellation = getattr(message, "tool_call_cancellation", None)
        if cancellation is not None:
            await self._server_cancelled(list(cancellation.ids or []))
        await super()._handle_server_message(message)  # type: ignore[misc]

    async def _server_cancelled(self, ids: list[str]) -> None:
        names: dict[str, str] = getattr(self, "_tool_call_id_to_name", {})
        for call_id in ids:
            self.cancelled_by_server.add(call_id)
            name = names.get(call_id)
            if name is None:
                logger.info("toolCallCancellation for a call not run yet: it will not run")
            elif name in self._write_tools:
                logger.info("toolCallCancellation for {}: kept, its outcome goes as a note", name)
            else:
                logger.info("toolCallCancellation for {}: cancelled, nothing sent", name)
                await self._cancel_function_calls_by_tool_call_id(call_id)  # type: ignore[attr-defined]

    async def _handle_msg_tool_call(self, message: Any) -> None:
        calls = message.tool_call.function_calls or []
        kept = [c for c in calls if not (c.id and c.id in self.cancelled_by_server)]
        if len(kept) < len(calls):
            logger.info("{} cancelled tool call(s) not run", len(calls) - len(kept))
            # ResilientGeminiLive counts a call as running when it arrives; this one never runs.
            running: set[str] = getattr(self, "_tools_running", set())
            running.difference_update(c.id for c in calls if c not in kept)
        if not kept:
            return
        if len(kept) < len(calls):
            tool_call = message.tool_call.model_copy(update={"function_calls": kept})
            message = message.model_copy(update={"tool_call": tool_call})
        await super()._handle_msg_tool_call(message)  # type: ignore[misc]

    async def note_write(self, name: str, result: dict[str, Any]) -> None:
        """Tell the model, as a note, that write ``name`` was carried out with ``result``."""
        note = write_note(name, result, booking=name in self._booking_tools)
        await self.send_note(note)  # type: ignore[attr-defined]
        self.__dict__["_elo_notes_sent"] = self.notes_sent + 1

    def report_late_write(self, tool_call_id: str, name: str, work: asyncio.Future[Any]) -> None:
        """Report a write whose handler was cancelled (e.g. timed out) once it has finished.

        Its result can no longer be the tool response, so it goes to the model as a note.
        """
        logger.info("{} was cancelled while it wrote; its outcome follows as a note", name)

        async def report() -> None:
            try:
                result = await work
            except Exception:  # a failed write has nothing to report
                return
            if isinstance(result, dict) and "error" not in result:
                await self.note_write(name, result)

        self.create_task(report(), name=f"late_write_{tool_call_id}")  # type: ignore[attr-defined]

    async def _tool_result(
        self,
        tool_call_id: str,
        tool_name: str,
        tool_result_message: dict[str, Any],
        *,
        is_final: bool = True,
        spoken: bool = True,
    ) -> None:
        if tool_call_id not in self.cancelled_by_server:
            await super()._tool_result(  # type: ignore[misc]
                tool_call_id, tool_name, tool_result_message, is_final=is_final, spoken=spoken
            )
            return
        # The server no longer waits for this id: never answer it.
        if is_final and tool_name in self._write_tools:
            await self.note_write(tool_name, tool_result_message)
