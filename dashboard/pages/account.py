"""The signed-in user's own page: who they are, their role and language (the fallback start page)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from dashboard.nav import Page
from dashboard.sessions import require_user
from dashboard.templating import render

router = APIRouter(dependencies=[Depends(require_user)])


@router.get("/account")
async def account(request: Request) -> Response:
    return await render(request, "account.html")


PAGE = Page(router=router)
