"""A local fake of the LiveKit server API (Twirp), so the real ``livekit.api`` client runs offline.

Wire format (read from ``livekit/api/twirp_client.py`` in livekit-api 1.2.2): every call is
``POST /twirp/livekit.<Service>/<Method>`` with ``Content-Type: application/protobuf``, the request
message in **protobuf binary**, and ``Authorization: Bearer <jwt>`` signed HS256 with the API
secret (issuer = API key). A 200 answer is parsed as protobuf binary of the response class; any
other status is parsed as Twirp JSON ``{"code", "msg", "meta"}``. The fake answers in exactly that
form (and also accepts ``application/json`` bodies, answering JSON, for hand-written clients).
The client only fails over on 5xx/transport errors for LiveKit Cloud hosts, so 127.0.0.1 gets one
attempt. ``livekit.api.SipService`` turns any error whose ``meta`` has ``sip_status_code`` or
``sip_transfer_reason`` into ``SipCallError``.

What the real server returns (checked in livekit/protocol ``livekit/sip.go`` and livekit/sip
``pkg/sip/outbound.go``/``errors.go``): a failed outbound INVITE becomes an error carrying a
``SIPStatus``; its Twirp ``meta`` is ``{"sip_status_code": "486", "sip_status": "<reason phrase
or response body>"}`` and its code comes from ``sipCodeToGRPCCode``. With Twirp's standard
code -> HTTP status table that gives:

====================  ==========================  ===========
SIP final response    Twirp code                  HTTP status
====================  ==========================  ===========
486 Busy Here         resource_exhausted          429
600 Busy Everywhere   resource_exhausted          429
480 Temp. Unavailable resource_exhausted          429
408 Request Timeout   deadline_exceeded           408
487 Req. Terminated   aborted                     409
603 Decline           permission_denied           403
404 / 410 / 604       not_found                   404
484 Address Incompl.  invalid_argument            400
482 Loop Detected     failed_precondition         412
503 (any 5xx)         failed_precondition         412
other 4xx / 6xx       invalid_argument            400
====================  ==========================  ===========

When LiveKit's own ``ringing_timeout`` fires first it CANCELs the INVITE and returns Twirp
``canceled`` (HTTP 408) with msg ``sip request timed out`` and **no** SIP meta (the error is
``psrpc.NewError(psrpc.Canceled, ErrSIPRequestTimeout)``), so the Python client raises a plain
``ServerError``, not ``SipCallError``. The fake does the same. A room named in
CreateSIPParticipant need not exist: the SIP bridge joins it as a participant and LiveKit
auto-creates rooms on join, so the fake creates it too.

Issue 9 §6 rules (livekit/livekit 788d4c35, livekit/sip be5d3f57): a bad key or signature is
a plain-text 401 (``pkg/service/auth.go`` -> ``utils.go HandleError``), which the client
reports as ``unknown``; ``SipScript("trunk_silent" | "trunk_auth_failed" | "server_error")``
fail without a SIP status (see ``_NO_STATUS_FAILURES``); the SIP participant joins before the
call is placed and goes ``sip.callStatus`` dialing -> ringing -> active (hangup when it leaves),
with ``sip.callID``, ``sip.trunkID`` and, unless ``hide_phone_number``, ``sip.phoneNumber``
(:attr:`FakeLiveKitServer.status_log`, ``ListParticipants``); a dial that waits for the answer
ends after ``dial_cap_s`` (80 s, ``pkg/service/sip.go``) with ``deadline_exceeded``; a
successful transfer answers an EMPTY response (``pkg/sip/service.go`` returns ``emptypb.Empty``)
and the SIP leg hangs up.

TransferSIPParticipant (SIP REFER): newer servers answer a ``TransferSIPParticipantResponse``
(status/reason/sip_status) and the client docs say a non-successful status means failure even
without an error; failures can also arrive as an error whose meta has ``sip_status_code``,
``sip_status``, ``sip_transfer_reason`` (e.g. ``STR_RINGING_TIMEOUT``) and ``sip_transfer_id``.
The fake does the error form by default and the response form with ``via_response=True``. The
Twirp code of a transfer error is not documented; the fake reuses the INVITE table above
(an assumption).

Grants checked, as the client signs them: CreateRoom/DeleteRoom ``roomCreate``; ListRooms
``roomList`` (what the client sends and LiveKit requires); ListParticipants/RemoveParticipant and
CreateDispatch ``roomAdmin`` (for that room when the token names one); CreateSIPParticipant
``sip.call``; TransferSIPParticipant ``sip.call`` and ``roomAdmin``. A bad or missing token gives
401 ``unauthenticated``; a missing grant 403 ``permission_denied``.

Webhooks and inbound calls (issue 11): given a URL (``webhook_url=`` or
:meth:`FakeLiveKitServer.send_webhooks_to`) the fake sends ``room_started``,
``participant_joined``, ``participant_left`` and ``room_finished`` signed and retried as LiveKit
does (:mod:`devtools.livekit_webhooks` cites each rule). :meth:`FakeLiveKitServer.inbound_call`
models a caller put in a room of their own by an individual dispatch rule: their SIP participant
rings until :meth:`FakeLiveKitServer.answer_inbound` (LiveKit's bridge answers once an agent
subscribed), and a transfer of a SIP participant that is not ``active`` fails as LiveKit's does
(``failed_precondition`` "can't transfer non established call").

Usage::

    async with FakeLiveKitServer("key", "secret") as server:
        server.script("+355691234567", SipScript("busy"))
        lk = LiveKitAPI(server.url, "key", "secret")
        ...
        assert server.calls_to("+355691234567")[0].body["sip_trunk_id"] == "ST_x"

    server = FakeLiveKitServer("key", "secret").start_in_thread()   # own loop, own thread
    try: ...
    finally: server.stop()
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import itertools
import json
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import jwt
from aiohttp import web
from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from livekit.api import TokenVerifier
from livekit.protocol import agent_dispatch, models, room, sip
from livekit.protocol.webhook import WebhookEvent

from devtools.livekit_sip_scripts import (  # re-exported: tests import them from here
    _NO_STATUS_FAILURES,
    DEFAULT_RINGING_TIMEOUT_S,
    SERVER_DIAL_CAP_S,
    SIP_REASONS,
    TWIRP_HTTP_STATUS,
    SipOutcome,
    SipScript,
    SipTransferScript,
    TransferOutcome,
    twirp_code_for_sip,
)
from devtools.livekit_webhooks import WebhookSender, guid, webhook_event

__all__ = [
    "DEFAULT_RINGING_TIMEOUT_S",
    "SERVER_DIAL_CAP_S",
    "SIP_REASONS",
    "TWIRP_HTTP_STATUS",
    "FakeLiveKitServer",
    "FakeRoom",
    "InboundLeg",
    "RecordedRequest",
    "SipOutcome",
    "SipScript",
    "SipTransferScript",
    "TransferOutcome",
    "TwirpFailure",
    "twirp_code_for_sip",
]


@dataclass(frozen=True)
class RecordedRequest:
    """One request the fake received.

    Attributes:
        service: Twirp service, e.g. ``"SIP"`` or ``"RoomService"``.
        method: e.g. ``"CreateSIPParticipant"``.
        body: The request message as a dict with proto field names (snake_case).
        identity: The token's identity (empty for server API tokens) or ``""`` if refused.
        grants: The token's claims (``video``, ``sip``...) as sent; empty if the token was bad.
        authorized: False when the request was refused for its token or grants.
    """

    service: str
    method: str
    body: dict[str, Any]
    identity: str
    grants: dict[str, Any]
    authorized: bool


@dataclass(frozen=True)
class InboundLeg:
    """An inbound caller in the fake: their room, identity and SIP call id."""

    room: str
    identity: str
    sip_call_id: str


@dataclass
class FakeRoom:
    """A room the fake holds."""

    sid: str
    name: str
    metadata: str
    empty_timeout: int
    creation_time: int
    participants: dict[str, models.ParticipantInfo] = field(default_factory=dict)

    def to_proto(self) -> models.Room:
        """The room as LiveKit's ``Room`` message."""
        return models.Room(
            sid=self.sid,
            name=self.name,
            metadata=self.metadata,
            empty_timeout=self.empty_timeout,
            creation_time=self.creation_time,
            num_participants=len(self.participants),
        )


