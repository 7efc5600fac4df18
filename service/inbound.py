"""Calls patients place to the clinic: what a LiveKit webhook announces, and answering it.

With LiveKit SIP inbound, a dispatch rule puts each caller in a room of their own
(``dispatchRuleIndividual``, rooms ``<prefix>_<number>_<random>``: livekit/protocol
``sip/sip.go`` ``EvaluateDispatchRule``) and LiveKit sends ``participant_joined`` when the caller's
SIP participant is in the room (livekit/livekit ``pkg/telemetry/events.go`` ``ParticipantActive``).
The SIP bridge keeps the caller ringing until an agent subscribes to their audio, then answers
(livekit/sip ``pkg/sip/inbound.go``: ``joinRoom`` with ``sip.callStatus`` ``ringing``,
``waitSubscribe``, ``acceptCall``, then ``active``).

:func:`inbound_call` turns a verified webhook event into an :class:`InboundCall`, bound to the
caller's number from the participant's ``sip.phoneNumber`` attribute alone (never the room name,
the identity, nor anything the model says). :class:`InboundCalls` is the in-process way to run
one: a :class:`~pipeline.call.session.CallSession` in the caller's room that waits until the line
is answered, then forwards it to the clinic during opening hours
(``ELO_INBOUND__FORWARD_TO``) or has Elo answer. The webhook only needs the narrow
:data:`StartInbound` callable, so the call can run in another process later.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from livekit.protocol import models
from livekit.protocol.webhook import WebhookEvent
from loguru import logger

from app.application import Application
from campaign.dialer import DialerError, LiveKitDialer
from campaign.launcher import RoomTelephony
from config.logs import bind_call
from config.settings import AppSettings
from config.settings_inbound import OUTBOUND_ROOM_PREFIX
from pipeline.call.session import CallRefusedError, CallSession
from pipeline.call.spec import CallSpec, CallTimeouts
from pipeline.call.transport import CallTransport
from pipeline.transports import make_transport
from scheduling.calendar import ClinicCalendar
from service.callers import caller_metadata
from service.live_calls import CallTracker, active_call
from storage.models import CallDirection, CallOutcome
from validation import caller_number

# LiveKit SIP call ids are "SCL_" and a random suffix (livekit/protocol utils/guid); Elo's call
# id is "in-" and that id, so a retried webhook names the same call.
_SIP_CALL_ID = re.compile(r"^[A-Za-z0-9_-]{1,61}$")
_MAX_ROOM = 256
# livekit/protocol livekit/attrs.go.
ATTR_CALL_ID = "sip.callID"
ATTR_PHONE_NUMBER = "sip.phoneNumber"
ATTR_CALL_STATUS = "sip.callStatus"
# How long the caller's line may take to be answered once Elo is in the room (the bridge
# answers when Elo subscribes), and how often that is checked.
ANSWER_TIMEOUT_S = 30.0
ANSWER_POLL_S = 0.2


@dataclass(frozen=True)
class InboundCall:
    """One call a patient placed to the clinic, as LiveKit announced it.

    Attributes:
        call_id: Elo's id for the call, ``in-<sip call id>``: the same for a retried webhook.
        room: The room the dispatch rule put the caller in.
        participant_identity: The caller's identity in the room.
        sip_call_id: LiveKit's SIP call id.
        phone: The caller's number (E.164) from ``sip.phoneNumber``; None when withheld.
    """

    call_id: str
    room: str
    participant_identity: str
    sip_call_id: str
    phone: str | None


StartInbound = Callable[[InboundCall], Awaitable[None]]
"""Starts an inbound call in the background and returns at once (the webhook answers 200)."""


def inbound_call(event: WebhookEvent, settings: AppSettings) -> InboundCall | str:
    """The inbound call a verified webhook event announces, or why it announces none.

    Args:
        event: The event, its signature already verified.
        settings: The settings (the inbound room prefix, the default phone region).

    Returns:
        The call, or a short reason the event is not one (for the webhook's answer).
    """
    if event.event != "participant_joined":
        return f"event {event.event or '(none)'} needs nothing"
    participant, room = event.participant, event.room.name
    if participant.kind != models.ParticipantInfo.Kind.SIP:
        return "not a SIP participant"
    prefix = settings.inbound.room_prefix
    if not room.startswith(prefix) or room.startswith(OUTBOUND_ROOM_PREFIX):
        return "not an inbound room"
    if len(room) > _MAX_ROOM or not participant.identity:
        return "unusable room or participant"
    sip_call_id = participant.attributes.get(ATTR_CALL_ID, "")
    if not _SIP_CALL_ID.match(sip_call_id):
        return "no usable SIP call id"
    return InboundCall(
        call_id=f"in-{sip_call_id}",
        room=room,
        participant_identity=participant.identity,
        sip_call_id=sip_call_id,
        phone=caller_number(
            participant.attributes.get(ATTR_PHONE_NUMBER, ""),
            default_region=settings.validation.default_phone_region,
        ),
    )


class InboundCalls:
    """Runs inbound calls in this process: the default :data:`StartInbound`.

    Args:
        app: The application the calls use.
        dialer: The LiveKit server API (answer checks, transfers, hang-ups); from the settings
            when None.
        transport_factory: Builds a call's transport; the default joins the caller's LiveKit
            room (tests pass a file transport).
        timeouts: The calls' timeouts.
        answer_timeout_s: How long the line may take to be answered once Elo is in the room.
        tracker: Told of each call's start, answer and end (the live board, or a worker's
            pipe to the service); None tells no one.
    """

    def __init__(
        self,
        app: Application,
        *,
        dialer: LiveKitDialer | None = None,
        transport_factory: Callable[[InboundCall], CallTransport] | None = None,
        timeouts: CallTimeouts | None = None,
        answer_timeout_s: float = ANSWER_TIMEOUT_S,
        tracker: CallTracker | None = None,
    ) -> None:
        self._app = app
        self._dialer = dialer
        self._own_dialer = dialer is None
        self._transport_factory = transport_factory or self._room_transport
        self._timeouts = timeouts or CallTimeouts()
        self._answer_timeout_s = answer_timeout_s
        self._tracker = tracker
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._sessions: dict[str, CallSession] = {}
        self._cancelled: dict[str, str] = {}  # call id -> reason, for calls not running yet
        self._closing = False

    def _room_transport(self, call: InboundCall) -> CallTransport:
        return make_transport(self._app.settings, room=call.room)

    @property
    def running(self) -> list[str]:
        """The ids of the inbound calls running now."""
        return list(self._tasks)

    async def start(self, call: InboundCall) -> None:
        """Start ``call`` in the background (a second start of the same call does nothing).

        Raises:
            RuntimeError: The service is stopping; the webhook answers 503 so that LiveKit
                delivers it again (to this service once restarted, or another node).
        """
        if call.call_id in self._tasks:
            return
        if self._closing:
            raise RuntimeError("the service is stopping")
        task = asyncio.create_task(self._run(call), name=f"inbound-{call.call_id}")
        self._tasks[call.call_id] = task
        task.add_done_callback(lambda _: self._tasks.pop(call.call_id, None))
        if self._tracker is not None:
            tracker = self._tracker
            task.add_done_callback(lambda _: tracker.ended(call.call_id))

            async def end(reason: str) -> None:
                await self.cancel(call.call_id, reason=reason)

            tracker.started(
                active_call(
                    self._app.clock,
                    call_id=call.call_id,
                    direction=CallDirection.INBOUND,
                    phone=call.phone,
                ),
                end=end,
            )

    async def wait(self, call_id: str) -> None:
        """Wait until the call ``call_id`` has ended (at once if it is not running)."""
        task = self._tasks.get(call_id)
        if task is not None:
            await asyncio.shield(task)

    async def cancel(self, call_id: str, *, reason: str) -> None:
        """End one running call (it is recorded); nothing if it is not running."""
        session = self._sessions.get(call_id)
        if session is not None and session.ready.is_set():
            await session.cancel(reason=reason)
        elif call_id in self._tasks:
            # Not in the room yet (the caller's history is being read, or Elo is joining): a
            # session can only be stopped once it runs, so it is stopped as soon as it does.
            self._cancelled[call_id] = reason

    async def drain(self, *, timeout_s: float) -> int:
        """Take no new call, give the running ones ``timeout_s`` to end, then stop the rest.

        Returns:
            How many calls were still running at the deadline and were stopped.
        """
        self._closing = True
        tasks = list(self._tasks.values())
        late: set[asyncio.Task[None]] = set()
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=timeout_s)
        await self.aclose()
        return len(late)

    async def aclose(self, *, grace_s: float = 10.0) -> None:
        """Stop every running call (each is recorded), then release the LiveKit client."""
        self._closing = True
        for session in list(self._sessions.values()):
            await session.cancel(reason="the service is stopping")
        tasks = list(self._tasks.values())
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=grace_s)
            for task in late:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._own_dialer and self._dialer is not None:
            dialer, self._dialer = self._dialer, None
            await dialer.aclose()

    def _line(self) -> LiveKitDialer:
        if self._dialer is None:
            self._dialer = LiveKitDialer.from_settings(self._app.settings)
        return self._dialer

    async def _run(self, call: InboundCall) -> None:
        with bind_call(call.call_id):
            logger.info("inbound call: {} caller", "withheld" if call.phone is None else "known")
            try:
                dialer = self._line()
            except DialerError as exc:
                logger.warning("inbound call not answered: {}", exc)
                return
            try:
                await self._answer(call, dialer)
            except CallRefusedError as exc:
                logger.info("inbound call refused: {}", exc)
            except Exception as exc:  # one call's failure never reaches the service
                # The type only: an exception's text may carry what the caller said.
                logger.error("inbound call failed: {}", type(exc).__name__)
            finally:
                self._sessions.pop(call.call_id, None)
                self._cancelled.pop(call.call_id, None)
                try:
                    # The caller's leg stays in the room after Elo leaves: close the room.
                    await dialer.hang_up(room=call.room)
                except DialerError as exc:
                    logger.warning("could not close the inbound call's room: {}", exc)

    async def _answer(self, call: InboundCall, dialer: LiveKitDialer) -> None:
        app = self._app
        metadata = await caller_metadata(app, call_id=call.call_id, phone=call.phone)
        session = CallSession(
            app,
            CallSpec(
                metadata=metadata,
                transport=self._transport_factory(call),
                # The bridge answers once Elo is in the room: greet only then (see module doc).
                wait_for_answer=True,
                telephony=RoomTelephony(
                    dialer, room=call.room, participant_identity=call.participant_identity
                ),
                timeouts=self._timeouts,
            ),
        )
        self._sessions[call.call_id] = session
        running = asyncio.create_task(session.run())
        try:
            await session.ready.wait()
            cancelled = self._cancelled.pop(call.call_id, None)
            if cancelled is not None:
                await session.cancel(reason=cancelled)
            elif session.running:
                await self._pick_up(call, dialer, session)
        except BaseException:
            # E.g. LiveKit unreachable while waiting for the answer: the call still ends, and
            # is recorded.
            await session.cancel(reason="the line could not be answered")
            await asyncio.gather(running, return_exceptions=True)
            raise
        result = await running
        logger.info("inbound call ended: {}", result.record.outcome)
        if call.phone is not None and result.record.outcome == CallOutcome.BOOKED:
            # Booked by calling back: no campaign calls them about it again.
            settled = await app.store.campaigns.settle_number(phone=call.phone, reason="booked")
            if settled:
                logger.info("inbound booking closed {} queued campaign contact(s)", settled)

    async def _pick_up(
        self, call: InboundCall, dialer: LiveKitDialer, session: CallSession
    ) -> None:
        """Once the line is answered: forward it to the clinic while open, else Elo answers."""
        if not await self._answered(call, dialer, session):
            await session.cancel(reason="the caller hung up before the line was answered")
            return
        if self._tracker is not None:
            self._tracker.answered(call.call_id)
        target = self._forward_target()
        if target is None or not await session.forward(to=target):
            await session.callee_answered()

    async def _answered(
        self, call: InboundCall, dialer: LiveKitDialer, session: CallSession
    ) -> bool:
        """Wait until LiveKit's SIP bridge answered the caller; False if they left first.

        Also False once the session ended meanwhile (staff hung up while it rang).
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._answer_timeout_s
        while session.running:
            status = await dialer.call_status(
                room=call.room, participant_identity=call.participant_identity
            )
            if status == "active":
                return True
            if status is None or status == "hangup" or loop.time() >= deadline:
                return False
            await asyncio.sleep(ANSWER_POLL_S)
        return False

    def _forward_target(self) -> str | None:
        """Where the call goes instead of Elo: the clinic's phone while it is open, or None."""
        number = self._app.settings.inbound.forward_to
        if not number:
            return None
        app = self._app
        if not ClinicCalendar(app.clinic).is_open(app.now()):
            return None
        return f"tel:{number}"
