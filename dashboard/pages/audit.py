"""The audit log (admins, read-only): newest first, a page at a time. No route edits it."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from dashboard import nav
from dashboard.nav import Page
from dashboard.sessions import require_admin, state_of
from dashboard.templating import render

PAGE_SIZE = 50
router = APIRouter(dependencies=[Depends(require_admin)])


@router.get("/audit")
async def audit_log(request: Request, before: int | None = Query(None, ge=1)) -> Response:
    """One page of the audit trail, newest first (``?before=ID`` for older ones)."""
    trail = state_of(request).app.store.audit
    entries = await trail.page(limit=PAGE_SIZE + 1, before_id=before)
    older = entries[PAGE_SIZE - 1].id if len(entries) > PAGE_SIZE else None
    context = {"entries": entries[:PAGE_SIZE], "older": older, "first_page": before is None}
    return await render(request, "audit.html", context, active=nav.AUDIT.key)


PAGE = Page(router=router, nav=nav.AUDIT)
