"""What the model's tools do to a live call: end it after a goodbye, transfer it, note a voicemail.

:class:`SessionControl` is the :class:`tools.call_control.CallControl` of a call session. It
brings its own observers (the goodbye turn, the results of the tools that end the call, Elo's
speaking), which the session attaches to the call's pipeline.
"""

from __future__ import annotations

import asyncio

from loguru import logger

from config.logs import redactor
from pipeline.call.lifecycle import CallLifecycle
from pipeline.call.outcome import end_call_outcome
from pipeline.call.spec import CallTimeouts
from pipeline.metadata import CallMetadata
from pipeline.observers.base import FrameObserver
from pipeline.observers.watchdogs import BotQuietWatch, ToolResultWatch, TurnAfterToolWatch
from pipeline.telephony import NO_TELEPHONY, Telephony
from storage.models import CallOutcome
from tools.call_port import TransferOutcome
from tools.registry import CallEnding, ToolRegistry

# Why an inbound call that staff took at once ended (the outcome is ``transferred``).
FORWARDED = "forwarded to the clinic (opening hours)"


class SessionControl:
    """The call as the model's tools see it.

    Args:
        life: The call's lifecycle.
        metadata: Who is called and why.
        telephony: Transfers for phone calls, or None.
        timeouts: The call's timeouts (goodbye and transfer).
        registry: The tools; their specs name the ones that end the call.
    """

    def __init__(
        self,
        life: CallLifecycle,
        *,
        metadata: CallMetadata,
        telephony: Telephony | None,
        timeouts: CallTimeouts,
        registry: ToolRegistry,
    ) -> None:
        self._life = life
        self._metadata = metadata
        self._telephony = telephony
        self._timeouts = timeouts
        # The tool after whose result Elo says goodbye, and those whose success ends Elo's side
        # of the call at once, once their result is through.
        self._goodbye = TurnAfterToolWatch(registry.ending(CallEnding.END))
        self._transfer_tool = registry.ending(CallEnding.TRANSFER)
        self._voicemail_tool = registry.ending(CallEnding.VOICEMAIL)
        self._results = ToolResultWatch(self._transfer_tool, self._voicemail_tool)
        self._bot_quiet = BotQuietWatch()

    @property
    def observers(self) -> tuple[FrameObserver, ...]:
        """The observers these controls need on the call's pipeline."""
        return (self._goodbye, self._results, self._bot_quiet)

    @property
    def callee_name(self) -> str | None:
        """The name the call was placed for, if any."""
        return self._metadata.patient_name

    async def end_call(self, *, reason: str) -> None:
        """End the call after Elo's goodbye (the model's end_call tool)."""
        self._life.outcome.set(end_call_outcome(reason), reason)
        if self._life.built and not self._life.state.ending:
            # The goodbye is the model's answer to this tool's result, so it has not started
            # yet: ending now would cut it. Wait for that turn in the background.
            self._life.spawn(self._end_after_goodbye())

    async def _end_after_goodbye(self) -> None:
        try:
            await asyncio.wait_for(self._goodbye.finished.wait(), timeout=self._timeouts.goodbye)
        except TimeoutError:
            logger.info("no goodbye turn after end_call; ending the call")
        await self._life.end_gracefully()

    async def transfer(self, *, to: str) -> TransferOutcome:
        """Transfer the callee to staff (the model's transfer_to_human tool).

        On success the outcome is "transferred" and Elo's side ends as soon as the tool's result
        is through: the patient is with a person now. Never raises for a failed transfer.
        """
        state = self._life.state
        if self._telephony is None:
            return TransferOutcome(ok=False, reason=NO_TELEPHONY)
        if state.transferring or state.ending:
            return TransferOutcome(ok=False, reason="the call is already being handed over")
        state.transferring = True
        # A failed earlier transfer's result was seen already: wait for this one's.
        self._results.seen[self._transfer_tool].clear()
        try:
            outcome = await self._hand_over(self._telephony, to)
        finally:
            state.transferring = False
        if outcome.ok:
            self._life.outcome.set(CallOutcome.TRANSFERRED, "transferred to staff")
            self._life.stop_after(self._results.seen[self._transfer_tool])
        else:
            logger.info("transfer failed: {}", redactor.redact(outcome.reason or "-")[:200])
            if state.left_in_transfer:
                # The patient left during a transfer that did not go through: a hang-up.
                await self._life.stop(CallOutcome.HUNG_UP, "the patient hung up")
        return outcome

    async def forward(self, *, to: str) -> bool:
        """Hand an inbound caller over before Elo speaks (opening hours, see ``CallSession``).

        Returns:
            True when the call ended (handed over, or the caller left meanwhile); False when
            the hand-over failed and Elo should answer instead.
        """
        state = self._life.state
        if self._telephony is None:
            return False
        if state.transferring or state.ending:
            return True
        state.transferring = True
        try:
            outcome = await self._hand_over(self._telephony, to)
        finally:
            state.transferring = False
        if outcome.ok:
            await self._life.stop(CallOutcome.TRANSFERRED, FORWARDED)
            return True
        logger.info("forwarding failed: {}", redactor.redact(outcome.reason or "-")[:200])
        if state.left_in_transfer:
            await self._life.stop(CallOutcome.HUNG_UP, "the patient hung up")
            return True
        return False

    async def _hand_over(self, telephony: Telephony, to: str) -> TransferOutcome:
        # Let "connecting you now" finish playing before the line moves.
        try:
            await asyncio.wait_for(
                self._bot_quiet.quiet.wait(), timeout=self._timeouts.transfer_quiet
            )
        except TimeoutError:
            pass
        try:
            return await asyncio.wait_for(
                telephony.transfer(to=to), timeout=self._timeouts.transfer
            )
        except TimeoutError:
            return TransferOutcome(ok=False, reason="transfer timed out")
        except Exception as exc:  # the contract says never, but a call must survive it
            logger.warning("transfer raised {}", type(exc).__name__)
            return TransferOutcome(ok=False, reason="transfer error")

    async def voicemail_reached(self, *, leave_message: bool) -> None:
        """An answering machine answered (the model's voicemail_detected tool).

        Args:
            leave_message: Keep the call up for Elo's message (it then calls end_call);
                otherwise end the call as soon as the tool's result is through.
        """
        self._life.outcome.set(CallOutcome.VOICEMAIL, "answering machine")
        if not leave_message:
            self._life.stop_after(self._results.seen[self._voicemail_tool])
