"""The Do-not-call page (staff and admins): the list, adding a number, removing an entry.

Numbers are masked in the list. A number typed in is checked with the project's phone validation
(the clinic's allowed regions); a bad one gets one translated line, the typed values kept and
nothing written. Removal asks for a reason code and a confirmation (a page of its own). Both are
in the audit trail (``dnc.add``/``dnc.remove``) with the number's keyed hash as the subject (the
key ``do_not_call_hashed`` keeps an erased person's entry by), never the number.

Entries added here are stored with source ``web`` (migration 14; ``cli`` is ``elo dnc add``), and
the audit trail says who added them (``web:NAME``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import RedirectResponse, Response

from dashboard import nav
from dashboard.i18n import N_
from dashboard.nav import Page
from dashboard.sessions import require_user, state_of
from dashboard.templating import render
from storage.errors import CursorError
from storage.users import WebSession
from validation.errors import InputError
from validation.phone import normalize_phone

PAGE_SIZE = 50
MAX_REASON = 500
router = APIRouter(dependencies=[Depends(require_user)])
REMOVAL_REASONS = {
    "added_by_mistake": N_("Added by mistake"),
    "patient_asked_to_be_called": N_("The patient asked to be called again"),
    "number_has_a_new_owner": N_("The number now belongs to someone else"),
}
SOURCES = {
    "agent": N_("In a call"),
    "cli": N_("Command line"),
    "import": N_("Import"),
    "web": N_("Dashboard"),
}
NOTICES = {
    "added": N_("The number was added to the do-not-call list."),
    "already": N_("The number was already on the do-not-call list; its first entry is kept."),
    "removed": N_("The entry was taken off the do-not-call list."),
}
BAD_NUMBER = N_("That is not a valid phone number. Write it like +355 69 123 4567.")
WRONG_REGION = N_("Only numbers from %(regions)s can be added.")
NO_ENTRY = N_("This entry is no longer on the do-not-call list.")
BAD_CURSOR = N_("That page link is out of date. Start again from the first page.")


async def _page(
    request: Request, *, cursor: str | None = None, status: int = 200, **extra: Any
) -> Response:
    dnc = state_of(request).app.store.dnc
    try:
        page = await dnc.page(cursor=cursor, limit=PAGE_SIZE)
    except CursorError:
        page = await dnc.page(limit=PAGE_SIZE)
        cursor, status, extra = None, 400, {**extra, "error": BAD_CURSOR}
    context = {
        "page": page,
        "cursor": cursor,
        "sources": SOURCES,
        "notice": NOTICES.get(request.query_params.get("done", "")),
        "error": None,
        "error_args": {},
        "form": {},
        **extra,
    }
    return await render(
        request, "do_not_call.html", context, status_code=status, active=nav.DO_NOT_CALL.key
    )


@router.get("/do-not-call")
async def do_not_call(
    request: Request, cursor: str = Query("", pattern=r"^[A-Za-z0-9_-]{0,400}$")
) -> Response:
    """One page of the list, newest first, and the count of erased people's hashed entries."""
    return await _page(request, cursor=cursor or None)


@router.post("/do-not-call")
async def add_entry(
    request: Request,
    phone: str = Form("", max_length=100),
    reason: str = Form("", max_length=MAX_REASON),
    session: WebSession = Depends(require_user),  # noqa: B008
) -> Response:
    """Put a number on the list (E.164 after validation) with an optional reason."""
    app = state_of(request).app
    rules = app.settings.validation
    form = {"phone": phone, "reason": reason}
    try:
        number = normalize_phone(
            phone,
            allowed_regions=rules.allowed_phone_regions,
            default_region=rules.default_phone_region,
            field="phone",
        )
    except InputError as exc:
        regions = (exc.details or {}).get("allowed_regions")
        if regions:
            args = {"regions": ", ".join(regions)}
            return await _page(request, status=400, error=WRONG_REGION, error_args=args, form=form)
        return await _page(request, status=400, error=BAD_NUMBER, form=form)
    subject = app.store.privacy.subject_hash(number)  # before the change: it may need the key
    already = await app.store.dnc.is_listed(phone=number)
    await app.store.dnc.add(phone=number, reason=reason.strip() or None, source="web")
    await app.store.audit.record(
        actor=f"web:{session.user.name}",
        action="dnc.add",
        subject=subject,
        detail={"already_listed": already},
    )
    return RedirectResponse(f"/do-not-call?done={'already' if already else 'added'}", 303)


@router.get("/do-not-call/{entry_id}/remove")
async def confirm_removal(request: Request, entry_id: int = Path(ge=1)) -> Response:
    """The confirmation step: the entry (masked), a reason code to choose, and the button."""
    entry = await state_of(request).app.store.dnc.entry(entry_id=entry_id)
    if entry is None:
        return await _page(request, status=404, error=NO_ENTRY)
    context = {"entry": entry, "reasons": REMOVAL_REASONS, "sources": SOURCES}
    return await render(request, "do_not_call_remove.html", context, active=nav.DO_NOT_CALL.key)


@router.post("/do-not-call/{entry_id}/remove")
async def remove_entry(
    request: Request,
    entry_id: int = Path(ge=1),
    reason: str = Form(pattern="^(" + "|".join(REMOVAL_REASONS) + ")$"),
    session: WebSession = Depends(require_user),  # noqa: B008
) -> Response:
    """Take the entry off the list, confirmed, with a reason code (audited with the code)."""
    app = state_of(request).app
    removed = await app.store.dnc.remove_entry(entry_id=entry_id)
    if removed is None:  # taken off by someone else meanwhile
        return await _page(request, status=404, error=NO_ENTRY)
    await app.store.audit.record(
        actor=f"web:{session.user.name}",
        action="dnc.remove",
        subject=app.store.privacy.subject_hash(removed.phone),
        detail={"reason": reason},
    )
    return RedirectResponse("/do-not-call?done=removed", 303)


PAGE = Page(router=router, nav=nav.DO_NOT_CALL)
