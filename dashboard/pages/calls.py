"""Calls: the list (filters as a GET form, keyset pages, masked numbers) and a call's page.

A call's page shows its record, latencies, tool calls (arguments masked), the plain summary
(``storage.call_events.summary`` items worded by ``call_summary.html``) and the transcript.
Opening it is recorded in the audit trail (``call.view_transcript``, the call id as subject):
the transcript is personal data.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from babel.dates import format_time
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import Response

from dashboard import nav
from dashboard.call_labels import DIRECTIONS, OUTCOMES, SPEAKERS, outcome_label
from dashboard.i18n import N_, TIRANE, Language
from dashboard.nav import Page
from dashboard.paging import pager
from dashboard.sessions import require_user, state_of
from dashboard.templating import render
from storage.dashboard_models import CallDetail, SummaryItem
from storage.errors import CursorError
from storage.users import WebSession

PAGE_SIZE = 50
# Summary parameters that are local ISO times (shown in Europe/Tirane by the ``when`` filter).
_TIMES = ("start", "end", "call_back_at")
router = APIRouter(dependencies=[Depends(require_user)])


class BadFilter(ValueError):
    """A filter of the calls list is not a valid value (its msgid says which)."""


def _day(value: str | None, message: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise BadFilter(message) from None


def _filters(params: dict[str, str]) -> dict[str, Any]:
    """The store's filters from the form's fields (empty fields: no filter)."""
    first = _day(params.get("from"), N_("The first day is not a date."))
    last = _day(params.get("to"), N_("The last day is not a date."))
    one_day = _day(params.get("day"), N_("The day is not a date."))
    if one_day is not None:
        first = last = one_day
    if first is not None and last is not None and last < first:
        raise BadFilter(N_("The last day is before the first day."))
    outcome = params.get("outcome") or None
    if outcome is not None and outcome not in OUTCOMES:
        raise BadFilter(N_("Unknown outcome."))
    direction = params.get("direction") or None
    if direction is not None and direction not in DIRECTIONS:
        raise BadFilter(N_("Unknown direction."))
    campaign = params.get("campaign") or None
    if campaign is not None and not campaign.isdigit():
        raise BadFilter(N_("Unknown campaign."))
    return {
        "first_day": first,
        "last_day": last,
        "outcome": outcome,
        "direction": direction,
        "campaign_id": int(campaign) if campaign else None,
    }


@router.get("/calls")
async def calls(
    request: Request,
    session: WebSession = Depends(require_user),  # noqa: B008
    back: list[str] = Query(default=[]),  # noqa: B008
) -> Response:
    """One page of calls, newest first, with the filter form."""
    store = state_of(request).app.store
    names = ("day", "from", "to", "outcome", "campaign", "direction")
    form = {name: request.query_params.get(name, "").strip() for name in names}
    if form["day"]:  # a day is a range of one day; the form shows it as such
        form["from"] = form["to"] = form.pop("day")
    else:
        form.pop("day")
    cursor = request.query_params.get("cursor") or None
    campaigns = await store.campaigns.list()
    context: dict[str, Any] = {
        "form": form,
        "outcomes": OUTCOMES,
        "directions": DIRECTIONS,
        "outcome_label": outcome_label,
        "campaigns": campaigns,
        "campaign_names": {c.id: c.name for c in campaigns},
        "show_revenue": session.user.is_admin,
        "items": [],
        "error": None,
    }
    try:
        found = await store.call_log.page(**_filters(form), cursor=cursor, limit=PAGE_SIZE)
    except BadFilter as exc:
        context["error"] = str(exc)
        return await render(request, "calls.html", context, status_code=400, active=nav.CALLS.key)
    except CursorError:
        context["error"] = N_("That page link is not valid any more; here is the first page.")
        found = await store.call_log.page(**_filters(form), limit=PAGE_SIZE)
        cursor, back = None, []
    context["items"] = found.items
    context |= pager("/calls", form, cursor=cursor, next_cursor=found.next_cursor, back=back)
    return await render(request, "calls.html", context, active=nav.CALLS.key)


def _summary_view(item: SummaryItem, language: Language) -> dict[str, Any]:
    """A summary item ready for ``call_summary.html``.

    Its local ISO times become aware datetimes (for the ``when`` filter) and a booking's end
    is also given as a time of day (``end_time``).
    """
    params: dict[str, Any] = dict(item.params)
    for key in _TIMES:
        value = params.get(key)
        if isinstance(value, str):
            try:
                moment = datetime.fromisoformat(value)
            except ValueError:
                moment = None
            params[key] = moment if moment is not None and moment.tzinfo else None
    end = params.get("end")
    params["end_time"] = (
        format_time(end, "short", tzinfo=TIRANE, locale=language)
        if isinstance(end, datetime)
        else "?"
    )
    return {"kind": item.kind, "params": params}


def _duration(detail: CallDetail) -> tuple[int, int] | None:
    if detail.ended_at is None:
        return None
    seconds = max(0, int((detail.ended_at - detail.started_at).total_seconds()))
    return divmod(seconds, 60)


@router.get("/calls/{call_id}")
async def call_page(
    request: Request,
    call_id: str,
    session: WebSession = Depends(require_user),  # noqa: B008
) -> Response:
    """A call's record, summary, tool calls and transcript (the view is audited)."""
    store = state_of(request).app.store
    detail = await store.call_log.detail(call_id=call_id, with_name=True)
    if detail is None:
        raise HTTPException(status_code=404)
    await store.audit.record(
        actor=f"web:{session.user.name}", action="call.view_transcript", subject=call_id
    )
    context = {
        "call": detail,
        "summary": [_summary_view(item, session.user.language) for item in detail.summary],
        "duration": _duration(detail),
        "outcome_label": outcome_label,
        "directions": DIRECTIONS,
        "speakers": SPEAKERS,
        "show_revenue": session.user.is_admin,
    }
    return await render(request, "call.html", context, active=nav.CALLS.key)


PAGE = Page(router=router, nav=nav.CALLS)
