"""``X-Twilio-Signature``: the check that a webhook request really comes from Twilio.

Exactly as twilio-python's ``RequestValidator`` does it (github.com/twilio/twilio-python,
``twilio/request_validator.py``, commit 306691e7):

- the string signed is the full URL Twilio requested (scheme, host, path and query), then for
  each POST parameter name in sorted order, each of its distinct values in sorted order, name
  and value appended without separators (``compute_signature``: ``sorted(set(params))`` and
  ``sorted(set(values))``, so repeated identical values count once);
- the signature is the base64 HMAC-SHA1 of that string keyed with the account's Auth Token;
- since "sig generation on back end is inconsistent" about ports, a request is valid if the
  signature matches the URL without its port (``remove_port``) or with the scheme's default port
  added (``add_port``: 443 for https, 80 otherwise) — a URL that names a port is tried without
  it and as given, one that names none as given and with the default port;
- a JSON body is signed through the URL instead: its SHA-256 hex digest must equal the
  ``bodySHA256`` query parameter, and no parameters are appended (``validate``).

Comparisons are constant-time (:func:`hmac.compare_digest`, where twilio-python loops over
every character). Two deliberate differences, both stricter or safer: a raw body without a
``bodySHA256`` query parameter is refused (twilio-python would go on to sign its characters),
and a port is cut at the last colon of the host part, so a bracketed IPv6 host stays whole
(twilio-python splits at the first colon).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from urllib.parse import parse_qs, urlsplit

Params = Mapping[str, str] | Iterable[tuple[str, str]]


def _pairs(params: Params | None) -> list[tuple[str, str]]:
    if params is None:
        return []
    if isinstance(params, Mapping):
        return [(str(name), str(value)) for name, value in params.items()]
    return [(str(name), str(value)) for name, value in params]


def compute_signature(auth_token: str, url: str, params: Params | None = None) -> str:
    """The signature Twilio sends for a request to ``url`` with these POST parameters.

    Args:
        auth_token: The account's Auth Token.
        url: The full URL Twilio requested.
        params: The form parameters (a mapping, or name/value pairs when a name repeats).

    Returns:
        The base64 HMAC-SHA1, as in the ``X-Twilio-Signature`` header.
    """
    values: dict[str, set[str]] = {}
    for name, value in _pairs(params):
        values.setdefault(name, set()).add(value)
    signed = url + "".join(
        name + value for name in sorted(values) for value in sorted(values[name])
    )
    mac = hmac.new(auth_token.encode("utf-8"), signed.encode("utf-8"), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode("ascii").strip()


def _without_port(url: str) -> str:
    parts = urlsplit(url)
    if not parts.port:
        return url
    return parts._replace(netloc=parts.netloc.rsplit(":", 1)[0]).geturl()


def _with_port(url: str) -> str:
    parts = urlsplit(url)
    if parts.port:
        return url
    port = 443 if parts.scheme == "https" else 80
    return parts._replace(netloc=f"{parts.netloc}:{port}").geturl()


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


def is_valid(auth_token: str, url: str, params: Params | str | None, signature: str) -> bool:
    """Whether ``signature`` is Twilio's for this request.

    Args:
        auth_token: The account's Auth Token (empty: nothing is valid).
        url: The full URL Twilio requested (the public one, as Twilio saw it).
        params: The form parameters, or the raw body of a JSON request.
        signature: The ``X-Twilio-Signature`` header ("" when missing).

    Returns:
        True only for a signature made with this token over this URL and these parameters.
    """
    if not auth_token or not signature:
        return False
    body_ok = True
    if isinstance(params, str):
        # A JSON body: Twilio puts its hash in the URL (request_validator.py ``validate``).
        query = parse_qs(urlsplit(url).query)
        if "bodySHA256" not in query:
            return False
        body_ok = _same(hashlib.sha256(params.encode("utf-8")).hexdigest(), query["bodySHA256"][0])
        params = None
    without = _same(compute_signature(auth_token, _without_port(url), params), signature)
    with_port = _same(compute_signature(auth_token, _with_port(url), params), signature)
    return body_ok and (without or with_port)
