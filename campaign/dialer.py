"""Dial patients through LiveKit's SIP API and turn what the phone network says into outcomes.

The campaign runner creates a room, starts the agent in it, then calls :meth:`Dialer.dial`,
which blocks until the callee answers or the call fails (``wait_until_answered``). A failed
call comes back as a :class:`DialResult` with an attempt outcome, never as an exception;
:class:`DialerError` is kept for problems a retry of the same number cannot fix by itself
(server unreachable, credentials refused, bad trunk id, other non-SIP server errors).

SIP final response -> attempt outcome (:func:`outcome_for_sip`):

==============================================  ===========  =========  ==========================
SIP status                                      outcome      permanent  why
==============================================  ===========  =========  ==========================
486 Busy Here, 600 Busy Everywhere              busy         no         line in use; retry soon
603 Decline                                     busy         no         see below
408 Request Timeout, 480 Temporarily            no_answer    no         rang out, phone off or
Unavailable, 487 Request Terminated, LiveKit's                          unreachable for now
own ringing timeout (no SIP status)
404 Not Found, 410 Gone, 484 Address            failed       yes        the number cannot be
Incomplete, 604 Does Not Exist Anywhere                                 reached: do not retry
401, 407, any 5xx                               failed       no         system fault (see below):
                                                                        charged to no patient
any other code (403, 488...)                    failed       no         trunk/carrier trouble
==============================================  ===========  =========  ==========================

603 Decline is the callee (or their handset on their behalf) rejecting the ringing call: "not
now", before any conversation. It is not ``declined``, which means the patient refused in
conversation and starts a 60-day pause. It is ``busy``: the phone was reached and someone is
there but cannot take the call at this moment, which is exactly the busy situation (Asterisk
also reports a 603 as BUSY). The alternative, ``no_answer``, would claim the phone rang out,
which it did not. A busy retry still counts against the attempt cap (4 per 30 days). Caveat:
some trunks send 603 for their own refusals (e.g. an inactive Twilio account); those then look
busy until the attempt cap is reached, and show in ``sip_status``.

LiveKit reports its own ringing timeout as Twirp ``canceled`` ("sip request timed out") with no
SIP status; that is ``no_answer`` with ``sip_status`` None. See ``devtools/livekit_fake.py`` for
the error shapes the real server sends.

System faults (issue 9 §6): a :class:`DialResult` with ``fault`` set is the trunk's, the
credentials' or LiveKit's failure, not the patient's; the runner charges it to no patient cap
and counts it for its fault breaker. Evidence (livekit/sip be5d3f57, livekit/livekit 788d4c35):

- ``failed_precondition`` without SIP meta: trunk login failure (``pkg/sip/outbound.go``
  ``outboundCall.attemptInvite``'s auth loop: ``ErrAuthMaxRetry``/``ErrAuthMissingCreds``), and
  any server error once the INVITE was sent (``pkg/sip/errors.go`` ``inviteFailure.afterInvite``
  turns it into ``FailedPrecondition`` so it is never re-dialled).
- ``canceled`` "transaction failed to complete (0 intermediate responses)": the trunk sent not
  even 100 Trying (``errors.go`` ``transactionTimeoutError``, "upstream went silent (Timer B)").
  The patient's ring-out is ``canceled`` "sip request timed out" (``outbound.go``
  ``sipResponse``). A ``canceled`` of any text that comes back in under half the ring window
  is also a fault: LiveKit's ring timeout cannot fire before the window ends. Limit: a trunk
  that sends 100 Trying and then nothing looks exactly like a patient who does not pick up.
- SIP 401/407 (the trunk refused our login) and 5xx (the carrier's own failure).
- 5xx Twirp answers, timeouts and an unreachable server (``DialerError`` without
  ``configuration``) after the request was sent: the runner records them as faults too.

A wrong API key or secret: ``pkg/service/auth.go`` ``APIKeyAuthMiddleware.ServeHTTP`` answers
``HandleError(w, r, http.StatusUnauthorized, ...)`` as plain text, which livekit-api 1.2.2
(``twirp_client.py`` ``TwirpClient.request``/``_server_error``) cannot parse as Twirp JSON and
reports as code ``unknown`` with status 401: that is a credentials refusal (configuration).

No dial is sent twice: livekit-api retries 5xx and transport errors against ``*.livekit.cloud``
(``_failover.py`` ``failover_attempts``, 3 attempts) unless ``failover=False``, which the
dialer passes. ``pkg/service/sip.go`` ``SIPService.CreateSIPParticipant`` gives a dial that
waits for the answer 80 s in all (room join included), so the client waits
:data:`SERVER_DIAL_CAP_S` plus a margin, and the ring window is capped below that cap.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol
from urllib.parse import urlsplit

import aiohttp
from google.protobuf.duration_pb2 import Duration
from livekit import api
from livekit.protocol import room as room_proto
from livekit.protocol import sip as sip_proto
from loguru import logger

from config.settings import AppSettings, env_name
from storage.models import AttemptOutcome
from tools.call_port import TransferOutcome

_BUSY = frozenset({486, 600, 603})
_NO_ANSWER = frozenset({408, 480, 487})
_PERMANENT = frozenset({404, 410, 484, 604})
# Twirp codes LiveKit uses for "the phone rang out / the call was cancelled" without SIP status.
_RING_TIMEOUT_CODES = frozenset({"canceled", "deadline_exceeded"})
_AUTH_CODES = frozenset({"unauthenticated", "permission_denied"})
# SIP answers of the trunk or carrier rather than the patient's phone: our trunk login was
# refused (401/407) or the carrier failed (5xx).
_TRUNK_AUTH = frozenset({401, 407})
# pkg/service/sip.go SIPService.CreateSIPParticipant: 80 s for a dial with wait_until_answered.
SERVER_DIAL_CAP_S = 80.0
# The client waits this much longer than the server, so the server's own answer always arrives.
CLIENT_MARGIN_S = 5.0
# errors.go transactionTimeoutError with 0 provisionals: the trunk never answered the INVITE.
_TRUNK_SILENT = "(0 intermediate responses)"
# Non-SIP refusals of a request as such (e.g. an unknown trunk id): the set-up is wrong.
_CONFIG_CODES = frozenset({"invalid_argument", "not_found"})
# Keeps a server message on one short line in errors that may end up in logs.
_MAX_DETAIL = 160


class DialerError(Exception):
    """LiveKit could not be asked to dial: unreachable, credentials refused, bad trunk...

    The message is one line and never carries the API secret.

    Attributes:
        configuration: The set-up is wrong (credentials refused, a request LiveKit rejects
            such as an unknown trunk): every further call would fail the same way.
    """

    def __init__(self, message: str, *, configuration: bool = False) -> None:
        super().__init__(message)
        self.configuration = configuration


@dataclass(frozen=True)
class DialRequest:
    """One outbound call to place.

    Attributes:
        room: The LiveKit room the callee joins (the agent is already there or on its way).
        phone: The callee's number, E.164.
        participant_identity: The identity the callee gets in the room.
        trunk_id: The outbound SIP trunk id.
        caller_id: The number shown to the callee; None uses the trunk's own.
        ringing_timeout_s: How long to let it ring.
        metadata: Participant metadata for the callee (ids only, no personal data).
    """

    room: str
    phone: str
    participant_identity: str
    trunk_id: str
    caller_id: str | None
    ringing_timeout_s: float
    metadata: str = ""


@dataclass(frozen=True)
class DialResult:
    """How a dial ended.

    Attributes:
        answered: The callee picked up (a voicemail also answers at the SIP level).
        outcome: The attempt outcome when not answered; None when answered.
        sip_status: e.g. ``"486 Busy Here"`` or ``"200 OK"``; None when LiveKit gave none
            (its own ringing timeout).
        permanent: The number can never be reached (404/410/484/604): do not retry it.
        fault: One line when the system (trunk, credentials, LiveKit) failed, not the
            patient's phone: charged to no patient cap. None for the patient's outcomes.
    """

    answered: bool
    outcome: AttemptOutcome | None
    sip_status: str | None
    permanent: bool
    fault: str | None = None


def outcome_for_sip(code: int | None) -> tuple[AttemptOutcome, bool]:
    """Map a failed call's SIP status to an attempt outcome (see the module table).

    Args:
        code: The SIP final response code, or None when LiveKit's ringing timeout ended the
            call without one.

    Returns:
        ``(outcome, permanent)``; permanent means the number must not be dialled again.
    """
    if code is None or code in _NO_ANSWER:
        return "no_answer", False
    if code in _BUSY:
        return "busy", False
    if code in _PERMANENT:
        return "failed", True
    return "failed", False


class Dialer(Protocol):
    """What the campaign runner needs from the telephony side."""

    async def create_room(self, *, room: str, metadata: str, empty_timeout_s: int) -> None:
        """Create (or reuse) the call's room."""
        ...

    async def dial(self, request: DialRequest) -> DialResult:
        """Call a number into a room and wait until it is answered or fails."""
        ...

    async def hang_up(self, *, room: str) -> None:
        """End the call by deleting its room; a room that is already gone is fine."""
        ...

    async def transfer(
        self, *, room: str, participant_identity: str, transfer_to: str
    ) -> TransferOutcome:
        """Transfer the callee to ``tel:...`` or ``sip:...``; never raises."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


def _http_url(url: str) -> str:
    # The server API is plain HTTP(S) on the same host as the websocket URL.
    url = url.strip().rstrip("/")
    if url.startswith("wss://"):
        return "https://" + url[len("wss://") :]
    if url.startswith("ws://"):
        return "http://" + url[len("ws://") :]
    return url


def _origin(url: str) -> str:
    # Only scheme://host:port goes into messages: no path, query or userinfo.
    parts = urlsplit(url)
    host = parts.hostname or ""
    return f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")


def _duration(seconds: float) -> Duration:
    value = Duration()
    value.FromTimedelta(timedelta(seconds=seconds))
    return value


def _plain_401(exc: api.ServerError) -> bool:
    # livekit/livekit pkg/service/auth.go answers a bad key or signature with a plain-text 401;
    # livekit-api cannot parse it as Twirp JSON and reports code "unknown" (twirp_client.py).
    return exc.status == 401


def _sip_status(code: int | None, reason: str | None) -> str | None:
    if code is None:
        return None
    return f"{code} {reason}".strip() if reason else str(code)


class LiveKitDialer:
    """:class:`Dialer` over ``livekit.api.LiveKitAPI`` (Twirp over HTTP)."""

    def __init__(
        self, *, url: str, api_key: str, api_secret: str, request_timeout_s: float = 10.0
    ) -> None:
        """Keep the connection details; the HTTP session opens on first use.

        Args:
            url: The LiveKit URL; ``ws://``/``wss://`` are turned into ``http://``/``https://``.
            api_key: The API key.
            api_secret: The API secret (never logged nor put in errors).
            request_timeout_s: Timeout of room requests; dialling adds the ringing time.
        """
        self._url = _http_url(url)
        self._origin = _origin(self._url)
        self._api_key = api_key
        self._api_secret = api_secret
        self._timeout_s = request_timeout_s
        self._api: api.LiveKitAPI | None = None

    @classmethod
    def from_settings(cls, settings: AppSettings) -> LiveKitDialer:
        """Build from ``settings.livekit``.

        Raises:
            DialerError: The URL, API key or secret is missing; the message names the variables.
        """
        lk = settings.livekit
        values = {
            "url": lk.url,
            "api_key": lk.api_key.get_secret_value(),
            "api_secret": lk.api_secret.get_secret_value(),
        }
        missing = [env_name(("livekit", name)) for name, value in values.items() if not value]
        if missing:
            raise DialerError("LiveKit dialling is not configured: set " + ", ".join(missing))
        return cls(url=values["url"], api_key=values["api_key"], api_secret=values["api_secret"])

    def _client(self) -> api.LiveKitAPI:
        if self._api is None:
            # Created lazily: aiohttp sessions belong to the running event loop.
            self._api = api.LiveKitAPI(
                self._url,
                self._api_key,
                self._api_secret,
                timeout=aiohttp.ClientTimeout(total=self._timeout_s),
                # No automatic replays (livekit-api _failover.py): a replayed
                # CreateSIPParticipant could ring the patient twice.
                failover=False,
            )
        return self._api

    def _fail(self, exc: BaseException, action: str, *, scrub: str = "") -> DialerError:
        """Turn a non-SIP failure into a one-line DialerError without secrets or the number."""
        configuration = False
        if isinstance(exc, api.ServerError):
            auth = exc.code in _AUTH_CODES or _plain_401(exc)
            configuration = auth or exc.code in _CONFIG_CODES
            if auth:
                text = f"LiveKit refused the API credentials ({exc.code}) at {self._origin}"
            else:
                detail = " ".join(str(exc.message).split())[:_MAX_DETAIL]
                if scrub:
                    detail = detail.replace(scrub, "<phone>")
                text = f"LiveKit could not {action}: {exc.code} (HTTP {exc.status}): {detail}"
        elif isinstance(exc, TimeoutError):
            text = f"LiveKit API at {self._origin} did not answer in time while trying to {action}"
        else:
            text = f"LiveKit API unreachable at {self._origin} ({type(exc).__name__})"
        if self._api_secret:
            text = text.replace(self._api_secret, "<secret>")
        return DialerError(text, configuration=configuration)

    async def create_room(self, *, room: str, metadata: str, empty_timeout_s: int) -> None:
        """Create the room (LiveKit answers the existing one if it is there).

        Raises:
            DialerError: LiveKit is unreachable or refused the request.
        """
        request = room_proto.CreateRoomRequest(
            name=room, metadata=metadata, empty_timeout=empty_timeout_s
        )
        try:
            # livekit-api sends room calls with no timeout of their own: bound them here.
            async with asyncio.timeout(self._timeout_s):
                await self._client().room.create_room(request)
        except (api.ServerError, aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise self._fail(exc, "create the room") from None

    async def dial(self, request: DialRequest) -> DialResult:
        """Dial and wait until the callee answers or the call fails.

        Returns:
            Answered, or the outcome the SIP failure maps to.

        Raises:
            DialerError: LiveKit is unreachable, refused the credentials, or rejected the
                request for a reason that is not a SIP answer (e.g. an unknown trunk).
        """
        create = sip_proto.CreateSIPParticipantRequest(
            sip_trunk_id=request.trunk_id,
            sip_call_to=request.phone,
            room_name=request.room,
            participant_identity=request.participant_identity,
            participant_metadata=request.metadata,
            ringing_timeout=_duration(request.ringing_timeout_s),
            wait_until_answered=True,
            play_dialtone=False,
            # livekit/sip pkg/sip/room.go: without it the patient's number becomes the
            # participant's sip.phoneNumber attribute, visible to everyone in the room.
            hide_phone_number=True,
        )
        if request.caller_id:
            create.sip_number = request.caller_id
        started = asyncio.get_running_loop().time()
        try:
            # Outlast the server's own 80 s (which also covers joining the room), so the
            # client never gives up on a dial the server is still placing.
            await self._client().sip.create_sip_participant(
                create, timeout=SERVER_DIAL_CAP_S + CLIENT_MARGIN_S
            )
        except api.SipCallError as exc:
            code = exc.sip_status_code
            if code is not None and (code in _TRUNK_AUTH or 500 <= code < 600):
                status = _sip_status(code, exc.sip_status)
                logger.warning("dial to room {}: trunk/carrier fault, SIP {}", request.room, code)
                return DialResult(
                    answered=False,
                    outcome="failed",
                    sip_status=status,
                    permanent=False,
                    fault=f"the trunk or carrier failed (SIP {status})",
                )
            outcome, permanent = outcome_for_sip(code)
            logger.info(
                "dial to room {} ended: SIP {} -> {}", request.room, exc.sip_status_code, outcome
            )
            return DialResult(
                answered=False,
                outcome=outcome,
                sip_status=_sip_status(exc.sip_status_code, exc.sip_status),
                permanent=permanent,
            )
        except api.ServerError as exc:
            fault = self._fault(exc, request, asyncio.get_running_loop().time() - started)
            if fault is not None:
                logger.warning("dial to room {}: system fault: {}", request.room, fault)
                return DialResult(
                    answered=False, outcome="failed", sip_status=None, permanent=False, fault=fault
                )
            if exc.code in _RING_TIMEOUT_CODES:
                logger.info("dial to room {} rang out ({})", request.room, exc.code)
                return DialResult(
                    answered=False, outcome="no_answer", sip_status=None, permanent=False
                )
            raise self._fail(exc, "dial", scrub=request.phone) from None
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise self._fail(exc, "dial") from None
        logger.info("dial to room {} answered", request.room)
        return DialResult(answered=True, outcome=None, sip_status="200 OK", permanent=False)

    def _fault(self, exc: api.ServerError, request: DialRequest, elapsed_s: float) -> str | None:
        """The system fault a non-SIP dial error stands for, or None (see the module doc)."""
        detail = " ".join(str(exc.message).split())[:_MAX_DETAIL].replace(request.phone, "<phone>")
        if exc.code == "failed_precondition":
            return f"the trunk or LiveKit failed after the call was sent: {detail}"
        if exc.code == "canceled" and _TRUNK_SILENT in str(exc.message):
            return "the trunk never answered the call set-up (no SIP response at all)"
        if exc.code in _RING_TIMEOUT_CODES and elapsed_s < request.ringing_timeout_s / 2:
            return f"cancelled after {elapsed_s:.0f} s, before the ring window ended: {detail}"
        return None

    async def hang_up(self, *, room: str) -> None:
        """Delete the room, which disconnects everyone in it; an unknown room is fine.

        Raises:
            DialerError: LiveKit is unreachable or refused the request.
        """
        try:
            async with asyncio.timeout(self._timeout_s):
                await self._client().room.delete_room(room_proto.DeleteRoomRequest(room=room))
        except api.ServerError as exc:
            if exc.code == "not_found":
                return
            raise self._fail(exc, "delete the room") from None
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise self._fail(exc, "delete the room") from None

    async def transfer(
        self, *, room: str, participant_identity: str, transfer_to: str
    ) -> TransferOutcome:
        """Transfer the callee with a SIP REFER; failures come back as ``ok=False``.

        Args:
            room: The call's room.
            participant_identity: The callee's identity in the room.
            transfer_to: ``tel:+355...`` or ``sip:...``.

        Returns:
            ok, or the one-line reason it failed (the caller falls back to a follow-up).
        """
        request = sip_proto.TransferSIPParticipantRequest(
            room_name=room,
            participant_identity=participant_identity,
            transfer_to=transfer_to,
            play_dialtone=False,
        )
        try:
            response = await self._client().sip.transfer_sip_participant(
                request, timeout=self._timeout_s
            )
        except api.SipCallError as exc:
            reason = _sip_status(exc.sip_status_code, exc.sip_status) or exc.sip_transfer_reason
            logger.info("transfer in room {} failed: {}", room, reason)
            return TransferOutcome(ok=False, reason=reason or exc.code)
        except (api.ServerError, aiohttp.ClientError, OSError, TimeoutError) as exc:
            reason = str(self._fail(exc, "transfer", scrub=transfer_to))
            logger.info("transfer in room {} failed: {}", room, reason)
            return TransferOutcome(ok=False, reason=reason)
        if response.status == sip_proto.SIPTransferStatus.STS_TRANSFER_FAILED:
            # Newer servers report some failures in the answer rather than as an error.
            code = int(response.sip_status.code) or None
            reason = _sip_status(code, response.sip_status.status) or (
                sip_proto.SIPTransferReason.Name(response.reason)
            )
            logger.info("transfer in room {} failed: {}", room, reason)
            return TransferOutcome(ok=False, reason=reason)
        # STS_TRANSFER_SUCCESSFUL, or an older server's empty answer (status 0): accepted.
        return TransferOutcome(ok=True, reason=None)

    async def aclose(self) -> None:
        """Close the HTTP session."""
        if self._api is not None:
            client, self._api = self._api, None
            await client.aclose()
