"""Sign-in, the one-time-code step, sign-out and the language switch.

One answer for every failed sign-in (unknown name, wrong password, disabled, locked out), and
one argon2 verification spent for an unknown name too. ``ELO_DASHBOARD__MAX_FAILED_LOGINS``
failures in a row (passwords or one-time codes) lock the user for
``ELO_DASHBOARD__LOCKOUT_MINUTES``. Every sign-in, failure, lock-out and sign-out is in the audit
trail; a failure for a name that does not exist records no name (it may be anything typed).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from dashboard.accounts import AccountError, clean_name, totp_step, verify_password
from dashboard.i18n import LANGUAGES, N_, as_language
from dashboard.nav import Page
from dashboard.sessions import (
    DashboardState,
    LoginRequired,
    current_session,
    end_session,
    require_user,
    safe_next,
    start_session,
    state_of,
)
from dashboard.templating import LANGUAGE_COOKIE, render
from storage.users import User, WebSession

router = APIRouter()
FAILED = N_("Wrong name or password, or too many failed attempts. Try again later.")
FAILED_CODE = N_("That code is not right, or it was already used. Try the next one.")
LOCKED_OUT = N_("Too many failed attempts. Try again later.")


def _actor(user: User) -> str:
    return f"web:{user.name}"


async def _audit(state: DashboardState, action: str, user: User | None, **detail: object) -> None:
    await state.app.store.audit.record(
        actor=_actor(user) if user else "web:unknown",
        action=action,
        subject=f"user:{user.id}" if user else None,
        detail=detail or None,
    )


async def _failure(state: DashboardState, user: User, reason: str) -> User:
    """Count a failure; audit it, and the lock-out it may cause."""
    settings = state.settings
    after = await state.app.store.users.record_failure(
        user_id=user.id,
        max_failures=settings.max_failed_logins,
        lock_for=timedelta(minutes=settings.lockout_minutes),
    )
    await _audit(state, "dashboard.sign_in_failed", user, reason=reason)
    if after.locked_at(state.app.clock()):
        await _audit(state, "dashboard.lockout", user, minutes=settings.lockout_minutes)
    return after


@router.get("/login")
async def login_page(request: Request, next: str = "/", lang: str | None = None) -> Response:
    """The sign-in form (a signed-in user goes straight on)."""
    session = await current_session(request)
    if session is not None and not session.totp_pending:
        return RedirectResponse(safe_next(next), status_code=303)
    response = await render(request, "login.html", {"next": safe_next(next), "error": None})
    chosen = as_language(lang)
    if chosen is not None:
        response.set_cookie(LANGUAGE_COOKIE, chosen, samesite="lax", httponly=True, path="/")
    return response


@router.post("/login")
async def login(
    request: Request,
    name: str = Form("", max_length=1000),
    password: str = Form("", max_length=1000),
    next: str = Form("/", max_length=2000),
) -> Response:
    """Check a name and password; on success sign in, or ask for the one-time code."""
    state = state_of(request)
    target = safe_next(next)
    try:
        user = await state.app.store.users.get(name=clean_name(name))
    except AccountError:
        user = None
    matches = await asyncio.to_thread(
        verify_password, user.password_hash if user else None, password
    )
    now = state.app.clock()
    refused = None
    if user is None:
        await _audit(state, "dashboard.sign_in_failed", None, reason="unknown_user")
        refused = FAILED
    elif user.disabled or user.locked_at(now):
        reason = "disabled" if user.disabled else "locked"
        await _audit(state, "dashboard.sign_in_failed", user, reason=reason)
        refused = FAILED
    elif not matches:
        await _failure(state, user, "wrong_password")
        refused = FAILED
    if refused is not None or user is None:
        context = {"next": target, "error": refused, "name": name[:100]}
        return await render(request, "login.html", context, status_code=401)
    response = RedirectResponse(target, status_code=303)
    if user.totp_enrolled:
        response.headers["location"] = "/login/totp" + (f"?next={target}" if target != "/" else "")
        await start_session(request, response, user_id=user.id, totp_pending=True)
        return response
    await state.app.store.users.record_success(user_id=user.id)
    await start_session(request, response, user_id=user.id, totp_pending=False)
    await _audit(state, "dashboard.sign_in", user, totp=False)
    return response


async def _pending(request: Request) -> WebSession:
    session = await current_session(request)
    if session is None or not session.totp_pending:
        raise LoginRequired("/")
    return session


@router.get("/login/totp")
async def totp_page(request: Request, next: str = "/") -> Response:
    """The one-time-code form, for a browser that passed the password."""
    await _pending(request)
    return await render(request, "totp.html", {"next": safe_next(next), "error": None})


@router.post("/login/totp")
async def totp(
    request: Request,
    code: str = Form("", max_length=100),
    next: str = Form("/", max_length=2000),
) -> Response:
    """Check the one-time code; on success sign in with a new session token."""
    state = state_of(request)
    session = await _pending(request)
    user = session.user
    target = safe_next(next)
    step = totp_step(user.totp_secret or "", code, now=state.app.clock())
    accepted = step is not None and await state.app.store.users.use_totp_step(
        user_id=user.id, step=step
    )
    if not accepted or user.locked_at(state.app.clock()):
        after = await _failure(state, user, "wrong_code")
        if after.locked_at(state.app.clock()):
            response = await render(
                request, "login.html", {"next": target, "error": LOCKED_OUT}, status_code=401
            )
            await end_session(request, response)
            return response
        context = {"next": target, "error": FAILED_CODE}
        return await render(request, "totp.html", context, status_code=401)
    response = RedirectResponse(target, status_code=303)
    await end_session(request, response)
    await state.app.store.users.record_success(user_id=user.id)
    await start_session(request, response, user_id=user.id, totp_pending=False)
    await _audit(state, "dashboard.sign_in", user, totp=True)
    return response


@router.post("/logout")
async def logout(request: Request, session: WebSession = Depends(require_user)) -> Response:  # noqa: B008
    """Sign this browser out."""
    response = RedirectResponse("/login", status_code=303)
    await end_session(request, response)
    await _audit(state_of(request), "dashboard.sign_out", session.user)
    return response


@router.post("/language")
async def language(
    request: Request,
    language: str = Form(..., max_length=10),
    next: str = Form("/", max_length=2000),
    session: WebSession = Depends(require_user),  # noqa: B008
) -> Response:
    """Set the signed-in user's language and go back to the page they were on."""
    chosen = as_language(language)
    if chosen is not None and chosen in LANGUAGES:
        await state_of(request).app.store.users.set_language(
            user_id=session.user.id, language=chosen
        )
    return RedirectResponse(safe_next(next), status_code=303)


PAGE = Page(router=router)
