"""The Follow-ups page (staff and admins): the callbacks staff owe, oldest due first, mark done.

Marking one done is a compare-and-set in storage: when someone else closed it meanwhile, the
page says so (who and when) instead of failing. Each follow-up marked done here is in the audit
trail (``follow_up.done``, subject ``follow_up:ID``, actor ``web:NAME``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import RedirectResponse, Response

from dashboard import nav
from dashboard.i18n import N_, format_when
from dashboard.nav import Page
from dashboard.sessions import require_user, state_of
from dashboard.templating import render, request_language
from storage.errors import CursorError
from storage.users import WebSession

PAGE_SIZE = 50
CURSOR = r"^[A-Za-z0-9_-]{1,400}$"
router = APIRouter(dependencies=[Depends(require_user)])
DONE = N_("The follow-up was marked done.")
ALREADY_DONE = N_("%(who)s already marked this follow-up done (%(when)s). Nothing was changed.")
ALREADY_CANCELLED = N_("This follow-up was cancelled meanwhile. Nothing was changed.")
NO_FOLLOW_UP = N_("There is no such follow-up.")
BAD_CURSOR = N_("That page link is out of date. Start again from the first page.")
KINDS = {
    "callback": N_("Callback asked for"),
    "transfer_failed": N_("Transfer failed"),
    "staff": N_("Added by staff"),
}


async def _page(
    request: Request, *, cursor: str | None, status: int = 200, **extra: Any
) -> Response:
    app = state_of(request).app
    try:
        page = await app.store.follow_up_queue.page(cursor=cursor, limit=PAGE_SIZE)
    except CursorError:
        page = await app.store.follow_up_queue.page(limit=PAGE_SIZE)
        cursor, status, extra = None, 400, {**extra, "error": BAD_CURSOR}
    context = {
        "items": page.items,
        "next_cursor": page.next_cursor,
        "cursor": cursor,
        "kinds": KINDS,
        "now": app.clock(),
        "notice": DONE if request.query_params.get("done") == "1" else None,
        "error": None,
        "error_args": {},
        **extra,
    }
    return await render(
        request, "follow_ups.html", context, status_code=status, active=nav.FOLLOW_UPS.key
    )


@router.get("/follow-ups")
async def follow_ups(
    request: Request, cursor: str | None = Query(None, pattern=CURSOR)
) -> Response:
    """One page of the pending follow-ups, oldest due first (``?cursor=`` for the next)."""
    return await _page(request, cursor=cursor)


def _who(done_by: str | None) -> str:
    """Who closed a follow-up, as staff know them (``web:Ana`` is Ana)."""
    return (done_by or "?").removeprefix("web:")


@router.post("/follow-ups/{follow_up_id}/done")
async def mark_done(
    request: Request,
    follow_up_id: int = Path(ge=1),
    cursor: str = Form("", pattern=r"^[A-Za-z0-9_-]{0,400}$"),
    session: WebSession = Depends(require_user),  # noqa: B008
) -> Response:
    """Mark a pending follow-up done; if it was closed meanwhile, say by whom."""
    app = state_of(request).app
    actor = f"web:{session.user.name}"
    result = await app.store.follow_up_queue.mark_done(follow_up_id=follow_up_id, by=actor)
    back = cursor or None
    if result is None:
        return await _page(request, cursor=back, status=404, error=NO_FOLLOW_UP)
    if not result.changed:
        if result.status == "cancelled":
            return await _page(request, cursor=back, status=409, error=ALREADY_CANCELLED)
        language = await request_language(request)
        when = format_when(result.done_at, language) if result.done_at else "?"
        args = {"who": _who(result.done_by), "when": when}
        return await _page(request, cursor=back, status=409, error=ALREADY_DONE, error_args=args)
    await app.store.audit.record(
        actor=actor, action="follow_up.done", subject=f"follow_up:{follow_up_id}"
    )
    target = "/follow-ups?done=1" + (f"&cursor={cursor}" if cursor else "")
    return RedirectResponse(target, status_code=303)


PAGE = Page(router=router, nav=nav.FOLLOW_UPS)
