"""Dial patients through LiveKit's SIP API and turn what the phone network says into outcomes.

The campaign runner creates a room, starts the agent in it, then calls :meth:`Dialer.dial`,
which blocks until the callee answers or the call fails (``wait_until_answered``). A failed
call comes back as a :class:`DialResult` with an attempt outcome, never as an exception;
:class:`DialerError` is kept for problems a retry of the same number cannot fix by itself
(server unreachable, credentials refused, bad trunk id, other non-SIP server errors).

How LiveKit's answers become outcomes, faults and errors is :mod:`campaign.sip_outcomes`.

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

from campaign.sip_outcomes import (
    DialerError,
    DialResult,
    dialer_error,
    ring_timed_out,
    server_fault,
    sip_failure,
    sip_status,
)
from config.settings import AppSettings, env_name
from config.settings_call import LiveKitSettings
from storage import Campaign, CampaignContact
from tools.call_port import TransferOutcome

# pkg/service/sip.go SIPService.CreateSIPParticipant: 80 s for a dial with wait_until_answered.
SERVER_DIAL_CAP_S = 80.0
# The client waits this much longer than the server, so the server's own answer always arrives.
CLIENT_MARGIN_S = 5.0

__all__ = ["DialRequest", "DialResult", "Dialer", "DialerError", "LiveKitDialer"]


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

    @classmethod
    def for_attempt(
        cls,
        livekit: LiveKitSettings,
        campaign: Campaign,
        contact: CampaignContact,
        *,
        room: str,
        participant_identity: str,
    ) -> DialRequest:
        """The dial of one campaign attempt: the campaign's trunk and caller id, else the settings'.

        Args:
            livekit: The LiveKit settings (trunk, caller id, ring window).
            campaign: The campaign.
            contact: The contact called.
            room: The call's room.
            participant_identity: The identity the callee gets in the room.
        """
        return cls(
            room=room,
            phone=contact.phone,
            participant_identity=participant_identity,
            trunk_id=campaign.sip_trunk_id or livekit.sip_trunk_id,
            caller_id=campaign.caller_id or livekit.sip_caller_id or None,
            ringing_timeout_s=float(livekit.ringing_timeout_secs),
        )


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

    def _fail(self, exc: BaseException, action: str, *, scrub: str = "") -> DialerError:
        return dialer_error(exc, action, origin=self._origin, secret=self._api_secret, scrub=scrub)

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
            result = sip_failure(exc.sip_status_code, exc.sip_status)
            if result.fault is not None:
                logger.warning(
                    "dial to room {}: trunk/carrier fault, SIP {}", request.room, result.sip_status
                )
            else:
                logger.info(
                    "dial to room {} ended: SIP {} -> {}",
                    request.room,
                    exc.sip_status_code,
                    result.outcome,
                )
            return result
        except api.ServerError as exc:
            fault = server_fault(
                exc,
                phone=request.phone,
                ringing_timeout_s=request.ringing_timeout_s,
                elapsed_s=asyncio.get_running_loop().time() - started,
            )
            if fault is not None:
                logger.warning("dial to room {}: system fault: {}", request.room, fault)
                return DialResult(
                    answered=False, outcome="failed", sip_status=None, permanent=False, fault=fault
                )
            if ring_timed_out(exc):
                logger.info("dial to room {} rang out ({})", request.room, exc.code)
                return DialResult(
                    answered=False, outcome="no_answer", sip_status=None, permanent=False
                )
            raise self._fail(exc, "dial", scrub=request.phone) from None
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise self._fail(exc, "dial") from None
        logger.info("dial to room {} answered", request.room)
        return DialResult(answered=True, outcome=None, sip_status="200 OK", permanent=False)

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

    async def call_status(self, *, room: str, participant_identity: str) -> str | None:
        """A SIP participant's ``sip.callStatus`` (``ringing``, ``active``...); None once gone.

        Raises:
            DialerError: LiveKit is unreachable or refused the request.
        """
        request = room_proto.ListParticipantsRequest(room=room)
        try:
            async with asyncio.timeout(self._timeout_s):
                answer = await self._client().room.list_participants(request)
        except api.ServerError as exc:
            if exc.code == "not_found":
                return None
            raise self._fail(exc, "list the room's participants") from None
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise self._fail(exc, "list the room's participants") from None
        for participant in answer.participants:
            if participant.identity == participant_identity:
                return participant.attributes.get("sip.callStatus", "")
        return None

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
            reason = sip_status(exc.sip_status_code, exc.sip_status) or exc.sip_transfer_reason
            logger.info("transfer in room {} failed: {}", room, reason)
            return TransferOutcome(ok=False, reason=reason or exc.code)
        except (api.ServerError, aiohttp.ClientError, OSError, TimeoutError) as exc:
            reason = str(self._fail(exc, "transfer", scrub=transfer_to))
            logger.info("transfer in room {} failed: {}", room, reason)
            return TransferOutcome(ok=False, reason=reason)
        if response.status == sip_proto.SIPTransferStatus.STS_TRANSFER_FAILED:
            # Newer servers report some failures in the answer rather than as an error.
            code = int(response.sip_status.code) or None
            reason = sip_status(code, response.sip_status.status) or (
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
