"""The Users page (admins): list, add, disable and enable, set a new password.

Every change is in the audit trail with the admin as actor (``web:NAME``). An admin cannot
disable themselves (so the last admin cannot lock everyone out from here); ``elo user`` can.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import RedirectResponse, Response

from dashboard import nav
from dashboard.accounts import AccountError, check_password, clean_name, hash_password
from dashboard.i18n import N_, as_language
from dashboard.nav import Page
from dashboard.sessions import require_admin, state_of
from dashboard.templating import render
from storage.users import UserError, WebSession

router = APIRouter(dependencies=[Depends(require_admin)])
NOTICES = {
    "added": N_("The user was added."),
    "disabled": N_("The user was disabled and signed out everywhere."),
    "enabled": N_("The user was enabled."),
    "password": N_("The password was changed; the user was signed out everywhere."),
}
NOT_SELF = N_("You cannot disable yourself.")
PASSWORDS_DIFFER = N_("The two passwords are not the same.")
NAME_TAKEN = N_("A user with that name already exists.")
NO_USER = N_("There is no such user.")
BAD_NAME = N_("Give a name of at most 64 characters.")
BAD_PASSWORD = N_("The password must have at least %(min)s characters and not be the name.")


async def _page(request: Request, *, status: int = 200, **extra: Any) -> Response:
    users = await state_of(request).app.store.users.list()
    context = {
        "users": users,
        "notice": NOTICES.get(request.query_params.get("done", "")),
        "error": None,
        "error_args": {},
        "form": {},
        "min_password": state_of(request).settings.min_password_length,
        "now": state_of(request).app.clock(),
        **extra,
    }
    return await render(request, "users.html", context, status_code=status, active=nav.USERS.key)


def _done(notice: str) -> Response:
    return RedirectResponse(f"/users?done={notice}", status_code=303)


def _password(request: Request, password: str, again: str, *, name: str) -> str | None:
    """The msgid of what is wrong with a new password, or None."""
    if password != again:
        return PASSWORDS_DIFFER
    try:
        check_password(
            password, name=name, min_length=state_of(request).settings.min_password_length
        )
    except AccountError:
        return BAD_PASSWORD
    return None


async def _audit(request: Request, session: WebSession, action: str, user_id: int) -> None:
    await state_of(request).app.store.audit.record(
        actor=f"web:{session.user.name}", action=action, subject=f"user:{user_id}"
    )


@router.get("/users")
async def users_page(request: Request) -> Response:
    """Every user, and the form to add one."""
    return await _page(request)


@router.post("/users")
async def add_user(
    request: Request,
    name: str = Form("", max_length=1000),
    role: str = Form("staff", pattern="^(admin|staff)$"),
    language: str = Form("sq", pattern="^(sq|en)$"),
    password: str = Form("", max_length=1000),
    password_again: str = Form("", max_length=1000),
    session: WebSession = Depends(require_admin),  # noqa: B008
) -> Response:
    """Add a user with a role, a language and a password typed twice."""
    form = {"name": name[:100], "role": role, "language": language}
    min_password = state_of(request).settings.min_password_length
    try:
        clean = clean_name(name)
    except AccountError:
        return await _page(request, status=400, error=BAD_NAME, form=form)
    problem = _password(request, password, password_again, name=clean)
    if problem is not None:
        args = {"min": min_password}
        return await _page(request, status=400, error=problem, error_args=args, form=form)
    password_hash = await asyncio.to_thread(hash_password, password)
    try:
        user = await state_of(request).app.store.users.add(
            name=clean,
            role="admin" if role == "admin" else "staff",
            password_hash=password_hash,
            language=as_language(language) or "sq",
        )
    except UserError:
        return await _page(request, status=400, error=NAME_TAKEN, form=form)
    await _audit(request, session, "user.add", user.id)
    return _done("added")


async def _target(request: Request, user_id: int) -> str | None:
    user = await state_of(request).app.store.users.get_by_id(user_id=user_id)
    return user.name if user else None


@router.post("/users/{user_id}/disable")
async def disable_user(
    request: Request,
    user_id: int = Path(ge=1),
    session: WebSession = Depends(require_admin),  # noqa: B008
) -> Response:
    """Disable a user (not oneself) and end every session they have."""
    if user_id == session.user.id:
        return await _page(request, status=400, error=NOT_SELF)
    name = await _target(request, user_id)
    if name is None:
        return await _page(request, status=404, error=NO_USER)
    await state_of(request).app.store.users.set_disabled(name=name, disabled=True)
    await _audit(request, session, "user.disable", user_id)
    return _done("disabled")


@router.post("/users/{user_id}/enable")
async def enable_user(
    request: Request,
    user_id: int = Path(ge=1),
    session: WebSession = Depends(require_admin),  # noqa: B008
) -> Response:
    """Let a disabled or locked-out user sign in again."""
    name = await _target(request, user_id)
    if name is None:
        return await _page(request, status=404, error=NO_USER)
    await state_of(request).app.store.users.set_disabled(name=name, disabled=False)
    await _audit(request, session, "user.enable", user_id)
    return _done("enabled")


@router.post("/users/{user_id}/password")
async def reset_password(
    request: Request,
    user_id: int = Path(ge=1),
    password: str = Form("", max_length=1000),
    password_again: str = Form("", max_length=1000),
    session: WebSession = Depends(require_admin),  # noqa: B008
) -> Response:
    """Give a user a new password (typed twice); ends every session they have."""
    name = await _target(request, user_id)
    if name is None:
        return await _page(request, status=404, error=NO_USER)
    problem = _password(request, password, password_again, name=name)
    if problem is not None:
        args = {"min": state_of(request).settings.min_password_length}
        return await _page(request, status=400, error=problem, error_args=args)
    password_hash = await asyncio.to_thread(hash_password, password)
    await state_of(request).app.store.users.set_password(name=name, password_hash=password_hash)
    await _audit(request, session, "user.reset", user_id)
    return _done("password")


PAGE = Page(router=router, nav=nav.USERS)
