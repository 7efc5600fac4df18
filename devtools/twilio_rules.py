"""What Twilio's Messages API refuses, and the shapes it answers with: the fake's rules.

Used by :mod:`devtools.twilio_fake` (the server); the messages it keeps are
:class:`FakeMessage`, its webhooks :class:`Delivery`, the requests it saw :class:`Seen`.

Each rule names where it was read. The shapes are those twilio-python parses
(github.com/twilio/twilio-python, commit 306691e7): a Message resource's fields
(``twilio/rest/api/v2010/account/message/__init__.py`` ``MessageInstance``: dates RFC 2822 in
GMT, ``error_code`` an integer or null), a page's ``next_page_uri`` relative to the API host
(``twilio/base/page.py``), and an error's JSON ``{code, message, more_info, status}``
(``twilio/base/version.py`` ``exception``; an example 401: ``{"code": 20003, "message":
"Authenticate", "more_info": "https://www.twilio.com/docs/errors/20003", "status": 401}``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime
from typing import Any, Literal

API_VERSION = "2010-04-01"

# E.164: "+", a country code that does not start with 0, at most 15 digits in all
# (https://www.twilio.com/docs/glossary/what-e164; 21211 "Invalid 'To' Phone Number": "Twilio
# requires phone numbers in E.164 format").
E164 = re.compile(r"^\+[1-9]\d{1,14}$")

# "The Body parameter for an outgoing message can be up to 1,600 characters"
# (https://www.twilio.com/docs/api/errors/21617).
MAX_BODY_CHARS = 1600

# Twilio's default opt-out handling on long codes: single-word messages only, any case
# (https://www.twilio.com/help/faq/sms/does-twilio-support-stop-block-and-cancel-aka-sms-filtering:
# "STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, and QUIT will stop customers from receiving
# messages ... Only single-word messages will trigger the block"; "START and YES will opt
# customers back in"; "HELP and INFO" answer with help). UNSTOP opts in too
# (support.twilio.com article 223134027, "Twilio support for opt-out keywords").
OPT_OUT_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
OPT_IN_WORDS = frozenset({"START", "YES", "UNSTOP"})
HELP_WORDS = frozenset({"HELP", "INFO"})

# Error codes, their HTTP status and message, from Twilio's error dictionary
# (https://www.twilio.com/docs/api/errors/<code>). Messages that quote the number do so as
# Twilio's do, so the adapter is tested against text it must not store.
ERRORS: dict[int, tuple[int, str]] = {
    20003: (401, "Authenticate"),
    20404: (404, "The requested resource was not found"),
    20429: (429, "Too Many Requests"),
    20500: (500, "Internal Server Error"),
    21211: (400, "The 'To' number {to} is not a valid phone number."),
    21408: (
        400,
        "Permission to send an SMS has not been enabled for the region indicated by"
        " the 'To' number: {to}.",
    ),
    21602: (400, "Message body is required."),
    21603: (400, "A 'From' phone number is required."),
    21604: (400, "A 'To' phone number is required."),
    21606: (
        400,
        "The From phone number {from_} is not a valid, SMS-capable inbound phone"
        " number or short code for your account.",
    ),
    21609: (400, "Invalid StatusCallback url"),
    21610: (400, "Attempt to send to unsubscribed recipient"),
    21614: (400, "'To' number {to} is not a valid mobile number"),
    21617: (400, "The concatenated message body exceeds the 1600 character limit."),
    21701: (400, "The Messaging Service Sid {service} is invalid."),
}


def error_body(code: int, **facts: str) -> tuple[int, dict[str, object]]:
    """The HTTP status and JSON body of Twilio error ``code``."""
    status, message = ERRORS[code]
    return status, {
        "code": code,
        "message": message.format(**{"to": "", "from_": "", "service": "", **facts}),
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def rfc2822(moment: datetime | None) -> str | None:
    """A date as Twilio writes it, e.g. ``Fri, 04 Dec 2026 10:00:00 +0000``."""
    return format_datetime(moment) if moment is not None else None


def sign(auth_token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """X-Twilio-Signature of a webhook: base64 HMAC-SHA1 of the URL and sorted parameters.

    The fake's own signer, written from twilio-python's ``request_validator.py``
    ``compute_signature`` (names sorted, each name's distinct values sorted, appended without
    separators), kept apart from Elo's validator so a bug in one is caught by the other.
    """
    grouped: dict[str, set[str]] = {}
    for name, value in params:
        grouped.setdefault(name, set()).add(value)
    text = url + "".join(n + v for n in sorted(grouped) for v in sorted(grouped[n]))
    digest = hmac.new(auth_token.encode(), text.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def keyword(body: str) -> str | None:
    """``STOP``, ``START`` or ``HELP`` when the whole message is such a keyword (any case)."""
    word = body.strip().upper()
    if word in OPT_OUT_WORDS:
        return "STOP"
    if word in OPT_IN_WORDS:
        return "START"
    if word in HELP_WORDS:
        return "HELP"
    return None


@dataclass
class FakeMessage:
    """One message the fake holds (outbound sent through the API, or a patient's inbound)."""

    sid: str
    to: str
    from_: str | None
    body: str
    direction: str
    status: str
    date_created: datetime
    messaging_service_sid: str | None = None
    status_callback: str | None = None
    date_sent: datetime | None = None
    error_code: int | None = None


@dataclass
class Delivery:
    """A webhook the fake sent: which, where, the parameters, and Elo's answer."""

    kind: Literal["status", "inbound"]
    url: str
    params: dict[str, str]
    status: int
    body: str


@dataclass
class Seen:
    """A request the fake received (who authenticated, what it asked)."""

    method: str
    path: str
    user: str
    fields: dict[str, str] = field(default_factory=dict)


def resource(account_sid: str, m: FakeMessage) -> dict[str, Any]:
    """The Message resource as Twilio answers it (``MessageInstance``'s fields)."""
    uri = f"/{API_VERSION}/Accounts/{account_sid}/Messages/{m.sid}.json"
    return {
        "account_sid": account_sid,
        "api_version": API_VERSION,
        "body": m.body,
        "date_created": rfc2822(m.date_created),
        "date_sent": rfc2822(m.date_sent),
        "date_updated": rfc2822(m.date_sent or m.date_created),
        "direction": m.direction,
        "error_code": m.error_code,
        "error_message": None,
        "from": m.from_,
        "messaging_service_sid": m.messaging_service_sid,
        "num_media": "0",
        "num_segments": "1",
        "price": None,
        "price_unit": "USD",
        "sid": m.sid,
        "status": m.status,
        "to": m.to,
        "uri": uri,
        "subresource_uris": {"media": uri.replace(".json", "/Media.json")},
    }


def matches(m: FakeMessage, query: dict[str, str]) -> bool:
    """Whether ``m`` passes the list's ``To``/``From``/``DateSent`` filters."""
    if "To" in query and m.to != query["To"]:
        return False
    if "From" in query and m.from_ != query["From"]:
        return False
    sent = m.date_sent.date().isoformat() if m.date_sent else None
    for name, test in (
        ("DateSent", lambda day, value: day == value),
        ("DateSent>", lambda day, value: day >= value),
        ("DateSent<", lambda day, value: day <= value),
    ):
        if name in query:
            # Dates are GMT days; twilio-python may send a full ISO time: its day counts.
            if sent is None or not test(sent, query[name][:10]):
                return False
    return True
