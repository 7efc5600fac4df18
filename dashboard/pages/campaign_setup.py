"""Admins create a campaign and upload its contacts (the rules of :mod:`campaign.setup`).

The form asks what ``elo campaign create`` asks, and both call
:func:`campaign.setup.create_campaign`; an upload is read by the same importer as ``elo
campaign import`` and added by :func:`campaign.setup.import_contacts`. The result shows how many
contacts were imported and every line that was not, with its line number and reason (numbers
in a reason are masked). A file that cannot be read as a whole imports nothing. The size of
any request is limited by ``ELO_DASHBOARD__MAX_UPLOAD_KIB`` (``dashboard.app``).
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Depends, File, Form, HTTPException, Path, Request, UploadFile
from fastapi.responses import RedirectResponse, Response

from campaign.importer import ContactFileError, read_contacts_data
from campaign.setup import PURPOSES, CampaignForm, SetupError, create_campaign, import_contacts
from dashboard import nav
from dashboard.campaign_views import PURPOSES as PURPOSE_LABELS
from dashboard.campaign_views import mask_numbers, rejected_line
from dashboard.i18n import N_
from dashboard.nav import Page
from dashboard.sessions import require_admin, state_of
from dashboard.templating import render
from storage.users import WebSession

router = APIRouter(dependencies=[Depends(require_admin)])
FIELDS = {
    "name": N_("Name"),
    "purpose": N_("Purpose"),
    "notes": N_("Notes for the assistant"),
    "max_concurrent": N_("Calls at once"),
    "max_attempts": N_("Attempts per contact"),
    "window_days": N_("Calling days"),
    "window_hours": N_("Calling hours"),
    "retry": N_("Minutes before calling again"),
    "trunk": N_("SIP trunk"),
    "caller_id": N_("Caller ID"),
}
UNREADABLE = N_("The file could not be read, so nothing was imported.")
NO_FILE = N_("Choose a CSV file to upload.")
TAKEN = N_("A campaign with that name already exists.")


async def _new_page(request: Request, *, status: int = 200, **extra: Any) -> Response:
    context = {
        "form": CampaignForm(name="", purpose="recall"),
        "purposes": [(p, PURPOSE_LABELS[p]) for p in PURPOSES],
        "fields": FIELDS,
        "error_field": None,
        "error": None,
        **extra,
    }
    return await render(
        request, "campaign_new.html", context, status_code=status, active=nav.CAMPAIGNS.key
    )


@router.get("/campaigns/new")
async def new_campaign_page(request: Request) -> Response:
    """The form for a new campaign."""
    return await _new_page(request)


@router.post("/campaigns/new")
async def new_campaign(
    request: Request,
    name: str = Form("", max_length=1000),
    purpose: str = Form("recall", max_length=40),
    notes: str = Form("", max_length=5000),
    max_concurrent: int = Form(2),
    max_attempts: int = Form(4),
    window_days: str = Form("", max_length=200),
    window_hours: str = Form("", max_length=500),
    retry: str = Form("", max_length=500),
    trunk: str = Form("", max_length=200),
    caller_id: str = Form("", max_length=100),
    session: WebSession = Depends(require_admin),  # noqa: B008
) -> Response:
    """Create the campaign (draft, not started) and go to its page."""
    form = CampaignForm(
        name=name,
        purpose=purpose,
        notes=notes,
        max_concurrent=max_concurrent,
        max_attempts=max_attempts,
        window_days=window_days,
        window_hours=window_hours,
        retry=retry,
        trunk=trunk,
        caller_id=caller_id,
    )
    state = state_of(request)
    try:
        campaign = await create_campaign(state.app.store, state.app.settings, form)
    except SetupError as exc:
        taken = exc.field == "name" and exc.problem.endswith("already exists")
        return await _new_page(
            request,
            status=400,
            form=form,
            error_field=exc.field,
            error=None if taken else mask_numbers(exc.problem),
            taken=taken,
        )
    await _audit(request, session, "campaign.create", campaign.id)
    return RedirectResponse(f"/campaigns/{campaign.id}?done=created", status_code=303)


async def _upload_page(
    request: Request, campaign_id: int, *, status: int = 200, **extra: Any
) -> Response:
    campaign = await state_of(request).app.store.campaigns.get_by_id(campaign_id=campaign_id)
    if campaign is None:
        raise HTTPException(status_code=404)
    context = {"campaign": campaign, "report": None, "error": None, "detail": None, **extra}
    return await render(
        request, "campaign_upload.html", context, status_code=status, active=nav.CAMPAIGNS.key
    )


@router.get("/campaigns/{campaign_id:int}/contacts")
async def upload_page(request: Request, campaign_id: int = Path(ge=1)) -> Response:
    """The form to upload a contacts CSV file."""
    return await _upload_page(request, campaign_id)


@router.post("/campaigns/{campaign_id:int}/contacts")
async def upload_contacts(
    request: Request,
    campaign_id: int = Path(ge=1),
    file: UploadFile | None = File(None),  # noqa: B008
    session: WebSession = Depends(require_admin),  # noqa: B008
) -> Response:
    """Import the uploaded CSV: every valid row, and a report of every other one."""
    store = state_of(request).app.store
    if await store.campaigns.get_by_id(campaign_id=campaign_id) is None:
        raise HTTPException(status_code=404)
    data = await file.read() if file is not None else b""
    if file is None or (not file.filename and not data):
        return await _upload_page(request, campaign_id, status=400, error=NO_FILE)
    settings = state_of(request).app.settings.validation
    try:
        # The whole file is read first: a file that cannot be read imports nothing.
        contacts, rejections = read_contacts_data(
            data,
            name=_file_name(file.filename),
            default_region=settings.default_phone_region,
            allowed_regions=settings.allowed_phone_regions,
        )
    except ContactFileError as exc:
        return await _upload_page(
            request, campaign_id, status=400, error=UNREADABLE, detail=mask_numbers(str(exc))
        )
    report = await import_contacts(
        store, campaign_id=campaign_id, contacts=contacts, rejections=rejections
    )
    await _audit(request, session, "campaign.import", campaign_id)
    lines = sorted(
        (rejected_line(r) for r in (*report.rejected, *report.duplicates)), key=lambda r: r.line
    )
    return await _upload_page(request, campaign_id, report=report, lines=lines)


def _file_name(raw: str | None) -> str:
    """The upload's own name for messages: its last part, printable, short."""
    name = re.split(r"[\\/]", raw or "")[-1]
    name = "".join(char for char in name if char.isprintable())[:80].strip()
    return name or "the file"


async def _audit(request: Request, session: WebSession, action: str, campaign_id: int) -> None:
    await state_of(request).app.store.audit.record(
        actor=f"web:{session.user.name}", action=action, subject=f"campaign:{campaign_id}"
    )


PAGE = Page(router=router)
