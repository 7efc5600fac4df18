"""A patient's page (staff and admins), and for admins their export and erasure.

``/patients/{id}``: the name, the number masked (revealed by the Patients page's audited POST,
which answers with this page when asked from it), language, do-not-call status, upcoming and
past appointments, recent calls and open follow-ups (``store.patient_record``). Each view is in
the audit trail (``patient.view``, subject ``patient:ID``), as a transcript's is.

Admins also export the patient's data, the JSON ``elo privacy export`` prints (one mechanism:
``store.privacy.export_person``, which writes ``privacy.export``), and erase the patient after
a confirmation page (``store.privacy.erase_person``, which writes ``privacy.erase``). Both
audits carry the number's keyed hash and counts, never the personal data.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Path, Request
from fastapi.responses import RedirectResponse, Response

from dashboard import nav
from dashboard.calendar_forms import STATUSES
from dashboard.call_labels import DIRECTIONS, outcome_label
from dashboard.i18n import N_
from dashboard.message_labels import LABELS as MESSAGE_LABELS
from dashboard.nav import Page
from dashboard.pages.do_not_call import SOURCES
from dashboard.sessions import require_admin, require_user, state_of
from dashboard.templating import render
from storage.dashboard_models import RevealedNumber
from storage.errors import PrivacyError
from storage.users import WebSession

LIST_SIZE = 20
router = APIRouter(dependencies=[Depends(require_user)])
NOT_NOW = N_("The patient cannot be erased right now.")
# What ``erase_person`` counts, by its keys.
RECORDS = {
    "patient": N_("Patient"),
    "appointments": N_("Appointments"),
    "follow_ups": N_("Follow-ups"),
    "calls": N_("Calls"),
    "campaign_contacts": N_("Campaign contacts"),
    "call_attempts": N_("Campaign call attempts"),
    "do_not_call": N_("Do-not-call"),
    "messages": N_("Messages"),
    "message_opt_outs": N_("Message opt-outs"),
}


def _actor(session: WebSession) -> str:
    return f"web:{session.user.name}"


async def show_patient(
    request: Request,
    session: WebSession,
    patient_id: int,
    *,
    revealed: RevealedNumber | None = None,
) -> Response:
    """The patient's page (404 when there is none), after its view is audited.

    Args:
        request: The request.
        session: The signed-in user's session (the audit's actor).
        patient_id: The patient.
        revealed: Their full number, when the audited reveal asked for this page.
    """
    app = state_of(request).app
    record = await app.store.patient_record.get(patient_id=patient_id, limit=LIST_SIZE)
    if record is None:
        raise HTTPException(status_code=404)
    await app.store.audit.record(
        actor=_actor(session), action="patient.view", subject=f"patient:{patient_id}"
    )
    context = {
        "patient": record,
        "revealed": revealed,
        "services": app.clinic.services_by_id,
        "statuses": STATUSES,
        "directions": DIRECTIONS,
        "outcome_label": outcome_label,
        "sources": SOURCES,
        "patient_messages": await app.store.message_board.of_patient(patient_id=patient_id),
        "opt_outs": {
            o.channel: o for o in await app.store.message_board.opt_outs(patient_id=patient_id)
        },
        **MESSAGE_LABELS,
    }
    return await render(request, "patient.html", context, active=nav.PATIENTS.key)


@router.get("/patients/{patient_id:int}")
async def patient_page(
    request: Request,
    patient_id: int = Path(ge=1),
    session: WebSession = Depends(require_user),  # noqa: B008
) -> Response:
    """One patient: who, masked number, do-not-call, appointments, calls, follow-ups."""
    return await show_patient(request, session, patient_id)


async def _number(request: Request, patient_id: int) -> str:
    found = await state_of(request).app.store.patient_search.reveal(patient_id=patient_id)
    if found is None:
        raise HTTPException(status_code=404)
    return found.phone


@router.post("/patients/{patient_id:int}/export")
async def export_patient(
    request: Request,
    patient_id: int = Path(ge=1),
    session: WebSession = Depends(require_admin),  # noqa: B008
) -> Response:
    """Everything stored about the patient, as a JSON download (audited as an export)."""
    phone = await _number(request, patient_id)
    export = await state_of(request).app.store.privacy.export_person(
        phone=phone, actor=_actor(session)
    )
    body = json.dumps(export, ensure_ascii=False, indent=2, default=str)
    return Response(
        body,
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="patient-{patient_id}.json"'},
    )


@router.get("/patients/{patient_id:int}/erase")
async def confirm_erasure(
    request: Request,
    patient_id: int = Path(ge=1),
    session: WebSession = Depends(require_admin),  # noqa: B008
) -> Response:
    """The confirmation step: what erasing would remove (counts only), and the button."""
    return await _confirmation(request, patient_id)


async def _confirmation(
    request: Request, patient_id: int, *, status_code: int = 200, **extra: Any
) -> Response:
    store = state_of(request).app.store
    record = await store.patient_record.get(patient_id=patient_id, limit=1)
    if record is None:
        raise HTTPException(status_code=404)
    phone = await _number(request, patient_id)
    counts = await store.privacy.erase_person(phone=phone, actor="-", dry_run=True)
    context = {
        "patient": record,
        "counts": counts,
        "records": RECORDS,
        "error": None,
        "error_detail": None,
        **extra,
    }
    return await render(
        request,
        "patient_erase.html",
        context,
        status_code=status_code,
        active=nav.PATIENTS.key,
    )


@router.post("/patients/{patient_id:int}/erase")
async def erase_patient(
    request: Request,
    patient_id: int = Path(ge=1),
    session: WebSession = Depends(require_admin),  # noqa: B008
) -> Response:
    """Erase the patient (``elo privacy erase``'s erasure, audited); the Patients page says so."""
    phone = await _number(request, patient_id)
    try:
        await state_of(request).app.store.privacy.erase_person(phone=phone, actor=_actor(session))
    except PrivacyError as exc:  # in a call right now, or the hash key is missing
        return await _confirmation(
            request, patient_id, status_code=409, error=NOT_NOW, error_detail=str(exc)
        )
    return RedirectResponse("/patients?done=erased", status_code=303)


PAGE = Page(router=router)
