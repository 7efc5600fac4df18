"""The SMS channel over Twilio's Messaging REST API (:class:`TwilioSms`).

What it sends (twilio-python ``twilio/rest/api/v2010/account/message/__init__.py``,
``MessageList._create``; https://www.twilio.com/docs/messaging/api/message-resource):
``POST {base}/2010-04-01/Accounts/{AccountSid}/Messages.json``, form-encoded, HTTP Basic auth
with the Account SID and Auth Token or an API key SID and secret
(https://www.twilio.com/docs/api/errors/20003), fields ``To``, ``From`` or
``MessagingServiceSid``, ``Body`` and ``StatusCallback``. A 201 answer is the Message resource
(``sid``, ``status`` queued or accepted, ...).

How its failures map onto the channel contract (:mod:`messaging.channels`):

- 429 (Twilio error 20429), any 5xx, a timeout or a network error: :class:`TemporarySendError`.
- 401/403 (20003, wrong or revoked credentials): also temporary. The message itself is fine and
  every message fails alike until staff fix ``ELO_SMS__*``; retrying keeps them instead of
  dead-lettering every one.
- Any other 4xx, e.g. 21211 (invalid To), 21610 (the recipient replied STOP), 21408 (region not
  enabled), 21614 (To is not a mobile number), 21617 (body over 1600 characters):
  :class:`PermanentSendError`. The reason names the code and a fixed phrase of ours, never
  Twilio's ``message`` (it quotes the number, e.g. "The 'To' number +3556... is not valid").

Twilio's Messages API takes no idempotency key: after a crash the sender asks :meth:`find_sent`
whether Twilio already has the message, instead of sending it again.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from config.settings import ConfigError
from config.settings_sms import SmsSettings
from messaging.channels import PermanentSendError, Sent, TemporarySendError

API_VERSION = "2010-04-01"
# Where elo serve takes Twilio's webhooks (service/sms_webhooks.py routes them).
INBOUND_PATH = "/webhooks/twilio/sms"
STATUS_PATH = "/webhooks/twilio/status"
# Pages read by one find_sent (50 messages each): messages to one patient's number are few.
MAX_PAGES = 20
PAGE_SIZE = 50

# Short, content-free reasons for the codes a clinic meets (https://www.twilio.com/docs/api/errors).
REASONS: dict[int, str] = {
    20003: "authentication failed: check ELO_SMS__ACCOUNT_SID and the token or API key",
    20429: "rate limited",
    21211: "invalid To number",
    21408: "sending to this region is not enabled in the Twilio account",
    21602: "message body is required",
    21604: "To number is required",
    21606: "From number is not a messaging number of this account",
    21610: "recipient replied STOP (opted out at Twilio)",
    21612: "this To/From pair cannot be connected",
    21614: "To number is not a mobile number",
    21617: "message body over 1600 characters",
}


class TwilioSms:
    """An :class:`~messaging.channels.SmsChannel` over Twilio's Messaging API.

    Args:
        settings: The ``ELO_SMS__*`` group (account, sender, base URLs, timeout).
        client: An HTTP client to use (closed by the caller); None makes one of its own.

    Raises:
        ConfigError: The provider is not ``twilio`` or a setting it needs is missing (named).
    """

    def __init__(self, settings: SmsSettings, *, client: httpx.AsyncClient | None = None) -> None:
        missing = settings.missing() if settings.provider == "twilio" else ["ELO_SMS__PROVIDER"]
        if missing:
            raise ConfigError("Twilio SMS needs " + ", ".join(missing))
        self._settings = settings
        user = settings.api_key_sid or settings.account_sid
        secret = settings.api_key_secret if settings.api_key_sid else settings.auth_token
        self._auth = httpx.BasicAuth(user, secret.get_secret_value())
        self._messages_url = (
            f"{settings.api_base_url}/{API_VERSION}/Accounts/{settings.account_sid}/Messages.json"
        )
        self._own_client = client is None
        self._client = client or httpx.AsyncClient(timeout=httpx.Timeout(settings.timeout_secs))

    async def aclose(self) -> None:
        """Close the HTTP client if it is this channel's own."""
        if self._own_client:
            await self._client.aclose()

    def _form(self, to: str, body: str) -> dict[str, str]:
        form = {"To": to, "Body": body}
        if self._settings.messaging_service_sid:
            form["MessagingServiceSid"] = self._settings.messaging_service_sid
        else:
            form["From"] = self._settings.from_number
        if self._settings.status_callbacks and self._settings.public_base_url:
            form["StatusCallback"] = self._settings.public_base_url + STATUS_PATH
        return form

    async def send(self, *, to: str, body: str, idempotency_key: str) -> Sent:
        """Send ``body`` to ``to`` (E.164). See the module's docstring for the errors.

        ``idempotency_key`` is not sent: Twilio's Messages API has none (see :meth:`find_sent`).
        """
        del idempotency_key
        response = await self._request("POST", self._messages_url, data=self._form(to, body))
        if response.status_code in (200, 201):
            payload = _json(response)
            sid, status = payload.get("sid"), payload.get("status")
            if isinstance(sid, str) and sid and isinstance(status, str):
                return Sent(provider_id=sid, status=status)
            raise TemporarySendError("unreadable answer from Twilio")
        raise _failure(response)

    async def find_sent(self, *, to: str, body: str, since: datetime) -> Sent | None:
        """The message with this body Twilio accepted for ``to`` at or after ``since``.

        First the list filtered by ``To`` and ``DateSent>=`` (since's UTC day: the filter takes
        a date, https://www.twilio.com/docs/messaging/api/message-resource#read-multiple-message-resources);
        a message still queued has no ``date_sent`` yet and may be missing there, so on a miss
        the list filtered by ``To`` alone is read too, newest first, until the messages are
        older than ``since``. Every page is followed through ``next_page_uri``.

        Raises:
            TemporarySendError: Twilio could not be asked.
        """
        # Twilio's dates have whole seconds: a message created in since's second counts.
        since_utc = since.astimezone(UTC).replace(microsecond=0)
        filters = {"To": to, "PageSize": str(PAGE_SIZE)}
        dated = {**filters, "DateSent>": since_utc.date().isoformat()}
        for params, stop_when_older in ((dated, False), (filters, True)):
            found = await self._search(params, body, since_utc, stop_when_older)
            if found is not None:
                return found
        return None

    async def _search(
        self, params: dict[str, str], body: str, since: datetime, stop_when_older: bool
    ) -> Sent | None:
        url: str | None = self._messages_url
        query: dict[str, str] | None = params
        for _ in range(MAX_PAGES):
            if url is None:
                return None
            response = await self._request("GET", url, params=query)
            if response.status_code != 200:
                failure = _failure(response)
                raise TemporarySendError(f"listing messages failed: {failure.reason}")
            page = _json(response)
            messages = page.get("messages")
            if not isinstance(messages, list):
                raise TemporarySendError("unreadable message list from Twilio")
            older = 0
            for message in messages:
                created = _rfc2822(message.get("date_created"))
                if created is None or created < since:
                    older += 1
                    continue
                if message.get("body") == body and str(message.get("direction", "")).startswith(
                    "outbound"
                ):
                    return Sent(provider_id=str(message["sid"]), status=str(message["status"]))
            if stop_when_older and messages and older == len(messages):
                return None
            next_uri = page.get("next_page_uri")
            # next_page_uri is relative to the API's host and carries the whole query.
            url = f"{self._settings.api_base_url}{next_uri}" if next_uri else None
            query = None
        raise TemporarySendError(f"more than {MAX_PAGES} pages of messages to one number")

    async def _request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            return await self._client.request(
                method, url, auth=self._auth, headers={"Accept": "application/json"}, **kwargs
            )
        except httpx.TimeoutException:
            raise TemporarySendError("Twilio did not answer in time") from None
        except httpx.HTTPError as exc:
            raise TemporarySendError(f"network error ({type(exc).__name__})") from None


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        payload = response.json()
    except ValueError:
        return {}
    return payload if isinstance(payload, dict) else {}


def _failure(response: httpx.Response) -> TemporarySendError | PermanentSendError:
    """The error for a refused request: Twilio's ``{code, message, more_info, status}``."""
    status = response.status_code
    code = _json(response).get("code")
    code = code if isinstance(code, int) else None
    label = f"{status}, code {code}" if code else str(status)
    reason = f"{REASONS.get(code or 0, 'refused by Twilio')} ({label})"
    if not 400 <= status < 500 or status in (401, 403, 429):
        return TemporarySendError(reason)
    return PermanentSendError(reason)


def _rfc2822(text: object) -> datetime | None:
    # Twilio's dates are RFC 2822 in GMT, e.g. "Thu, 03 Dec 2026 10:00:00 +0000".
    if not isinstance(text, str) or not text:
        return None
    try:
        return parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None


def sms_channel(settings: SmsSettings) -> TwilioSms | None:
    """The SMS channel the settings choose: None for ``ELO_SMS__PROVIDER=none``.

    Raises:
        ConfigError: Twilio is chosen but a setting it needs is missing (named).
    """
    return None if settings.provider == "none" else TwilioSms(settings)