class TwirpFailure(Exception):
    """Raised inside a handler to answer with a Twirp error."""

    def __init__(self, code: str, msg: str, meta: dict[str, str] | None = None) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg
        self.meta = meta or {}


_Handler = Callable[[Message, dict[str, Any]], Awaitable[Message]]


@dataclass(frozen=True)
class _Route:
    request_class: type[Message]
    handler: _Handler
    check: Callable[[Message, dict[str, Any]], str | None]


def _video(claims: dict[str, Any]) -> dict[str, Any]:
    return claims.get("video") or {}


def _needs_video(grant: str) -> Callable[[Message, dict[str, Any]], str | None]:
    def check(_request: Message, claims: dict[str, Any]) -> str | None:
        return None if _video(claims).get(grant) else f"requires {grant} grant"

    return check


def _needs_room_admin(request: Message, claims: dict[str, Any]) -> str | None:
    video = _video(claims)
    if not video.get("roomAdmin"):
        return "requires roomAdmin grant"
    granted_room = video.get("room")
    wanted = getattr(request, "room", "") or getattr(request, "room_name", "")
    if granted_room and wanted and granted_room != wanted:
        return "roomAdmin grant is for another room"
    return None


def _needs_sip_call(_request: Message, claims: dict[str, Any]) -> str | None:
    return None if (claims.get("sip") or {}).get("call") else "requires sip call grant"


