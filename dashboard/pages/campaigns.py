"""The Campaigns pages: the list, a campaign's live progress and funnel, and its controls.

Staff see the list and each campaign's progress; admins also start, pause, resume and stop a
campaign (with the rules of :mod:`campaign.control`, as ``elo campaign start|...`` does) and see
the revenue its calls booked. Creating a campaign and uploading its contacts are in
:mod:`dashboard.pages.campaign_setup`. Every change is in the audit trail (``web:NAME``,
subject ``campaign:ID``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Form, HTTPException, Path, Query, Request
from fastapi.responses import RedirectResponse, Response

from campaign.control import Command, ControlRefused, allowed_commands, control
from dashboard import nav
from dashboard.campaign_views import (
    COMMANDS,
    PURPOSES,
    SERVICE_STATES,
    STATES,
    funnel,
    mask_numbers,
)
from dashboard.i18n import N_
from dashboard.live import live_fragments
from dashboard.nav import Page
from dashboard.paging import pager
from dashboard.sessions import require_admin, require_user, state_of
from dashboard.templating import render
from storage.errors import CursorError, NotFoundError
from storage.models import CampaignStatus
from storage.users import WebSession

PAGE_SIZE = 50
CURSOR = r"^[A-Za-z0-9_-]{0,400}$"
router = APIRouter(dependencies=[Depends(require_user)])
NOTICES = {
    "created": N_("The campaign was created. Upload its contacts next."),
    "start": N_("The campaign was started: the service dials it inside its calling hours."),
    "pause": N_("The campaign was paused: no one new is dialled; calls in progress finish."),
    "resume": N_("The campaign was resumed."),
    "stop": N_("The campaign was stopped for good; calls in progress finish."),
    "unchanged": N_("The campaign already was in that state."),
}
REFUSED = N_("The campaign could not be changed.")
LABELS = {
    "purposes": PURPOSES,
    "states": STATES,
    "service_states": SERVICE_STATES,
    "command_labels": COMMANDS,
}


def progress_values(status: CampaignStatus) -> dict[str, Any]:
    """What the progress fragment (``campaign_progress.html``) shows for one status."""
    return {
        "status": status,
        "funnel": funnel(status),
        "commands": [c.value for c in allowed_commands(**_state(status))],
        "pause_reason": mask_numbers(status.pause_reason) if status.pause_reason else None,
        **LABELS,
    }


def _state(status: CampaignStatus) -> dict[str, Any]:
    return {"status": status.status, "service_state": status.service_state}


async def _status(request: Request, campaign_id: int) -> CampaignStatus:
    try:
        return await state_of(request).app.store.campaigns.status(campaign_id=campaign_id)
    except NotFoundError:
        raise HTTPException(status_code=404) from None


@router.get("/campaigns")
async def campaigns_page(
    request: Request,
    cursor: str = Query("", pattern=CURSOR),
    back: list[str] = Query(default=[]),  # noqa: B008
) -> Response:
    """Campaigns with their state and contact counts, newest first, in keyset pages."""
    listing = state_of(request).app.store.campaign_list
    context: dict[str, Any] = {"error": None, **LABELS}
    try:
        found = await listing.page(cursor=cursor or None, limit=PAGE_SIZE)
    except CursorError:
        context["error"] = N_("That page link is not valid any more; here is the first page.")
        found = await listing.page(limit=PAGE_SIZE)
        cursor, back = "", []
    context["campaigns"] = found.items
    context |= pager(
        "/campaigns", {}, cursor=cursor or None, next_cursor=found.next_cursor, back=back
    )
    return await render(request, "campaigns.html", context, active=nav.CAMPAIGNS.key)


@router.get("/campaigns/{campaign_id:int}")
async def campaign_page(request: Request, campaign_id: int = Path(ge=1)) -> Response:
    """A campaign: its settings, live progress, funnel and (admins) controls and revenue."""
    return await _detail(request, campaign_id)


async def _detail(
    request: Request, campaign_id: int, *, status_code: int = 200, **extra: Any
) -> Response:
    status = await _status(request, campaign_id)
    campaign = await state_of(request).app.store.campaigns.get_by_id(campaign_id=campaign_id)
    context = {
        "campaign": campaign,
        "live": state_of(request).progress is not None,
        "notice": NOTICES.get(request.query_params.get("done", "")),
        "error": None,
        "error_detail": None,
        **progress_values(status),
        **extra,
    }
    return await render(
        request, "campaign.html", context, status_code=status_code, active=nav.CAMPAIGNS.key
    )


@router.get("/campaigns/{campaign_id:int}/progress")
async def campaign_progress(request: Request, campaign_id: int = Path(ge=1)) -> Response:
    """The progress fragment, live: server-sent events from ``CampaignProgress.watch``."""
    progress = state_of(request).progress
    await _status(request, campaign_id)  # 404 before the stream starts
    if progress is None:
        raise HTTPException(status_code=404)
    return await live_fragments(
        request, progress.watch(campaign_id), "campaign_progress.html", progress_values
    )


@router.post("/campaigns/{campaign_id:int}/control")
async def campaign_control(
    request: Request,
    campaign_id: int = Path(ge=1),
    command: Command = Form(),  # noqa: B008
    session: WebSession = Depends(require_admin),  # noqa: B008
) -> Response:
    """Start, pause, resume or stop the campaign (``campaign.control``'s one compare-and-set)."""
    store = state_of(request).app.store
    campaign = await store.campaigns.get_by_id(campaign_id=campaign_id)
    if campaign is None:
        raise HTTPException(status_code=404)
    try:
        result = await control(store, name=campaign.name, command=command)
    except ControlRefused as exc:
        return await _detail(
            request, campaign_id, status_code=409, error=REFUSED, error_detail=str(exc)
        )
    if result.changed:
        await store.audit.record(
            actor=f"web:{session.user.name}",
            action=f"campaign.{command.value}",
            subject=f"campaign:{campaign_id}",
        )
    notice = command.value if result.changed else "unchanged"
    return RedirectResponse(f"/campaigns/{campaign_id}?done={notice}", status_code=303)


PAGE = Page(router=router, nav=nav.CAMPAIGNS)
