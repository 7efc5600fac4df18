"""The signed-in user's own page: name, role and language (the start page without others)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from dashboard.nav import Page
from dashboard.sessions import require_user
from dashboard.templating import render

router = APIRouter(dependencies=[Depends(require_user)])


@router.get("/account")
async def account(request: Request) -> Response:
    """The signed-in user's name, role, language and one-time-code state."""
    return await render(request, "account.html")


PAGE = Page(router=router)
