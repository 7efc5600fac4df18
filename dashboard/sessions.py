"""Who is signed in, and the dependencies page routers use: sessions, roles and CSRF.

A session lives in the database (``web_sessions``), found by the SHA-256 of the random token in
the ``elo_session`` cookie (HttpOnly, SameSite=Lax, Secure over TLS or behind a TLS proxy). It
ends when unused for ``ELO_DASHBOARD__SESSION_IDLE_MINUTES``, after
``ELO_DASHBOARD__SESSION_MAX_HOURS`` in any case, at sign-out, and when the user is disabled or
given a new password.

Every POST, PUT, PATCH and DELETE must carry the CSRF token (the form field ``csrf_token`` or the
header ``X-CSRF-Token``): the session's own token, or before sign-in the random value of the
``elo_csrf`` cookie (double submit). :func:`check_csrf` runs on every route of the dashboard.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import quote

from fastapi import Depends, Request, Response

from app.application import Application
from app.live import CampaignProgress, LiveCalls
from config.settings_dashboard import DashboardSettings
from storage.users import WebSession

SESSION_COOKIE = "elo_session"
CSRF_COOKIE = "elo_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
# A session waiting for its one-time code lasts this long.
TOTP_PENDING = timedelta(minutes=5)
# last_seen_at is written at most this often per session (not on every request).
TOUCH_EVERY = timedelta(minutes=1)
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_NOT_LOOKED_UP = object()


class LoginRequired(Exception):
    """Not signed in: the dashboard answers with a redirect to the sign-in page."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class Forbidden(Exception):
    """Signed in, but not allowed (a staff user on an admin page): a 403 page."""


class CsrfRefused(Exception):
    """A form without its CSRF token, or with another one: a 403 page."""


@dataclass(frozen=True)
class DashboardState:
    """What every request of the dashboard reaches through ``request.app.state.dashboard``.

    Attributes:
        app: The open application (settings, clinic, store, clock).
        live: The calls in progress (from the service), or None (tests, no service).
        progress: The campaigns' live progress (from the service), or None.
    """

    app: Application
    live: LiveCalls | None = None
    progress: CampaignProgress | None = None

    @property
    def settings(self) -> DashboardSettings:
        """The ``ELO_DASHBOARD__*`` settings."""
        return self.app.settings.dashboard


def state_of(request: Request) -> DashboardState:
    """The dashboard's state for this request."""
    return request.app.state.dashboard


def token_hash(token: str) -> str:
    """What the database keeps of a session token."""
    return hashlib.sha256(token.encode()).hexdigest()


def safe_next(value: str | None) -> str:
    """A redirect target after sign-in: a path of this site only, else ``/``."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")):
        return "/"
    if any(ord(char) < 0x20 or char == "\\" for char in value) or len(value) > 2000:
        return "/"
    return value


async def current_session(request: Request) -> WebSession | None:
    """The browser's live session (also one waiting for its one-time code), or None.

    An expired session is deleted on the way. Looked up once per request.
    """
    cached = getattr(request.state, "web_session", _NOT_LOOKED_UP)
    if cached is not _NOT_LOOKED_UP:
        return cached  # type: ignore[return-value]
    request.state.web_session = None
    token = request.cookies.get(SESSION_COOKIE)
    if not token or len(token) > 200:
        return None
    state = state_of(request)
    users = state.app.store.users
    session = await users.session(token_hash=token_hash(token))
    if session is None:
        return None
    now = state.app.clock()
    idle = timedelta(minutes=state.settings.session_idle_minutes)
    if now >= session.expires_at or now - session.last_seen_at >= idle or session.user.disabled:
        await users.end_session(token_hash=session.token_hash)
        return None
    if now - session.last_seen_at >= TOUCH_EVERY:
        await users.touch_session(token_hash=session.token_hash)
    request.state.web_session = session
    return session


async def require_user(request: Request) -> WebSession:
    """A dependency: the signed-in user's session; anyone else is sent to sign in.

    Raises:
        LoginRequired: Not signed in (or still owing the one-time code).
    """
    session = await current_session(request)
    if session is None or session.totp_pending:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(target)
    return session


async def require_admin(session: WebSession = Depends(require_user)) -> WebSession:  # noqa: B008
    """A dependency: the signed-in admin's session.

    Raises:
        LoginRequired: Not signed in.
        Forbidden: Signed in as staff.
    """
    if not session.user.is_admin:
        raise Forbidden
    return session


async def csrf_token(request: Request) -> str:
    """The CSRF token forms of this response must carry (made for a new visitor)."""
    session = await current_session(request)
    if session is not None:
        return session.csrf_token
    token = request.cookies.get(CSRF_COOKIE)
    if not token or len(token) != 43:
        token = getattr(request.state, "new_csrf_cookie", None) or secrets.token_urlsafe(32)
        request.state.new_csrf_cookie = token
    return token


async def check_csrf(request: Request) -> None:
    """A dependency of every dashboard route: unsafe methods must carry the right CSRF token.

    Raises:
        CsrfRefused: The token is missing or is not this browser's.
    """
    if request.method not in UNSAFE_METHODS:
        return
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    session = await current_session(request)
    expected = session.csrf_token if session is not None else request.cookies.get(CSRF_COOKIE)
    if not sent or not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise CsrfRefused


def is_secure(request: Request) -> bool:
    """Whether cookies must be Secure: the request came over TLS, or through a TLS proxy."""
    return request.url.scheme == "https" or state_of(request).settings.behind_tls_proxy


async def start_session(
    request: Request, response: Response, *, user_id: int, totp_pending: bool
) -> None:
    """Sign a browser in (or half in, owing its one-time code): a new token in a new cookie.

    A new token at every step, so a token seen before sign-in is worth nothing after it.
    """
    state = state_of(request)
    now: datetime = state.app.clock()
    token = secrets.token_urlsafe(32)
    expires = now + (
        TOTP_PENDING if totp_pending else timedelta(hours=state.settings.session_max_hours)
    )
    await state.app.store.users.create_session(
        user_id=user_id,
        token_hash=token_hash(token),
        csrf_token=secrets.token_urlsafe(32),
        expires_at=expires,
        totp_pending=totp_pending,
    )
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=is_secure(request),
        path="/",
    )


async def end_session(request: Request, response: Response) -> None:
    """Sign this browser out (its session row is deleted, its cookie cleared)."""
    session = await current_session(request)
    if session is not None:
        await state_of(request).app.store.users.end_session(token_hash=session.token_hash)
    request.state.web_session = None
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=is_secure(request)
    )


def set_pending_cookies(request: Request, response: Response) -> None:
    """Set the pre-sign-in CSRF cookie if this request made one."""
    token = getattr(request.state, "new_csrf_cookie", None)
    if token:
        response.set_cookie(
            CSRF_COOKIE, token, httponly=True, samesite="lax", secure=is_secure(request), path="/"
        )


def login_url(next_path: str) -> str:
    """The sign-in page, coming back to ``next_path`` afterwards."""
    target = safe_next(next_path)
    return "/login" if target == "/" else f"/login?next={quote(target, safe='/')}"
