"""``POST /livekit/webhook``: LiveKit's events, verified, and the inbound calls they announce.

LiveKit signs every webhook (livekit/protocol ``webhook/url_notifier.go`` ``send``): the body is
the event as protobuf JSON, and the ``Authorization`` header is a JWT signed with the API
secret, issued by the API key, valid five minutes, whose ``sha256`` claim is the base64 SHA-256
of the body. livekit-api's :class:`~livekit.api.WebhookReceiver` checks all of it; anything it
refuses (no header, a forged or expired token, another key, a body that does not match) is a
401 with nothing started and nothing written, as is a body too large to be an event (413).

A verified ``participant_joined`` of a SIP caller in an inbound room
(:func:`service.inbound.inbound_call`) starts one inbound call through the ``start_inbound``
callable and answers 200 at once. LiveKit retries a webhook it did not see answered (its
notifier uses go-retryablehttp), so the same SIP call can be announced twice: Elo's call id is
derived from the SIP call id, and a call already started here, or recorded in ``calls``, is not
started again.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from google.protobuf import json_format
from livekit.api import TokenVerifier, WebhookReceiver
from loguru import logger

from app.application import Application
from service.inbound import InboundCall, StartInbound, inbound_call

PATH = "/livekit/webhook"
# A webhook event is a room and a participant with their attributes: a few KiB.
MAX_BODY_BYTES = 64 * 1024
# Started calls remembered here; older ones are found in the database.
_REMEMBERED = 10_000


class _TooLarge(Exception):
    pass


class _Started:
    """The ids of the calls started lately, oldest forgotten first."""

    def __init__(self, limit: int = _REMEMBERED) -> None:
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._limit = limit

    def __contains__(self, call_id: str) -> bool:
        return call_id in self._ids

    def add(self, call_id: str) -> None:
        self._ids[call_id] = None
        while len(self._ids) > self._limit:
            self._ids.popitem(last=False)

    def discard(self, call_id: str) -> None:
        self._ids.pop(call_id, None)


def webhook_router(app: Application, start_inbound: StartInbound) -> APIRouter:
    """The router of ``POST /livekit/webhook``.

    Args:
        app: The application (settings, the calls already recorded).
        start_inbound: Starts an inbound call in the background.
    """
    router = APIRouter()
    started = _Started()

    @router.post(PATH)
    async def livekit_webhook(request: Request) -> JSONResponse:
        try:
            body = await _read_body(request)
        except _TooLarge:
            logger.warning("webhook refused: body over {} bytes", MAX_BODY_BYTES)
            return _answer(413, error="body too large")
        livekit = app.settings.livekit
        key, secret = livekit.api_key.get_secret_value(), livekit.api_secret.get_secret_value()
        if not key or not secret:
            return _answer(503, error="set ELO_LIVEKIT__API_KEY and ELO_LIVEKIT__API_SECRET")
        receiver = WebhookReceiver(TokenVerifier(key, secret))
        try:
            event = receiver.receive(body.decode("utf-8"), request.headers.get("Authorization", ""))
        except json_format.ParseError:
            # Signed by LiveKit's key, yet not an event: nothing to act on.
            return _answer(400, error="not a webhook event")
        except Exception:  # the receiver raises bare Exceptions for a bad hash
            logger.warning("webhook refused: not signed by this LiveKit key")
            return _answer(401, error="invalid webhook signature")
        found = inbound_call(event, app.settings)
        if isinstance(found, str):
            return _answer(200, status="ignored", reason=found)
        return await _start(found)

    async def _start(call: InboundCall) -> JSONResponse:
        # Claimed before the first await, so two deliveries at once start one call.
        if call.call_id in started:
            return _answer(200, status="duplicate", call_id=call.call_id)
        started.add(call.call_id)
        if await app.store.calls.get(call_id=call.call_id) is not None:
            return _answer(200, status="duplicate", call_id=call.call_id)
        try:
            await start_inbound(call)
        except Exception as exc:
            started.discard(call.call_id)
            logger.warning("inbound call not started: {}", type(exc).__name__)
            # LiveKit retries a 5xx answer.
            return _answer(503, error="the call could not be started")
        return _answer(200, status="started", call_id=call.call_id)

    return router


async def _read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise _TooLarge
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise _TooLarge
    return bytes(body)


def _answer(status_code: int, **body: Any) -> JSONResponse:
    return JSONResponse(body, status_code=status_code)
