"""The Clinic page: the running clinic profile for everyone; admins edit its file.

The edit is the profile's own TOML text (what an IT person edits by hand today), validated by
the profile's own rules before anything is written (:func:`config.clinic_file.save_clinic_profile`:
atomic, the previous version kept). A profile saved here applies from Elo's next start; the
page says so while the file differs from the running profile. Each save is audited.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from config.clinic import WEEKDAYS, load_clinic_profile
from config.clinic_file import previous_path, save_clinic_profile
from config.settings import ConfigError
from dashboard import nav
from dashboard.i18n import N_
from dashboard.nav import Page
from dashboard.sessions import require_admin, require_user, state_of
from dashboard.templating import render
from storage.users import WebSession

router = APIRouter(dependencies=[Depends(require_user)])
# The profile file is small; anything far larger is not one (and is not read into memory twice).
MAX_PROFILE_CHARS = 200_000
DAY_NAMES = dict(
    zip(
        WEEKDAYS,
        (
            N_("Monday"),
            N_("Tuesday"),
            N_("Wednesday"),
            N_("Thursday"),
            N_("Friday"),
            N_("Saturday"),
            N_("Sunday"),
        ),
        strict=True,
    )
)
TOO_LONG = N_("The profile is too long to be a clinic profile.")


def _path(request: Request) -> Path:
    return Path(state_of(request).app.settings.clinic.profile_path)


async def _differs(request: Request) -> bool:
    """Whether the file on disk is valid and not the profile Elo runs with."""
    try:
        on_disk = await asyncio.to_thread(load_clinic_profile, _path(request))
    except ConfigError:
        return False
    return on_disk != state_of(request).app.clinic


@router.get("/clinic")
async def clinic_page(request: Request) -> Response:
    """The running profile: contact details, hours, chairs, services, payment, questions."""
    context = {
        "clinic": state_of(request).app.clinic,
        "days": DAY_NAMES,
        "saved": request.query_params.get("done") == "saved",
        "previous": previous_path(_path(request)).name,
        "pending_restart": await _differs(request),
    }
    return await render(request, "clinic.html", context, active=nav.CLINIC.key)


async def _edit_page(
    request: Request, text: str, *, error: str | None = None, problem: str | None = None
) -> Response:
    context: dict[str, Any] = {
        "text": text,
        "error": error,
        "problem": problem,
        "file_name": _path(request).name,
        "max_chars": MAX_PROFILE_CHARS,
    }
    status = 200 if error is None and problem is None else 400
    return await render(
        request, "clinic_edit.html", context, status_code=status, active=nav.CLINIC.key
    )


@router.get("/clinic/edit", dependencies=[Depends(require_admin)])
async def edit_form(request: Request) -> Response:
    """The profile's file as it is on disk, to edit."""
    try:
        text = await asyncio.to_thread(_path(request).read_text, encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        problem = f"clinic profile {_path(request)} cannot be read"
        return await _edit_page(request, "", problem=problem)
    return await _edit_page(request, text)


@router.post("/clinic/edit")
async def save(
    request: Request,
    profile: str = Form(""),
    session: WebSession = Depends(require_admin),  # noqa: B008
) -> Response:
    """Validate and save the edited profile; on a problem, show it with the text kept."""
    if len(profile) > MAX_PROFILE_CHARS:
        return await _edit_page(request, profile[:MAX_PROFILE_CHARS], error=TOO_LONG)
    # Browsers send form text with CRLF line ends; the file keeps the plain ones.
    text = profile.replace("\r\n", "\n")
    path = _path(request)
    try:
        await asyncio.to_thread(save_clinic_profile, path, text)
    except ConfigError as exc:
        return await _edit_page(request, profile, problem=str(exc))
    await state_of(request).app.store.audit.record(
        actor=f"web:{session.user.name}", action="clinic.profile_saved", subject=path.name
    )
    return RedirectResponse("/clinic?done=saved", status_code=303)


PAGE = Page(router=router, nav=nav.CLINIC)
