"""The Calendar page: a day or a week per chair, and staff's four changes to appointments.

``/calendar?day=YYYY-MM-DD&view=day|week`` shows the clinic's local days (Europe/Tirane). Staff
book (``/calendar/book``), move, cancel and mark appointments through
:class:`scheduling.staff_calendar.StaffCalendar`, which checks the clinic's rules and audits each
change with the actor ``web:NAME``; the database decides races. A booking or move that lost its
time shows "That time was just taken" and the nearest free times as one-click buttons.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any, Literal

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from dashboard import nav
from dashboard.calendar_forms import (
    BAD_OUTCOME,
    CODES,
    STATUSES,
    TAKEN,
    BookingForm,
    FormProblem,
    chair_of,
    code_message,
    desk_of,
    error_args,
    items_of,
    parse_day,
    start_of,
    weekday_label,
)
from dashboard.nav import Page
from dashboard.sessions import require_user, state_of
from dashboard.templating import render, request_language
from scheduling.staff_calendar import SlotUnavailable
from storage.calendar_models import CalendarEntry, CalendarError
from storage.users import WebSession

router = APIRouter(dependencies=[Depends(require_user)])


def _actor(session: WebSession) -> str:
    return f"web:{session.user.name}"


def _base(request: Request) -> dict[str, Any]:
    app = state_of(request).app
    return {
        "clinic": app.clinic,
        "services": app.clinic.services_by_id,
        "statuses": STATUSES,
        "error_args": error_args(app),
    }


@router.get("/calendar")
async def calendar_page(request: Request) -> Response:
    """One day (per chair: appointments and free times) or its Monday-to-Sunday week."""
    app = state_of(request).app
    desk = desk_of(app)
    now = desk.now()
    day = parse_day(request.query_params.get("day"), now.date())
    view = "week" if request.query_params.get("view") == "week" else "day"
    step = timedelta(days=7 if view == "week" else 1)
    context = _base(request) | {
        "view": view,
        "day": day,
        "today": now.date(),
        "now": now,
        "prev_day": day - step,
        "next_day": day + step,
        "done": request.query_params.get("done"),
    }
    if view == "week":
        context["week"] = await desk.week(day=day, include_cancelled=True)
        language = await request_language(request)
        context["items_of"] = items_of
        context["labels"] = {d.day: weekday_label(d.day, language) for d in context["week"].days}
    else:
        context["day_view"] = await desk.day(day=day, include_cancelled=True)
    return await render(request, "calendar.html", context, active=nav.CALENDAR.key)


async def _book_page(
    request: Request,
    form: BookingForm,
    *,
    error: str | None = None,
    lost: SlotUnavailable | None = None,
) -> Response:
    context = _base(request) | {"form": form, "error": error, "lost": lost}
    status = 200 if error is None and lost is None else 409 if lost is not None else 400
    return await render(
        request, "calendar_book.html", context, status_code=status, active=nav.CALENDAR.key
    )


@router.get("/calendar/book")
async def book_form(request: Request) -> Response:
    """The booking form; a free time's link fills in its day, time and chair."""
    params = request.query_params
    form = BookingForm(
        service=params.get("service", ""),
        day=params.get("day", ""),
        time=params.get("time", ""),
        chair=params.get("chair", ""),
    )
    return await _book_page(request, form)


@router.post("/calendar/book")
async def book(
    request: Request,
    phone: str = Form(""),
    name: str = Form(""),
    service: str = Form(""),
    day: str = Form(""),
    time: str = Form(""),
    chair: str = Form(""),
    session: WebSession = Depends(require_user),  # noqa: B008
) -> Response:
    """Book; on a problem the form comes back with what was typed (nothing written)."""
    form = BookingForm(phone=phone, name=name, service=service, day=day, time=time, chair=chair)
    app = state_of(request).app
    try:
        starts_at, chair_no = form.check(app)
        outcome = await desk_of(app).book(
            phone=phone,
            name=name,
            service_id=service,
            starts_at=starts_at,
            actor=_actor(session),
            chair=chair_no,
        )
    except FormProblem as exc:
        return await _book_page(request, form, error=str(exc))
    except CalendarError as exc:
        return await _book_page(request, form, error=code_message(exc))
    if isinstance(outcome, SlotUnavailable):
        return await _book_page(request, form, error=TAKEN, lost=outcome)
    booked = outcome.appointment
    local = booked.starts_at.astimezone(app.clinic.tz)
    return RedirectResponse(
        f"/calendar?day={local.date().isoformat()}&done=booked#appointment-{booked.id}",
        status_code=303,
    )


