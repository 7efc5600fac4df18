"""Tokens for the browser page: the page's secret, and one-time links signed with it.

Kept apart from :mod:`pipeline.webrtc_server` so that ``elo browser-link`` can make a link
without loading the web server and the WebRTC stack.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time

# One-time link tokens: "1.<expiry, unix seconds>.<nonce>.<signature>".
LINK_VERSION = "1"
LINK_MAX_SECS = 24 * 3600


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _link_signature(secret: str, expires: int, nonce: str) -> str:
    message = f"elo-link.{LINK_VERSION}.{expires}.{nonce}".encode()
    return _b64(hmac.new(secret.encode(), message, hashlib.sha256).digest())


def make_link_token(secret: str, *, valid_secs: int, now: float | None = None) -> str:
    """A one-time token for one browser call, signed with the page's secret.

    The server accepts it once, until it expires, without any shared state with the process
    that made it: the signature proves it came from someone who knows the secret.

    Args:
        secret: The page's token (``ELO_PIPELINE__WEBRTC_TOKEN``).
        valid_secs: How long the link may be used, at most 24 hours.
        now: Unix seconds; defaults to the current time.

    Raises:
        ValueError: No secret, or a lifetime outside 1 s to 24 h.
    """
    if not secret:
        raise ValueError("one-time links need a configured page token")
    if not 1 <= valid_secs <= LINK_MAX_SECS:
        raise ValueError("a link is valid for 1 second to 24 hours")
    expires = int((time.time() if now is None else now) + valid_secs)
    nonce = _b64(secrets.token_bytes(12))
    return f"{LINK_VERSION}.{expires}.{nonce}.{_link_signature(secret, expires, nonce)}"


def check_link_token(secret: str, token: str, now: float) -> tuple[str, int] | None:
    """``(nonce, expiry)`` of a genuine, unexpired link token, else None (used or not)."""
    parts = token.split(".")
    if len(parts) != 4 or parts[0] != LINK_VERSION or not parts[1].isdigit():
        return None
    expires, nonce, signature = int(parts[1]), parts[2], parts[3]
    expected = _link_signature(secret, expires, nonce)
    if not hmac.compare_digest(signature.encode(), expected.encode()):
        return None
    if not now < expires <= now + LINK_MAX_SECS:
        return None
    return nonce, expires


def new_token() -> str:
    """A fresh random token (256 bits, URL-safe) for one run of the server."""
    return secrets.token_urlsafe(32)


def page_url(host: str, port: int) -> str:
    """The address to open the page by: a name the page's Host check accepts by default.

    Args:
        host: The interface the page listens on (``ELO_PIPELINE__WEBRTC_HOST``).
        port: Its port.
    """
    # Listening on every interface or on loopback: this machine reaches itself as localhost.
    if host in ("0.0.0.0", "::", "", "127.0.0.1"):  # noqa: S104 - a comparison, not a bind
        host = "localhost"
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"