def _needs_transfer(request: Message, claims: dict[str, Any]) -> str | None:
    return _needs_sip_call(request, claims) or _needs_room_admin(request, claims)


def _seconds(duration: Any, present: bool) -> float:
    if not present:
        return DEFAULT_RINGING_TIMEOUT_S
    return duration.seconds + duration.nanos / 1e9


class FakeLiveKitServer:
    """A LiveKit server API stand-in on 127.0.0.1 with scripted SIP outcomes.

    Use as ``async with`` on the test's loop, or ``start_in_thread()``/``stop()`` (also ``with``)
    to run it on a loop of its own. Read-side helpers return copies and take a lock, so another
    thread may call them while the server runs.
    """

    def __init__(
        self,
        api_key: str,
        api_secret: str,
        *,
        host: str = "127.0.0.1",
        webhook_url: str | None = None,
    ) -> None:
        """Prepare the server; nothing listens until it is started.

        Args:
            api_key: The API key tokens must be issued by.
            api_secret: The secret tokens must be signed with.
            host: The address to bind; keep the loopback default.
            webhook_url: Where to send signed webhooks (see :meth:`send_webhooks_to`).
        """
        self._verifier = TokenVerifier(api_key, api_secret)
        self._api_key, self._api_secret = api_key, api_secret
        # Webhooks go out one at a time, in the order they happened (LiveKit queues them per
        # room and sends each room's in order: webhook/url_notifier.go QueueNotify).
        self.webhooks: WebhookSender | None = None
        if webhook_url is not None:
            self.send_webhooks_to(webhook_url)
        self._webhook_queue: asyncio.Queue[WebhookEvent] | None = None
        self._webhook_worker: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._host = host
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._rooms: dict[str, FakeRoom] = {}
        self._scripts: dict[str, list[SipScript]] = {}
        self._transfer_default = SipTransferScript()
        # Every sip.callStatus a SIP participant went through: (identity, status), in order.
        self.status_log: list[tuple[str, str]] = []
        # (room, identity) of every SIP participant that left (failed dial or transfer).
        self.hangups: list[tuple[str, str]] = []
        # The server's cap on a dial that waits for the answer; tests may shorten it.
        self.dial_cap_s = SERVER_DIAL_CAP_S
        self._transfer_by_room: dict[str, SipTransferScript] = {}
        self._dispatches: list[agent_dispatch.AgentDispatch] = []
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._closing: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._thread_loop: asyncio.AbstractEventLoop | None = None
        self._routes: dict[tuple[str, str], _Route] = {
            ("RoomService", "CreateRoom"): _Route(
                room.CreateRoomRequest, self._create_room, _needs_video("roomCreate")
            ),
            ("RoomService", "ListRooms"): _Route(
                room.ListRoomsRequest, self._list_rooms, _needs_video("roomList")
            ),
            ("RoomService", "DeleteRoom"): _Route(
                room.DeleteRoomRequest, self._delete_room, _needs_video("roomCreate")
            ),
            ("RoomService", "ListParticipants"): _Route(
                room.ListParticipantsRequest, self._list_participants, _needs_room_admin
            ),
            ("RoomService", "RemoveParticipant"): _Route(
                room.RoomParticipantIdentity, self._remove_participant, _needs_room_admin
            ),
            ("SIP", "CreateSIPParticipant"): _Route(
                sip.CreateSIPParticipantRequest, self._create_sip_participant, _needs_sip_call
            ),
            ("SIP", "TransferSIPParticipant"): _Route(
                sip.TransferSIPParticipantRequest, self._transfer_sip_participant, _needs_transfer
            ),
            ("AgentDispatchService", "CreateDispatch"): _Route(
                agent_dispatch.CreateAgentDispatchRequest, self._create_dispatch, _needs_room_admin
            ),
        }

    # ---------------------------------------------------------------- lifecycle

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` once started."""
        if self._port is None:
            raise RuntimeError("FakeLiveKitServer is not started")
        return f"http://{self._host}:{self._port}"

    async def start(self) -> FakeLiveKitServer:
        """Start listening on a free port on the current event loop."""
        self._closing = asyncio.Event()
        self._webhook_queue = asyncio.Queue()
        self._loop = asyncio.get_running_loop()
        self._webhook_worker = asyncio.create_task(self._deliver_webhooks())
        app = web.Application()
        app.router.add_post("/twirp/livekit.{service}/{method}", self._handle)
        # A short shutdown grace: ringing handlers are woken by _closing, nothing else lingers.
        self._runner = web.AppRunner(app, shutdown_timeout=1.0, access_log=None)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind((self._host, 0))
        self._port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()
        return self

    async def aclose(self) -> None:
        """Stop listening; calls still ringing end with 503 so clients are not left hanging."""
        if self._closing is not None:
            self._closing.set()
        if self._webhook_worker is not None:
            self._webhook_worker.cancel()
            await asyncio.gather(self._webhook_worker, return_exceptions=True)
            self._webhook_worker = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeLiveKitServer:
        return await self.start()

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    def start_in_thread(self, timeout_s: float = 5.0) -> FakeLiveKitServer:
        """Run the server on its own event loop in a daemon thread; returns once listening.

        Args:
            timeout_s: How long to wait for the server to come up.

        Returns:
            self, with :attr:`url` set.
        """
        started = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._thread_loop = loop
            try:
                loop.run_until_complete(self.start())
            except BaseException as exc:  # surfaced to the starting thread below
                errors.append(exc)
                started.set()
                loop.close()
                return
            started.set()
            loop.run_forever()
            loop.run_until_complete(self.aclose())
            loop.close()

        self._thread = threading.Thread(target=run, name="livekit-fake", daemon=True)
        self._thread.start()
        if not started.wait(timeout_s):
            raise RuntimeError("FakeLiveKitServer did not start in time")
        if errors:
            raise errors[0]
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop a server started with :meth:`start_in_thread` and join its thread."""
        if self._thread is None or self._thread_loop is None:
            return
        loop = self._thread_loop
        if self._closing is not None:
            loop.call_soon_threadsafe(self._closing.set)
        loop.call_soon_threadsafe(loop.stop)
        self._thread.join(timeout_s)
        self._thread = None
        self._thread_loop = None

    def __enter__(self) -> FakeLiveKitServer:
        return self.start_in_thread()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # ---------------------------------------------------------------- scripting

    def script(self, phone: str, *scripts: SipScript) -> None:
        """Script the calls to one number; successive calls take the next script, the last repeats.

        Args:
            phone: The number as the request's ``sip_call_to`` carries it.
            *scripts: One or more outcomes.
        """
        if not scripts:
            raise ValueError("give at least one SipScript")
        with self._lock:
            self._scripts[phone] = list(scripts)

    def script_transfer(self, script: SipTransferScript, *, room_name: str | None = None) -> None:
        """Script transfers in one room, or by default for every room.

        Args:
            script: The outcome.
            room_name: The room it applies to; None sets the default.
        """
        with self._lock:
            if room_name is None:
                self._transfer_default = script
            else:
                self._transfer_by_room[room_name] = script

    # ---------------------------------------------------------------- webhooks and inbound

    def send_webhooks_to(self, url: str) -> WebhookSender:
        """Send signed webhooks of every room and participant event to ``url`` from now on.

        Returns:
            The sender (its ``deliveries`` and ``sent`` record what went out).
        """
        self.webhooks = WebhookSender(url, self._api_key, self._api_secret)
        return self.webhooks

    def _notify(self, name: str, found: FakeRoom, person: models.ParticipantInfo | None = None):
        # Called with the lock held; from the server's loop, or a test's thread.
        queue, loop = self._webhook_queue, self._loop
        if self.webhooks is None or queue is None or loop is None:
            return
        participant = None
        if person is not None:
            participant = models.ParticipantInfo()
            participant.CopyFrom(person)
        event = webhook_event(name, room=found.to_proto(), participant=participant)
        try:
            here = asyncio.get_running_loop()
        except RuntimeError:
            here = None
        if here is loop:
            queue.put_nowait(event)  # at once, so flush_webhooks() right after waits for it
        else:
            loop.call_soon_threadsafe(queue.put_nowait, event)

    async def _deliver_webhooks(self) -> None:
        assert self._webhook_queue is not None
        while True:
            event = await self._webhook_queue.get()
            try:
                if self.webhooks is not None:
                    await self.webhooks.send(event)
            finally:
                self._webhook_queue.task_done()

    async def flush_webhooks(self) -> None:
        """Wait until every webhook so far has been delivered (or given up on)."""
        if self._webhook_queue is not None:
            await self._webhook_queue.join()

    async def inbound_call(
        self,
        caller: str,
        *,
        trunk_number: str = "+35542223344",
        room_prefix: str = "call-",
        hide_phone_number: bool = False,
        attributes: dict[str, str] | None = None,
    ) -> InboundLeg:
        """A caller dials the clinic's number; an individual dispatch rule takes the call.

        As livekit/protocol ``sip/sip.go`` ``EvaluateDispatchRule``: the room is
        ``<prefix>_<caller>_<random>``, the identity ``sip_<caller>`` and the name ``Phone
        <caller>`` (hashed and cut to four digits with ``hide_phone_number``, which also leaves
        out ``sip.phoneNumber``, ``sip.hostname`` and ``sip.trunkPhoneNumber``); the rule's
        attributes come first and ``sip.callID``, ``sip.trunkID`` and ``sip.ruleID`` are set over
        them. The SIP bridge joins the room ringing (livekit/sip ``pkg/sip/inbound.go``
        ``joinRoom`` with ``CallRinging``) and answers only once an agent subscribed to the
        caller: :meth:`answer_inbound`.

        Args:
            caller: The caller's number as the carrier sends it (the SIP From user).
            trunk_number: The clinic's number the caller dialled (the To user).
            room_prefix: The dispatch rule's room prefix.
            hide_phone_number: The dispatch rule hides the caller's number.
            attributes: The dispatch rule's own participant attributes.

        Returns:
            The caller's room, identity and SIP call id.
        """
        identity, name = f"sip_{caller}", f"Phone {caller}"
        attrs = dict(attributes or {})
        attrs.update({"sip.callID": guid("SCL_"), "sip.trunkID": "ST_inbound"})
        if hide_phone_number:
            identity = "sip_" + hashlib.sha256(caller.encode()).hexdigest()[:16]
            name = "Phone " + caller[-4:]
        else:
            attrs.update(
                {
                    "sip.phoneNumber": caller,
                    "sip.hostname": "carrier.invalid",
                    "sip.trunkPhoneNumber": trunk_number,
                }
            )
        attrs.update({"sip.ruleID": "SDR_inbound", "sip.callStatus": "ringing"})
        room_name = f"{room_prefix}_{caller}_{guid('')}"
        participant = models.ParticipantInfo(
            sid=self._next_id("PA"),
            identity=identity,
            name=name,
            state=models.ParticipantInfo.State.ACTIVE,
            kind=models.ParticipantInfo.Kind.SIP,
            joined_at=int(time.time()),
            attributes=attrs,
        )
        self._set_participant(room_name, participant)
        return InboundLeg(room=room_name, identity=identity, sip_call_id=attrs["sip.callID"])

    def answer_inbound(self, leg: InboundLeg) -> None:
        """An agent subscribed to the caller's audio: the SIP bridge answers (``active``).

        livekit/sip ``pkg/sip/inbound.go``: ``waitSubscribe`` then ``acceptCall``, which sets
        ``CallActive``. The fake sees no media, so whoever stands in for the agent's media (a
        test's file transport) says when it is in the room.
        """
        with self._lock:
            found = self._rooms.get(leg.room)
            person = found.participants.get(leg.identity) if found else None
        if person is not None:
            self._with_status(leg.room, person, "active")

    def caller_hangs_up(self, leg: InboundLeg) -> None:
        """The caller hangs up: their SIP participant leaves the room."""
        with self._lock:
            found = self._rooms.get(leg.room)
            left = found.participants.pop(leg.identity, None) if found else None
            if found is not None and left is not None:
                self.status_log.append((leg.identity, "hangup"))
                self._notify("participant_left", found, left)

    def call_status(self, leg: InboundLeg) -> str | None:
        """The caller's ``sip.callStatus`` now; None once they left."""
        with self._lock:
            found = self._rooms.get(leg.room)
            person = found.participants.get(leg.identity) if found else None
            return person.attributes["sip.callStatus"] if person else None

    # ---------------------------------------------------------------- inspection

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received, in order (a copy)."""
        with self._lock:
            return list(self._requests)

    @property
    def rooms(self) -> dict[str, FakeRoom]:
        """The rooms that exist now, by name (deep copies)."""
        with self._lock:
            return copy.deepcopy(self._rooms)

    def participants(self, room_name: str) -> list[str]:
        """The identities of the participants in a room (empty if the room does not exist)."""
        with self._lock:
            found = self._rooms.get(room_name)
            return list(found.participants) if found else []

    def calls_to(self, phone: str) -> list[RecordedRequest]:
        """The CreateSIPParticipant requests that dialled one number."""
        return [
            r
            for r in self.requests
            if r.method == "CreateSIPParticipant" and r.body.get("sip_call_to") == phone
        ]

    def requests_for(self, method: str) -> list[RecordedRequest]:
        """The requests for one Twirp method, e.g. ``"DeleteRoom"``."""
        return [r for r in self.requests if r.method == method]

    # ---------------------------------------------------------------- HTTP edge

    async def _handle(self, request: web.Request) -> web.Response:
        service = request.match_info["service"]
        method = request.match_info["method"]
        as_json = request.content_type == "application/json"
        route = self._routes.get((service, method))
        if route is None:
            return self._error("bad_route", f"no handler for livekit.{service}/{method}")
        raw = await request.read()
        try:
            if as_json:
                message = json_format.Parse(raw or b"{}", route.request_class(), True)
            else:
                message = route.request_class.FromString(raw)
        except (DecodeError, json_format.ParseError) as exc:
            return self._error("malformed", f"cannot decode request: {exc}")
        body = json_format.MessageToDict(message, preserving_proto_field_name=True)

        claims = self._claims(request.headers.get("Authorization", ""))
        refusal = (
            ("unauthenticated", "invalid authorization token")
            if claims is None
            else (
                ("permission_denied", denial) if (denial := route.check(message, claims)) else None
            )
        )
        self._record(
            RecordedRequest(
                service=service,
                method=method,
                body=body,
                identity=(claims or {}).get("sub", ""),
                grants={k: v for k, v in (claims or {}).items() if k in ("video", "sip")},
                authorized=refusal is None,
            )
        )
        if refusal is not None:
            return self._error(*refusal)
        try:
            answer = await route.handler(message, claims or {})
        except TwirpFailure as failure:
            return self._error(failure.code, failure.msg, failure.meta)
        if as_json:
            return web.json_response(
                json_format.MessageToDict(answer, preserving_proto_field_name=True)
            )
        return web.Response(body=answer.SerializeToString(), content_type="application/protobuf")

    def _claims(self, header: str) -> dict[str, Any] | None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        try:
            self._verifier.verify(token)  # signature, issuer, expiry
            return jwt.decode(token, options={"verify_signature": False})
        except (jwt.PyJWTError, ValueError, TypeError):
            return None

    @staticmethod
    def _error(code: str, msg: str, meta: dict[str, str] | None = None) -> web.Response:
        if code == "unauthenticated":
            # livekit/livekit pkg/service/auth.go APIKeyAuthMiddleware.ServeHTTP ->
            # utils.go HandleError: a bad key or signature is a PLAIN-TEXT 401 (err.Error()),
            # which livekit-api reports as code "unknown", status 401.
            return web.Response(status=401, text=msg, content_type="text/plain")
        payload: dict[str, Any] = {"code": code, "msg": msg}
        if meta:
            payload["meta"] = meta
        return web.Response(
            status=TWIRP_HTTP_STATUS[code],
            text=json.dumps(payload),
            content_type="application/json",
        )

    def _record(self, recorded: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(recorded)

    def _next_id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._ids):06d}"

    # ---------------------------------------------------------------- RoomService

    def _ensure_room(self, name: str, metadata: str = "", empty_timeout: int = 0) -> FakeRoom:
        # Caller holds the lock.
        found = self._rooms.get(name)
        if found is None:
            found = FakeRoom(
                sid=self._next_id("RM"),
                name=name,
                metadata=metadata,
                empty_timeout=empty_timeout,
                creation_time=int(time.time()),
            )
            self._rooms[name] = found
            self._notify("room_started", found)
        return found

    async def _create_room(self, message: Message, _claims: dict[str, Any]) -> Message:
        assert isinstance(message, room.CreateRoomRequest)
        if not message.name:
            raise TwirpFailure("invalid_argument", "room name is required")
        with self._lock:
            # Idempotent: creating an existing room answers the room as it is.
            return self._ensure_room(
                message.name, message.metadata, message.empty_timeout
            ).to_proto()

    async def _list_rooms(self, message: Message, _claims: dict[str, Any]) -> Message:
        assert isinstance(message, room.ListRoomsRequest)
        wanted = set(message.names)
        with self._lock:
            rooms = [r.to_proto() for r in self._rooms.values() if not wanted or r.name in wanted]
        return room.ListRoomsResponse(rooms=rooms)

    async def _delete_room(self, message: Message, _claims: dict[str, Any]) -> Message:
        assert isinstance(message, room.DeleteRoomRequest)
        with self._lock:
            gone = self._rooms.pop(message.room, None)
            if gone is None:
                raise TwirpFailure("not_found", "requested room does not exist")
            # Everyone is disconnected, then the room ends (livekit/livekit pkg/rtc/room.go).
            for person in gone.participants.values():
                self._notify("participant_left", gone, person)
            self._notify("room_finished", gone)
        return room.DeleteRoomResponse()

    async def _list_participants(self, message: Message, _claims: dict[str, Any]) -> Message:
        assert isinstance(message, room.ListParticipantsRequest)
        with self._lock:
            found = self._rooms.get(message.room)
            people = list(found.participants.values()) if found else []
        return room.ListParticipantsResponse(participants=people)

    async def _remove_participant(self, message: Message, _claims: dict[str, Any]) -> Message:
        assert isinstance(message, room.RoomParticipantIdentity)
        with self._lock:
            found = self._rooms.get(message.room)
            left = found.participants.pop(message.identity, None) if found else None
            if found is None or left is None:
                raise TwirpFailure("not_found", "participant not found")
            self._notify("participant_left", found, left)
        return room.RemoveParticipantResponse()

    # ---------------------------------------------------------------- SIP

    def _next_script(self, phone: str) -> SipScript:
        with self._lock:
            queue = self._scripts.get(phone)
            if not queue:
                return SipScript()
            return queue.pop(0) if len(queue) > 1 else queue[0]

    async def _ring(self, seconds: float | None) -> bool:
        """Wait while the phone rings; False if the server is shutting down meanwhile."""
        assert self._closing is not None
        try:
            await asyncio.wait_for(self._closing.wait(), timeout=seconds)
        except TimeoutError:
            return True
        return False

    async def _create_sip_participant(self, message: Message, _claims: dict[str, Any]) -> Message:
        assert isinstance(message, sip.CreateSIPParticipantRequest)
        if not message.sip_trunk_id and not message.HasField("trunk"):
            raise TwirpFailure("invalid_argument", "missing sip trunk id")
        if not message.sip_call_to:
            raise TwirpFailure("invalid_argument", "missing sip call to")
        if not message.room_name:
            raise TwirpFailure("invalid_argument", "missing room name")
        identity = message.participant_identity or self._next_id("sip")
        call_id = self._next_id("SCL")
        script = self._next_script(message.sip_call_to)
        ringing_timeout = _seconds(message.ringing_timeout, message.HasField("ringing_timeout"))
        info = sip.SIPParticipantInfo(
            participant_id=self._next_id("PA"),
            participant_identity=identity,
            room_name=message.room_name,
            sip_call_id=call_id,
        )
        if message.wait_until_answered:
            await self._place_call(
                message, identity, info.participant_id, call_id, script, ringing_timeout
            )
        else:
            # The real server answers at once and dials in the background.
            task = asyncio.create_task(
                self._place_call(
                    message, identity, info.participant_id, call_id, script, ringing_timeout
                )
            )
            task.add_done_callback(lambda t: t.cancelled() or t.exception())
        return info

    async def _place_call(
        self,
        message: sip.CreateSIPParticipantRequest,
        identity: str,
        participant_sid: str,
        call_id: str,
        script: SipScript,
        ringing_timeout: float,
    ) -> None:
        # The SIP bridge joins the room before dialling (livekit/sip pkg/sip/outbound.go
        # outboundCall.connectToRoom sets sip.callStatus "dialing" and sip.callID), then goes
        # ringing -> active (setStatus) and leaves on hangup. Joining auto-creates the room.
        # pkg/sip/room.go: sip.phoneNumber is set unless hide_phone_number.
        attributes = {
            **dict(message.participant_attributes),
            "sip.callID": call_id,
            "sip.trunkID": message.sip_trunk_id,
        }
        if not message.hide_phone_number:
            attributes["sip.phoneNumber"] = message.sip_call_to
        participant = models.ParticipantInfo(
            sid=participant_sid,
            identity=identity,
            name=message.participant_name,
            metadata=message.participant_metadata,
            state=models.ParticipantInfo.State.JOINED,
            kind=models.ParticipantInfo.Kind.SIP,
            joined_at=int(time.time()),
            attributes={**attributes, "sip.callStatus": "dialing"},
        )
        self._set_participant(message.room_name, participant)
        try:
            await self._dial(message, script, ringing_timeout, participant)
        except BaseException:
            with self._lock:
                found = self._rooms.get(message.room_name)
                left = found.participants.pop(identity, None) if found else None
                if found is not None and left is not None:
                    self._notify("participant_left", found, left)
                self.hangups.append((message.room_name, identity))
            raise

    def _set_participant(self, room_name: str, participant: models.ParticipantInfo) -> None:
        with self._lock:
            found = self._ensure_room(room_name)
            joined = participant.identity not in found.participants
            found.participants[participant.identity] = participant
            self.status_log.append((participant.identity, participant.attributes["sip.callStatus"]))
            if joined:
                # The SIP bridge is a LiveKit participant from the moment it joins (dialling, or
                # ringing an inbound caller): "joined" is sent once it is active in the room
                # (livekit/livekit pkg/telemetry/events.go ParticipantActive).
                self._notify("participant_joined", found, participant)

    def _with_status(
        self, room_name: str, participant: models.ParticipantInfo, status: str
    ) -> models.ParticipantInfo:
        updated = models.ParticipantInfo()
        updated.CopyFrom(participant)
        updated.attributes["sip.callStatus"] = status
        if status == "active":
            updated.state = models.ParticipantInfo.State.ACTIVE
        self._set_participant(room_name, updated)
        return updated

    async def _dial(
        self,
        message: sip.CreateSIPParticipantRequest,
        script: SipScript,
        ringing_timeout: float,
        participant: models.ParticipantInfo,
    ) -> None:
        if script.outcome == "trunk_silent":
            # Timer B: the trunk stays silent for ~32 s; the fake answers at once.
            raise TwirpFailure(*_NO_STATUS_FAILURES["trunk_silent"])
        if script.outcome in _NO_STATUS_FAILURES:
            raise TwirpFailure(*_NO_STATUS_FAILURES[script.outcome])
        participant = self._with_status(message.room_name, participant, "ringing")
        ring = script.ring_secs
        cap = self.dial_cap_s if message.wait_until_answered else None
        if cap is not None and (ring is None or ring >= cap) and ringing_timeout >= cap:
            # The server's own 80 s ends the request first (SIPService.CreateSIPParticipant).
            if not await self._ring(cap):
                raise TwirpFailure("unavailable", "service shutting down")
            raise TwirpFailure("deadline_exceeded", "context deadline exceeded")
        if ring is None or ring >= ringing_timeout:
            if not await self._ring(ringing_timeout):
                raise TwirpFailure("unavailable", "service shutting down")
            raise TwirpFailure("canceled", "sip request timed out")
        if not await self._ring(ring):
            raise TwirpFailure("unavailable", "service shutting down")
        failure = script.failure()
        if failure is not None:
            code, reason = failure
            raise TwirpFailure(
                twirp_code_for_sip(code),
                f"INVITE failed: sip status: {code}: {reason}",
                {"sip_status_code": str(code), "sip_status": reason},
            )
        self._with_status(message.room_name, participant, "active")

    async def _transfer_sip_participant(self, message: Message, _claims: dict[str, Any]) -> Message:
        assert isinstance(message, sip.TransferSIPParticipantRequest)
        if not message.transfer_to:
            raise TwirpFailure("invalid_argument", "missing transfer to")
        with self._lock:
            found = self._rooms.get(message.room_name)
            if found is None or message.participant_identity not in found.participants:
                raise TwirpFailure("not_found", "participant not found")
            callee = found.participants[message.participant_identity]
            script = self._transfer_by_room.get(message.room_name, self._transfer_default)
        if callee.attributes.get("sip.callStatus", "active") != "active":
            # livekit/sip be5d3f57 pkg/sip/inbound.go sipInbound.newReferReq and outbound.go
            # transferCall: a REFER needs an established dialog (psrpc.FailedPrecondition).
            raise TwirpFailure("failed_precondition", "can't transfer non established call")
        transfer_id = self._next_id("ST")
        if script.outcome == "ok":
            # After an accepted REFER LiveKit hangs up its leg: the SIP participant leaves.
            with self._lock:
                current = self._rooms.get(message.room_name)
                who = message.participant_identity
                left = current.participants.pop(who, None) if current else None
                if current is not None and left is not None:
                    self._notify("participant_left", current, left)
                self.status_log.append((message.participant_identity, "hangup"))
                self.hangups.append((message.room_name, message.participant_identity))
            # livekit/sip be5d3f57 pkg/sip/service.go Service.TransferSIPParticipant answers
            # *emptypb.Empty on success, so every field of the server's answer is unset.
            return sip.TransferSIPParticipantResponse()
        code = script.sip_code
        reason_phrase = SIP_REASONS.get(code, "Error")
        if script.via_response:
            return sip.TransferSIPParticipantResponse(
                transfer_id=transfer_id,
                status=sip.SIPTransferStatus.STS_TRANSFER_FAILED,
                reason=sip.SIPTransferReason.Value(script.transfer_reason()),
                sip_status=sip.SIPStatus(code=code, status=reason_phrase),
            )
        raise TwirpFailure(
            twirp_code_for_sip(code),
            f"transfer failed: sip status: {code}: {reason_phrase}",
            {
                "sip_status_code": str(code),
                "sip_status": reason_phrase,
                "sip_transfer_reason": script.transfer_reason(),
                "sip_transfer_id": transfer_id,
            },
        )

    # ---------------------------------------------------------------- AgentDispatchService

    async def _create_dispatch(self, message: Message, _claims: dict[str, Any]) -> Message:
        assert isinstance(message, agent_dispatch.CreateAgentDispatchRequest)
        dispatch = agent_dispatch.AgentDispatch(
            id=self._next_id("AD"),
            agent_name=message.agent_name,
            room=message.room,
            metadata=message.metadata,
        )
        with self._lock:
            self._dispatches.append(dispatch)
        return dispatch
