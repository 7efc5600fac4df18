"""A strict local fake of Twilio's Messaging REST API and its webhooks, on 127.0.0.1.

Like :mod:`devtools.livekit_fake` (aiohttp, a free port, ``async with``), it answers what Elo's
adapter (:mod:`messaging.sms_twilio`) asks, refusing what Twilio refuses; every rule and shape
cites its source in :mod:`devtools.twilio_rules`:

- ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` (form-encoded): HTTP Basic auth with
  the Account SID and Auth Token or an API key SID and secret of that account, else 401 20003;
  ``To`` required (21604) and E.164 (21211); a landline 21614; a country outside the geographic
  permissions 21408; ``From`` (21603) owned by the account (21606) or a known
  ``MessagingServiceSid`` (21701); ``Body`` required (21602) and at most 1600 characters
  (21617); a recipient who replied STOP 21610; a ``StatusCallback`` that is not an http(s) URL
  21609. Accepted: 201 with the Message resource, status ``queued`` (``accepted`` through a
  Messaging Service), then ``sent`` and ``delivered`` (or ``undelivered`` with an error code),
  each reported to the ``StatusCallback`` with a valid ``X-Twilio-Signature``.
- ``GET .../Messages.json``: ``To``, ``From``, ``DateSent``, ``DateSent>``, ``DateSent<``
  filters (``YYYY-MM-DD``, GMT; a message not yet sent has no ``date_sent`` and matches no date
  filter), newest first, ``PageSize`` (default 50, at most 1000) and pages linked by
  ``next_page_uri`` with a ``PageToken``.
- A patient's reply (:meth:`FakeTwilio.patient_sends`): stored as an inbound message and POSTed
  to the number's incoming-message webhook with Twilio's parameters, signed (or, on request,
  unsigned, signed with another token or altered after signing). Twilio's own STOP filtering
  applies first: an opt-out word adds the number to the opted-out set (then 21610), START/YES/
  UNSTOP removes it; with Advanced Opt-Out (a Messaging Service) the webhook carries
  ``OptOutType`` STOP/START/HELP.
- Faults for tests: :meth:`FakeTwilio.fail_next` answers the next requests with 429 or 500.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
import socket
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Literal
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

from devtools.twilio_rules import (
    API_VERSION,
    E164,
    MAX_BODY_CHARS,
    OPT_IN_WORDS,
    OPT_OUT_WORDS,
    Delivery,
    FakeMessage,
    Seen,
    error_body,
    keyword,
    matches,
    resource,
    sign,
)

__all__ = ["Delivery", "FakeMessage", "FakeTwilio", "Forgery", "Seen"]

Forgery = Literal["none", "unsigned", "wrong_token", "altered"]


def _sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


class FakeTwilio:
    """The fake account: its credentials, numbers, messages and webhooks.

    Args:
        account_sid: The account's SID (AC...).
        auth_token: Its Auth Token (signs webhooks; authenticates requests).
        numbers: The account's phone numbers (``From`` must be one of them).
        api_keys: API key SID -> secret, also accepted for Basic auth.
        messaging_services: Messaging Service SIDs of the account (MG...).
        allowed_prefixes: Geographic permissions: ``To`` must start with one (21408).
        landlines: Numbers that are not mobile (21614).
        inbound_url: The incoming-message webhook set on the numbers in Twilio's console.
        advanced_opt_out: A Messaging Service with Advanced Opt-Out (OptOutType sent).
        auto_deliver: Move accepted messages on to sent and delivered by themselves.
        clock: The current time (UTC).
    """

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        *,
        numbers: tuple[str, ...] = (),
        api_keys: dict[str, str] | None = None,
        messaging_services: tuple[str, ...] = (),
        allowed_prefixes: tuple[str, ...] = ("+355", "+383", "+39"),
        landlines: frozenset[str] = frozenset(),
        inbound_url: str = "",
        advanced_opt_out: bool = False,
        auto_deliver: bool = True,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.numbers = set(numbers)
        self.api_keys = dict(api_keys or {})
        self.messaging_services = set(messaging_services)
        self.allowed_prefixes = allowed_prefixes
        self.landlines = set(landlines)
        self.inbound_url = inbound_url
        self.advanced_opt_out = advanced_opt_out
        self.auto_deliver = auto_deliver
        self.clock = clock
        # (public prefix, where it really goes): a reverse proxy in front of Elo. Twilio signs
        # the public URL it calls; the proxy forwards to Elo's own address.
        self.proxy: tuple[str, str] | None = None
        self.messages: list[FakeMessage] = []
        self.opted_out: set[str] = set()
        self.undeliverable: dict[str, int] = {}
        self.requests: list[Seen] = []
        self.deliveries: list[Delivery] = []
        self._faults: list[int] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._session: aiohttp.ClientSession | None = None

    # ------------------------------------------------------------------ lifecycle
    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` once started (Elo's ``ELO_SMS__API_BASE_URL``)."""
        if self._port is None:
            raise RuntimeError("FakeTwilio is not started")
        return f"http://127.0.0.1:{self._port}"

    async def __aenter__(self) -> FakeTwilio:
        app = web.Application()
        path = f"/{API_VERSION}/Accounts/{{account}}/Messages.json"
        app.router.add_post(path, self._create)
        app.router.add_get(path, self._list)
        self._runner = web.AppRunner(app, shutdown_timeout=1.0, access_log=None)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self._port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()
        self._session = aiohttp.ClientSession()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.flush()
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def flush(self) -> None:
        """Wait until every status callback scheduled so far was delivered."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # ------------------------------------------------------------------ scripting
    def fail_next(self, status: Literal[429, 500], times: int = 1) -> None:
        """Answer the next ``times`` API requests with this error (20429 or 20500)."""
        self._faults.extend([status] * times)

    def sent_to(self, to: str) -> list[FakeMessage]:
        """The outbound messages accepted for ``to``, oldest first."""
        return [m for m in self.messages if m.to == to and m.direction == "outbound-api"]

    async def patient_sends(
        self, *, from_: str, body: str, to: str | None = None, forgery: Forgery = "none"
    ) -> Delivery:
        """A patient texts the clinic's number: Twilio's filtering, then the signed webhook.

        Args:
            from_: The patient's number.
            body: What they wrote.
            to: The clinic's number (default: the account's first number).
            forgery: ``none`` signs correctly; ``unsigned`` sends no signature;
                ``wrong_token`` signs with another token; ``altered`` changes the body after
                signing.
        """
        to = to or sorted(self.numbers)[0]
        word = body.strip().upper()
        # Twilio's STOP filtering happens whatever the webhook answers (twilio_rules.py).
        if word in OPT_OUT_WORDS:
            self.opted_out.add(from_)
        elif word in OPT_IN_WORDS:
            self.opted_out.discard(from_)
        message = FakeMessage(
            sid=_sid("SM"),
            to=to,
            from_=from_,
            body=body,
            direction="inbound",
            status="received",
            date_created=self.clock(),
            date_sent=self.clock(),
            messaging_service_sid=self._service(),
        )
        self.messages.append(message)
        params = {
            "ToCountry": "AL",
            "SmsMessageSid": message.sid,
            "NumMedia": "0",
            "SmsSid": message.sid,
            "SmsStatus": "received",
            "Body": body,
            "To": to,
            "NumSegments": "1",
            "MessageSid": message.sid,
            "AccountSid": self.account_sid,
            "From": from_,
            "ApiVersion": API_VERSION,
        }
        if message.messaging_service_sid:
            params["MessagingServiceSid"] = message.messaging_service_sid
        if self.advanced_opt_out and (kind := keyword(body)):
            params["OptOutType"] = kind
        if not self.inbound_url:
            raise RuntimeError("FakeTwilio.inbound_url is not set")
        return await self.post_webhook("inbound", self.inbound_url, params, forgery)

    def _service(self) -> str | None:
        return sorted(self.messaging_services)[0] if self.messaging_services else None

    # ------------------------------------------------------------------ webhooks
    async def post_webhook(
        self, kind: Literal["status", "inbound"], url: str, params: dict[str, str], forgery: Forgery
    ) -> Delivery:
        """POST a webhook signed as Twilio signs it (or forged), and record Elo's answer.

        Args:
            kind: ``status`` or ``inbound``.
            url: The URL Twilio calls (and signs); :attr:`proxy` may forward it elsewhere.
            params: The form parameters.
            forgery: As for :meth:`patient_sends`.
        """
        token = "not-the-account-token" if forgery == "wrong_token" else self.auth_token
        headers = {"X-Twilio-Signature": sign(token, url, params.items())}
        if forgery == "unsigned":
            headers = {}
        sent = dict(params)
        if forgery == "altered":
            sent["Body"] = sent.get("Body", "") + " "
        target = url
        if self.proxy is not None and url.startswith(self.proxy[0]):
            target = self.proxy[1] + url[len(self.proxy[0]) :]
        assert self._session is not None
        async with self._session.post(target, data=sent, headers=headers) as response:
            delivery = Delivery(kind, url, sent, response.status, await response.text())
        self.deliveries.append(delivery)
        return delivery

    async def _progress(self, message: FakeMessage) -> None:
        # queued/accepted -> sent -> delivered or undelivered, each reported if asked.
        steps: list[str] = ["sent"]
        steps.append("undelivered" if message.to in self.undeliverable else "delivered")
        for status in steps:
            message.status = status
            if status == "sent":
                message.date_sent = self.clock()
            if status == "undelivered":
                message.error_code = self.undeliverable[message.to]
            if message.status_callback:
                params = {
                    "MessageSid": message.sid,
                    "SmsSid": message.sid,
                    "MessageStatus": status,
                    "SmsStatus": status,
                    "AccountSid": self.account_sid,
                    "From": message.from_ or "",
                    "To": message.to,
                    "ApiVersion": API_VERSION,
                }
                if message.error_code is not None:
                    params["ErrorCode"] = str(message.error_code)
                if message.messaging_service_sid:
                    params["MessagingServiceSid"] = message.messaging_service_sid
                await self.post_webhook("status", message.status_callback, params, "none")

    # ------------------------------------------------------------------ the API
    def _user(self, request: web.Request) -> str | None:
        """The authenticated user of the request, or None (Basic auth, twilio_rules.py)."""
        scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            user, _, password = base64.b64decode(encoded).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        good = (user == self.account_sid and password == self.auth_token) or (
            user in self.api_keys and password == self.api_keys[user]
        )
        return user if good and request.match_info["account"] == self.account_sid else None

    def _refuse(self, seen: Seen) -> web.Response | None:
        self.requests.append(seen)
        if seen.user == "":
            return _error(20003)
        if self._faults:
            return _error(20429 if self._faults.pop(0) == 429 else 20500)
        return None

    async def _create(self, request: web.Request) -> web.Response:
        form = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
        seen = Seen("POST", request.path, self._user(request) or "", form)
        if (refused := self._refuse(seen)) is not None:
            return refused
        to, from_ = form.get("To", ""), form.get("From", "")
        service, body = form.get("MessagingServiceSid", ""), form.get("Body", "")
        callback = form.get("StatusCallback", "")
        checks: list[tuple[bool, int]] = [
            (not to, 21604),
            (not E164.match(to), 21211),
            (not from_ and not service, 21603),
            (bool(service) and service not in self.messaging_services, 21701),
            (bool(from_) and not service and from_ not in self.numbers, 21606),
            (not body, 21602),
            (len(body) > MAX_BODY_CHARS, 21617),
            (bool(callback) and not callback.startswith(("http://", "https://")), 21609),
            (not to.startswith(self.allowed_prefixes), 21408),
            (to in self.landlines, 21614),
            (to in self.opted_out, 21610),
        ]
        for failed, code in checks:
            if failed:
                return _error(code, to=to, from_=from_, service=service)
        now = self.clock()
        message = FakeMessage(
            sid=_sid("SM"),
            to=to,
            from_=None if service else from_,
            body=body,
            direction="outbound-api",
            status="accepted" if service else "queued",
            date_created=now,
            messaging_service_sid=service or None,
            status_callback=callback or None,
        )
        self.messages.append(message)
        answer = resource(self.account_sid, message)
        if self.auto_deliver:
            task = asyncio.create_task(self._progress(message))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return web.json_response(answer, status=201)

    async def _list(self, request: web.Request) -> web.Response:
        query = dict(request.query)
        seen = Seen("GET", request.path, self._user(request) or "", query)
        if (refused := self._refuse(seen)) is not None:
            return refused
        size = min(int(query.get("PageSize", "50")), 1000)
        page = int(query.get("Page", "0"))
        found = [m for m in self.messages if matches(m, query)]
        found.sort(key=lambda m: m.date_created, reverse=True)
        start = page * size
        items = found[start : start + size]
        if page and query.get("PageToken") != f"PA{found[start - 1].sid}":
            # The token names the last message of the page before (a fake's own format).
            return _error(20404)
        base = request.path
        keep = {k: v for k, v in query.items() if k not in ("Page", "PageToken", "PageSize")}
        keep["PageSize"] = str(size)

        def link(number: int) -> str:
            extra = {"Page": str(number)}
            if number:
                extra["PageToken"] = f"PA{found[number * size - 1].sid}"
            return f"{base}?{urlencode({**keep, **extra})}"

        more = start + size < len(found)
        return web.json_response(
            {
                "messages": [resource(self.account_sid, m) for m in items],
                "page": page,
                "page_size": size,
                "start": start,
                "end": start + max(len(items) - 1, 0),
                "uri": f"{base}?{urlencode(query)}",
                "first_page_uri": link(0),
                "next_page_uri": link(page + 1) if more else None,
                "previous_page_uri": link(page - 1) if page else None,
            }
        )


def _error(code: int, **facts: str) -> web.Response:
    status, body = error_body(code, **facts)
    return web.json_response(body, status=status)
