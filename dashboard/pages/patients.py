"""The Patients page (staff and admins): find patients by name or number, numbers masked.

A full number is shown only after a POST (with the CSRF token; never a GET link, so it is
neither in a URL nor fetched by a prefetch) for one patient, on the page that answers it, and
the look is in the audit trail first (``patient.reveal_number``, subject ``patient:ID``). Asked
from a patient's page (``back=patient``), the answer is that page (:mod:`dashboard.pages.patient`).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import Response

from dashboard import nav
from dashboard.i18n import N_
from dashboard.nav import Page
from dashboard.pages.patient import show_patient
from dashboard.sessions import require_user, state_of
from dashboard.templating import render
from storage.errors import CursorError
from storage.users import WebSession

PAGE_SIZE = 50
MAX_QUERY = 100
CURSOR = r"^[A-Za-z0-9_-]{0,400}$"
router = APIRouter(dependencies=[Depends(require_user)])
FEW_DIGITS = N_("Type a name, or at least 3 digits of the number.")
BAD_CURSOR = N_("That page link is out of date. Start again from the first page.")
NO_PATIENT = N_("There is no such patient.")
NOTICES = {"erased": N_("The patient was erased.")}


async def _page(
    request: Request, *, query: str, cursor: str | None, status: int = 200, **extra: Any
) -> Response:
    search = state_of(request).app.store.patient_search
    context: dict[str, Any] = {
        "query": query,
        "cursor": cursor,
        "items": [],
        "next_cursor": None,
        "revealed": None,
        "error": None,
        "notice": NOTICES.get(request.query_params.get("done", "")),
        **extra,
    }
    try:
        page = await search.search(query=query, cursor=cursor, limit=PAGE_SIZE)
    except CursorError:
        status, context["error"], context["cursor"] = 400, BAD_CURSOR, None
        page = await search.search(query=query, limit=PAGE_SIZE)
    except ValueError:  # fewer than 3 digits (the length is checked by the form's field)
        page = None
        status, context["error"] = 400, FEW_DIGITS
    if page is not None:
        context.update(items=page.items, next_cursor=page.next_cursor)
    return await render(
        request, "patients.html", context, status_code=status, active=nav.PATIENTS.key
    )


@router.get("/patients")
async def patients(
    request: Request,
    q: str = Query("", max_length=MAX_QUERY),
    cursor: str = Query("", pattern=CURSOR),
) -> Response:
    """Patients whose name or number matches ``?q=`` (every patient by name when empty)."""
    return await _page(request, query=q, cursor=cursor or None)


@router.post("/patients/{patient_id}/reveal")
async def reveal(
    request: Request,
    patient_id: int = Path(ge=1),
    q: str = Form("", max_length=MAX_QUERY),
    cursor: str = Form("", pattern=CURSOR),
    back: str = Form("", pattern="^(patient)?$"),
    session: WebSession = Depends(require_user),  # noqa: B008
) -> Response:
    """The same results with this one patient's full number shown (audited before it is).

    With ``back=patient`` (the form on a patient's page), the answer is that page.
    """
    store = state_of(request).app.store
    number = await store.patient_search.reveal(patient_id=patient_id)
    if number is None:
        return await _page(request, query=q, cursor=cursor or None, status=404, error=NO_PATIENT)
    await store.audit.record(
        actor=f"web:{session.user.name}",
        action="patient.reveal_number",
        subject=f"patient:{patient_id}",
    )
    if back == "patient":
        return await show_patient(request, session, patient_id, revealed=number)
    return await _page(request, query=q, cursor=cursor or None, revealed=number)


PAGE = Page(router=router, nav=nav.PATIENTS)
