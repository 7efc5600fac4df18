"""Twilio's SMS webhooks: a patient's reply and a message's delivery status, verified.

``POST /webhooks/twilio/sms`` is the incoming-message webhook of the clinic's Twilio number
(or Messaging Service); ``POST /webhooks/twilio/status`` the ``StatusCallback`` Elo asks for
with each message (:mod:`messaging.sms_twilio`). Twilio sends both form-encoded and signs them
with the account's Auth Token (``X-Twilio-Signature``, checked by
:mod:`messaging.twilio_signature` over the URL Twilio called: ``ELO_SMS__PUBLIC_BASE_URL``
plus the path when Elo is behind a proxy). A missing or wrong signature is a 401, counted in
``elo_sms_webhooks_total{result="forged"}``; nothing is read further and nothing of the
request is logged.

A signed reply is parsed (:func:`messaging.sms_replies.parse_reply`; Twilio's ``OptOutType``
STOP, sent with Advanced Opt-Out, counts as stop whatever the words) and handed to the
:class:`~messaging.sms_inbox.SmsInbox`; a status report likewise. The answer is an empty TwiML
``<Response/>``: Elo sends no automatic text back. An unknown text gets no answer either: a
reply costs the clinic a message, may start a loop with an auto-responder, and Twilio already
answers HELP and STOP itself. The same MessageSid (and status) is acted on once, should
Twilio deliver it again.
"""

from __future__ import annotations

from collections import OrderedDict
from urllib.parse import parse_qsl

import phonenumbers
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from loguru import logger

from app.application import Application
from messaging.sms_inbox import SmsInbox
from messaging.sms_replies import Reply, parse_reply
from messaging.sms_twilio import INBOUND_PATH, STATUS_PATH
from messaging.twilio_signature import is_valid
from telemetry import record
from validation import InputError, normalize_phone

# A webhook is a few dozen short parameters (Body at most 1600 characters).
MAX_BODY_BYTES = 64 * 1024
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
_REMEMBERED = 10_000


class _Seen:
    """Keys of the webhooks acted on lately, oldest forgotten first."""

    def __init__(self) -> None:
        self._keys: OrderedDict[str, None] = OrderedDict()

    def claim(self, key: str) -> bool:
        if key in self._keys:
            return False
        self._keys[key] = None
        while len(self._keys) > _REMEMBERED:
            self._keys.popitem(last=False)
        return True

    def release(self, key: str) -> None:
        self._keys.pop(key, None)


def sms_webhook_router(app: Application, inbox: SmsInbox) -> APIRouter:
    """The routes of Twilio's two SMS webhooks.

    Args:
        app: The application (the ``ELO_SMS__*`` settings).
        inbox: Where verified replies and delivery reports go.
    """
    router = APIRouter()
    seen = _Seen()

    async def verified(request: Request, kind: str) -> dict[str, str] | Response:
        settings = app.settings.sms
        token = settings.auth_token.get_secret_value()
        if not token:
            return JSONResponse({"error": "set ELO_SMS__AUTH_TOKEN"}, status_code=503)
        body = await _read_body(request)
        if body is None:
            return JSONResponse({"error": "body too large"}, status_code=413)
        try:
            pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
        except UnicodeDecodeError:
            pairs = []
        url = _public_url(request, settings.public_base_url)
        signature = request.headers.get("X-Twilio-Signature", "")
        if not pairs or not is_valid(token, url, pairs, signature):
            record.sms_webhook(kind, "forged")
            logger.warning("Twilio {} webhook refused: missing or invalid signature", kind)
            return JSONResponse({"error": "invalid signature"}, status_code=401)
        record.sms_webhook(kind, "accepted")
        return dict(pairs)

    @router.post(INBOUND_PATH)
    async def inbound(request: Request) -> Response:
        params = await verified(request, "inbound")
        if isinstance(params, Response):
            return params
        sid = params.get("MessageSid", "")
        try:
            phone = normalize_phone(
                params.get("From", ""), allowed_regions=phonenumbers.SUPPORTED_REGIONS, field="From"
            )
        except InputError:
            phone = ""
        if not sid or not phone or not seen.claim(sid):
            return _twiml()
        reply = parse_reply(params.get("Body", ""))
        if params.get("OptOutType", "").upper() == "STOP":
            reply = Reply.STOP
        try:
            await inbox.on_reply(phone=phone, reply=reply, provider_id=sid)
        except Exception as exc:
            seen.release(sid)
            logger.warning("SMS reply not handled: {}", type(exc).__name__)
            return JSONResponse({"error": "the reply could not be handled"}, status_code=503)
        return _twiml()

    @router.post(STATUS_PATH)
    async def status(request: Request) -> Response:
        params = await verified(request, "status")
        if isinstance(params, Response):
            return params
        sid = params.get("MessageSid", "")
        state = params.get("MessageStatus", "")
        key = f"{sid}:{state}"
        if not sid or not state or not seen.claim(key):
            return _twiml()
        try:
            await inbox.on_status(
                provider_id=sid, status=state, error_code=params.get("ErrorCode") or None
            )
        except Exception as exc:
            seen.release(key)
            logger.warning("SMS status not recorded: {}", type(exc).__name__)
            return JSONResponse({"error": "the status could not be recorded"}, status_code=503)
        return _twiml()

    return router


def _public_url(request: Request, public_base_url: str) -> str:
    """The URL Twilio called: the public base plus the path and query, or the request's own."""
    if not public_base_url:
        return str(request.url)
    query = request.url.query
    return public_base_url + request.url.path + (f"?{query}" if query else "")


async def _read_body(request: Request) -> bytes | None:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            return None
    return bytes(body)


def _twiml() -> Response:
    return Response(EMPTY_TWIML, media_type="application/xml")
