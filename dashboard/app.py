"""The dashboard as one ASGI app that ``elo serve`` mounts: :func:`create_dashboard`.

It answers every path the service's own routes (``/healthz``, ``/readyz``, ``/metrics``,
``/livekit/webhook``) do not: ``/`` (to the user's start page), ``/login``, ``/static/...`` and the
pages of :data:`dashboard.pages.PAGES`. Its responses carry the security headers (a
Content-Security-Policy allowing only this site's own scripts and styles, no framing, no
referrer to other sites) and are never cached, except the static files.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.application import Application
from app.live import CampaignProgress, LiveCalls
from dashboard.i18n import N_
from dashboard.nav import Page
from dashboard.sessions import (
    CsrfRefused,
    DashboardState,
    Forbidden,
    LoginRequired,
    check_csrf,
    current_session,
    login_url,
    state_of,
)
from dashboard.templating import navigation, render

STATIC = Path(__file__).resolve().parent / "static"
# Where a signed-in user with no page of their own lands.
ACCOUNT_PAGE = "/account"
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
        " connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none';"
        " object-src 'none'"
    ),
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cross-origin-opener-policy": "same-origin",
}


def create_dashboard(
    app: Application,
    *,
    live: LiveCalls | None = None,
    progress: CampaignProgress | None = None,
    pages: Sequence[Page] | None = None,
) -> FastAPI:
    """The dashboard's ASGI app, to mount at ``/`` after the service's own routes.

    Args:
        app: The open application.
        live: The calls in progress, kept as ``state_of(request).live``; None when there is
            nothing live (tests, no service).
        progress: The campaigns' live progress, kept as ``state_of(request).progress``.
        pages: The pages to serve; :data:`dashboard.pages.PAGES` when None.
    """
    if pages is None:
        from dashboard.pages import PAGES

        pages = PAGES
    web = FastAPI(
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        dependencies=[Depends(check_csrf)],
    )
    web.state.dashboard = DashboardState(app=app, live=live, progress=progress)
    web.state.nav = [page.nav for page in pages if page.nav is not None]
    web.mount("/static", StaticFiles(directory=STATIC), name="static")
    for page in pages:
        web.include_router(page.router)

    @web.get("/")
    async def start(request: Request) -> Response:
        session = await current_session(request)
        if session is None or session.totp_pending:
            return RedirectResponse("/login", status_code=303)
        entries = navigation(request, session.user.role)
        return RedirectResponse(entries[0].path if entries else ACCOUNT_PAGE, status_code=303)

    _add_error_pages(web)
    web.middleware("http")(_body_limit)
    web.middleware("http")(_security_headers)
    return web


async def _security_headers(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    response = await call_next(request)
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if request.url.path.startswith("/static/"):
        response.headers["cache-control"] = "public, max-age=3600"
    else:
        # Pages show patient data: no browser or proxy may keep a copy.
        response.headers["cache-control"] = "no-store"
    return response


async def _body_limit(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    """Refuse a request body over ``ELO_DASHBOARD__MAX_UPLOAD_KIB`` before anything reads it."""
    length = request.headers.get("content-length", "")
    limit_kib = state_of(request).settings.max_upload_kib
    if length and (not length.isdigit() or int(length) > limit_kib * 1024):
        response = await _error(
            request,
            413,
            N_("The file is too large"),
            N_("The dashboard accepts at most %(size)s KiB at once; nothing was saved."),
            message_args={"size": limit_kib},
        )
        # The rest of the body is not read: the connection is not kept for another request.
        response.headers["connection"] = "close"
        return response
    return await call_next(request)


def _add_error_pages(web: FastAPI) -> None:
    @web.exception_handler(LoginRequired)
    async def to_login(request: Request, exc: LoginRequired) -> Response:
        return RedirectResponse(login_url(exc.next_path), status_code=303)

    @web.exception_handler(Forbidden)
    async def forbidden(request: Request, exc: Forbidden) -> Response:
        return await _error(
            request, 403, N_("Not allowed"), N_("Only an admin may open this page.")
        )

    @web.exception_handler(CsrfRefused)
    async def csrf(request: Request, exc: CsrfRefused) -> Response:
        return await _error(
            request,
            403,
            N_("The form was refused"),
            N_(
                "The form did not carry this dashboard's security token (it may be old, or it"
                " came from another site). Go back, reload the page and try again."
            ),
        )

    @web.exception_handler(RequestValidationError)
    async def bad_form(request: Request, exc: RequestValidationError) -> Response:
        return await _error(
            request, 400, N_("The form was refused"), N_("A field of the form is missing or wrong.")
        )

    @web.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            return await _error(request, 404, N_("Page not found"), N_("There is no such page."))
        if exc.status_code == 405:
            return await _error(
                request, 405, N_("Not allowed"), N_("This page cannot be used that way.")
            )
        return await _error(request, exc.status_code, N_("Error"), N_("Something went wrong."))


async def _error(
    request: Request,
    status: int,
    title: str,
    message: str,
    *,
    message_args: dict[str, object] | None = None,
) -> Response:
    context = {"title": title, "message": message, "message_args": message_args or {}}
    return await render(request, "error.html", context, status_code=status)