async def _entry(request: Request, appointment_id: int) -> CalendarEntry | None:
    """The appointment as the calendar shows it (its day read with cancelled ones)."""
    app = state_of(request).app
    try:
        current = await app.store.calendar.get(appointment_id=appointment_id)
    except CalendarError:
        return None
    day: date = current.starts_at.astimezone(app.clinic.tz).date()
    view = await desk_of(app).day(day=day, include_cancelled=True)
    found = [e for chair in view.chairs for e in chair.appointments if e.id == appointment_id]
    return found[0] if found else None


async def _appointment_page(
    request: Request,
    appointment_id: int,
    *,
    error: str | None = None,
    lost: SlotUnavailable | None = None,
    typed: dict[str, str] | None = None,
) -> Response:
    entry = await _entry(request, appointment_id)
    if entry is None:
        context = _base(request) | {"entry": None, "error": CODES["not_found"]}
        return await render(
            request, "calendar_appointment.html", context, status_code=404,
            active=nav.CALENDAR.key,
        )  # fmt: skip
    now = desk_of(state_of(request).app).now()
    context = _base(request) | {
        "entry": entry,
        "error": error,
        "lost": lost,
        "typed": typed or {},
        "started": entry.starts_at <= now,
        "changeable": entry.status in ("scheduled", "confirmed"),
    }
    status = 200 if error is None else 409 if lost is not None else 400
    return await render(
        request, "calendar_appointment.html", context, status_code=status, active=nav.CALENDAR.key
    )


@router.get("/calendar/{appointment_id}")
async def appointment_page(request: Request, appointment_id: int) -> Response:
    """One appointment with its move, cancel and mark forms."""
    return await _appointment_page(request, appointment_id)


def _back(entry_day: date, appointment_id: int, done: str) -> RedirectResponse:
    return RedirectResponse(
        f"/calendar?day={entry_day.isoformat()}&done={done}#appointment-{appointment_id}",
        status_code=303,
    )


@router.post("/calendar/{appointment_id}/move")
async def move(
    request: Request,
    appointment_id: int,
    day: str = Form(""),
    time: str = Form(""),
    chair: str = Form(""),
    session: WebSession = Depends(require_user),  # noqa: B008
) -> Response:
    """Move to a new start (and chair); a lost race offers the nearest free times."""
    app = state_of(request).app
    typed = {"day": day, "time": time, "chair": chair}
    try:
        outcome = await desk_of(app).move(
            appointment_id=appointment_id,
            starts_at=start_of(app, day, time),
            chair=chair_of(chair),
            actor=_actor(session),
        )
    except FormProblem as exc:
        return await _appointment_page(request, appointment_id, error=str(exc), typed=typed)
    except CalendarError as exc:
        message = code_message(exc)
        return await _appointment_page(request, appointment_id, error=message, typed=typed)
    if isinstance(outcome, SlotUnavailable):
        return await _appointment_page(
            request, appointment_id, error=TAKEN, lost=outcome, typed=typed
        )
    local = outcome.starts_at.astimezone(app.clinic.tz)
    return _back(local.date(), appointment_id, "moved")


@router.post("/calendar/{appointment_id}/cancel")
async def cancel(
    request: Request,
    appointment_id: int,
    reason: str = Form(""),
    session: WebSession = Depends(require_user),  # noqa: B008
) -> Response:
    """Cancel with a reason (kept on the appointment, not in the audit trail)."""
    app = state_of(request).app
    try:
        done = await desk_of(app).cancel(
            appointment_id=appointment_id, reason=reason, actor=_actor(session)
        )
    except CalendarError as exc:
        typed = {"reason": reason}
        message = code_message(exc)
        return await _appointment_page(request, appointment_id, error=message, typed=typed)
    return _back(done.starts_at.astimezone(app.clinic.tz).date(), appointment_id, "cancelled")


@router.post("/calendar/{appointment_id}/mark")
async def mark(
    request: Request,
    appointment_id: int,
    outcome: str = Form(""),
    session: WebSession = Depends(require_user),  # noqa: B008
) -> Response:
    """Mark a started appointment as attended or no-show."""
    app = state_of(request).app
    chosen: Literal["attended", "no_show"] = "no_show" if outcome == "no_show" else "attended"
    if outcome not in ("attended", "no_show"):
        return await _appointment_page(request, appointment_id, error=BAD_OUTCOME)
    try:
        done = await desk_of(app).mark(
            appointment_id=appointment_id, outcome=chosen, actor=_actor(session)
        )
    except CalendarError as exc:
        return await _appointment_page(request, appointment_id, error=code_message(exc))
    return _back(done.starts_at.astimezone(app.clinic.tz).date(), appointment_id, "marked")


PAGE = Page(router=router, nav=nav.CALENDAR)
