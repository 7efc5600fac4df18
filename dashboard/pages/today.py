"""Today: the day's figures, a 30-day chart, and the calls in progress, live, with "end this call".

Everyone signed in sees calls, answered, bookings, conversion and no-shows; only admins see the
revenue booked and the attendance of the last 30 days (confirmations, no-shows by reminder
path, revenue kept: ``store.attendance``; the issue: admins see revenue and statistics). The calls
in progress come from ``state_of(request).live`` (``app.live.LiveCalls``) and update through
``/today/live`` (server-sent events of the ``today_live.html`` fragment, :mod:`dashboard.live`);
numbers are masked there.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from app.live import ActiveCall, LiveCalls
from dashboard import nav
from dashboard.call_labels import DIRECTIONS
from dashboard.chart import bar_chart
from dashboard.i18n import format_day
from dashboard.live import live_fragments
from dashboard.nav import Page
from dashboard.sessions import require_user, state_of
from dashboard.templating import render
from storage.users import WebSession

CHART_DAYS = 30
router = APIRouter(dependencies=[Depends(require_user)])


async def _campaign_names(request: Request) -> dict[int, str]:
    """Campaign names by id, so a call in progress shows its campaign's name."""
    return {c.id: c.name for c in await state_of(request).app.store.campaigns.list()}


def _live_values(calls: list[ActiveCall], names: Mapping[int, str]) -> dict[str, Any]:
    return {"calls": calls, "campaign_names": names, "directions": DIRECTIONS}


@router.get("/today")
async def today(request: Request, session: WebSession = Depends(require_user)) -> Response:  # noqa: B008
    """The day's figures, the chart of the last 30 days and the calls in progress."""
    store = state_of(request).app.store
    day = store.figures.today()
    series = await store.figures.series(last_day=day, days=CHART_DAYS)
    figures = series[-1]
    live = state_of(request).live
    language = session.user.language
    chart = bar_chart([(format_day(f.day, language), f.calls) for f in series])
    context: dict[str, Any] = {
        "figures": figures,
        "series": series,
        "chart": chart,
        "show_revenue": session.user.is_admin,
        "live_enabled": live is not None,
        "ended": request.query_params.get("ended"),
    }
    if session.user.is_admin:
        # Issue 13's attendance figures: statistics, so for admins only (like revenue).
        context["attendance"] = await store.attendance.figures(
            first_day=day - timedelta(days=CHART_DAYS - 1), last_day=day
        )
    if live is not None:
        context.update(_live_values(live.snapshot(), await _campaign_names(request)))
    return await render(request, "today.html", context, active=nav.TODAY.key)


async def _call_lists(live: LiveCalls) -> AsyncIterator[list[ActiveCall]]:
    """The calls in progress after each change (events folded into the whole list)."""
    calls: dict[str, ActiveCall] = {}
    updates = live.subscribe()
    try:
        async for event in updates:
            if event.kind == "snapshot":
                calls = {call.call_id: call for call in event.calls}
            elif event.call is not None and event.kind == "ended":
                calls.pop(event.call.call_id, None)
            elif event.call is not None:
                calls[event.call.call_id] = event.call
            yield sorted(calls.values(), key=lambda c: (c.started_at, c.call_id))
    finally:
        await updates.aclose()  # type: ignore[attr-defined]


@router.get("/today/live")
async def today_live(request: Request) -> Response:
    """The calls in progress as server-sent events (each the ``today_live.html`` fragment)."""
    live = state_of(request).live
    if live is None:
        raise HTTPException(status_code=404)
    names = await _campaign_names(request)
    return await live_fragments(
        request, _call_lists(live), "today_live.html", lambda calls: _live_values(calls, names)
    )


@router.post("/today/calls/{call_id}/end")
async def end_call(
    request: Request,
    call_id: str,
    session: WebSession = Depends(require_user),  # noqa: B008
) -> Response:
    """Hang up a call in progress (the live calls record it in the audit trail)."""
    live = state_of(request).live
    if live is None:
        raise HTTPException(status_code=404)
    ended = await live.end(call_id, by=f"web:{session.user.name}")
    return RedirectResponse(f"/today?ended={'yes' if ended else 'gone'}", status_code=303)


PAGE = Page(router=router, nav=nav.TODAY)
