"""LiveKit's webhooks, signed and sent the way LiveKit's server sends them (for the fake).

Each rule is read from the real source (livekit/protocol d74e7cdb, livekit/livekit 788d4c35,
hashicorp/go-retryablehttp):

- The event gets ``id`` ``EV_<random>`` and ``createdAt`` (Unix seconds) when it is queued
  (livekit/livekit ``pkg/telemetry/events.go`` ``NotifyEvent``).
- The body is the ``WebhookEvent`` as protobuf JSON: lowerCamelCase names, enums by name, 64-bit
  integers as strings, unset fields left out (``webhook/url_notifier.go`` ``send`` with
  ``utils/protojson.Marshal``).
- The ``Authorization`` header is the bare JWT, no ``Bearer`` (``webhook/consts.go``
  ``authHeader``; ``send`` sets it to the token): HS256 with the API secret, ``iss`` the API key,
  ``nbf``/``iat`` now, ``exp`` five minutes on (``SetValidFor(5 * time.Minute)``), and the
  ``sha256`` claim the standard base64 of the body's SHA-256 (``SetSha256``). ``auth/
  accesstoken.go`` ``ToJWT`` writes the registered claims.
- ``Content-Type: application/webhook+json`` ("a custom mime type to ensure signature is checked
  prior to parsing") and ``User-Agent: LiveKit`` (``webhook/consts.go``).
- Delivery goes through go-retryablehttp (``NewURLNotifier``): a transport error, a 429 or a 5xx
  (but 501) is retried with the same body and headers, at most ``RetryMax`` = 4 times
  (``client.go`` ``defaultRetryMax``; the real waits start at 1 s, the fake's are short). Any
  other answer ends the delivery.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
import string
import time
from dataclasses import dataclass, field
from datetime import timedelta

import aiohttp
import jwt
from google.protobuf import json_format
from livekit.protocol import models
from livekit.protocol.webhook import WebhookEvent

CONTENT_TYPE = "application/webhook+json"
USER_AGENT = "LiveKit"
TOKEN_TTL = timedelta(minutes=5)
RETRY_MAX = 4
_ID_ALPHABET = string.ascii_letters + string.digits


def guid(prefix: str) -> str:
    """A LiveKit-style id: ``prefix`` and 12 random letters and digits (``utils/guid``)."""
    return prefix + "".join(secrets.choice(_ID_ALPHABET) for _ in range(12))


@dataclass(frozen=True)
class SignedWebhook:
    """One webhook as it goes on the wire.

    Attributes:
        event: The event's name, e.g. ``participant_joined``.
        body: The request body.
        headers: The request headers (``Authorization`` carries the token).
    """

    event: str
    body: bytes
    headers: dict[str, str]


@dataclass(frozen=True)
class Delivery:
    """One HTTP attempt at delivering a webhook.

    Attributes:
        event: The event's name.
        attempt: 0 for the first try, then 1, 2, ... for retries.
        status: The HTTP status answered, or None when the connection failed.
    """

    event: str
    attempt: int
    status: int | None


def webhook_event(
    name: str, *, room: models.Room, participant: models.ParticipantInfo | None = None
) -> WebhookEvent:
    """A webhook event as LiveKit queues it (its id and creation time set).

    Args:
        name: e.g. ``room_started``, ``participant_joined``.
        room: The room it concerns.
        participant: The participant it concerns, for participant events.
    """
    event = WebhookEvent(event=name, id=guid("EV_"), created_at=int(time.time()))
    event.room.CopyFrom(room)
    if participant is not None:
        event.participant.CopyFrom(participant)
    return event


def sign_webhook(
    event: WebhookEvent,
    api_key: str,
    api_secret: str,
    *,
    issued_at: float | None = None,
    ttl: timedelta = TOKEN_TTL,
) -> SignedWebhook:
    """Encode and sign ``event`` as LiveKit's notifier does.

    Args:
        event: The event.
        api_key: The API key the token is issued by.
        api_secret: The API secret it is signed with.
        issued_at: Unix time the token is made at (tests sign stale webhooks); now when None.
        ttl: How long the token is valid.

    Returns:
        The body and headers to POST.
    """
    body = json_format.MessageToJson(event, indent=None).encode()
    digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
    now = int(time.time() if issued_at is None else issued_at)
    claims = {
        "iss": api_key,
        "sub": "",
        "nbf": now,
        "iat": now,
        "exp": now + int(ttl.total_seconds()),
        "sha256": digest,
    }
    token = jwt.encode(claims, api_secret, algorithm="HS256")
    headers = {"Authorization": token, "Content-Type": CONTENT_TYPE, "User-Agent": USER_AGENT}
    return SignedWebhook(event=event.event, body=body, headers=headers)


def _retry(status: int | None) -> bool:
    # go-retryablehttp DefaultRetryPolicy: connection errors, 429, and 5xx except 501.
    return status is None or status == 429 or (status >= 500 and status != 501)


@dataclass
class WebhookSender:
    """Delivers webhooks to one URL, with LiveKit's signature and retries.

    Attributes:
        url: Where webhooks go.
        api_key: The signing key.
        api_secret: The signing secret.
        retry_wait_s: Wait before each retry (the real one backs off from 1 s).
        deliveries: Every HTTP attempt, in order.
        sent: Every webhook signed, in order (a test may deliver one again).
    """

    url: str
    api_key: str
    api_secret: str
    retry_wait_s: float = 0.05
    deliveries: list[Delivery] = field(default_factory=list)
    sent: list[SignedWebhook] = field(default_factory=list)

    async def send(self, event: WebhookEvent) -> int | None:
        """Sign and deliver ``event``; returns the last HTTP status (None: never reached)."""
        signed = sign_webhook(event, self.api_key, self.api_secret)
        self.sent.append(signed)
        return await self.deliver(signed)

    async def deliver(self, signed: SignedWebhook) -> int | None:
        """POST a signed webhook, retrying as LiveKit does; returns the last status."""
        status: int | None = None
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            for attempt in range(RETRY_MAX + 1):
                try:
                    async with http.post(self.url, data=signed.body, headers=signed.headers) as r:
                        status = r.status
                        await r.read()
                except (aiohttp.ClientError, OSError, TimeoutError):
                    status = None
                self.deliveries.append(Delivery(signed.event, attempt, status))
                if not _retry(status) or attempt == RETRY_MAX:
                    break
                await asyncio.sleep(self.retry_wait_s)
        return status
