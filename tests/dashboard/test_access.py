"""Every route of the dashboard checks who asks, also by direct URL, and every form its CSRF token.

The routes are read from the running app, so a page added later is covered without touching
this file: it must depend on ``require_user`` or ``require_admin`` unless it is listed in
:data:`PUBLIC`, anonymous visitors are sent to sign in, staff get 403 on admin routes.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi import FastAPI
from starlette.routing import Mount

from dashboard.nav import api_routes
from dashboard.sessions import require_admin, require_user
from tests.dashboard.conftest import LiveDashboard, csrf_of, sign_in

pytestmark = pytest.mark.browser
PUBLIC = {
    ("GET", "/"),  # redirects to the start page or to sign in
    ("GET", "/login"),
    ("POST", "/login"),
    ("GET", "/login/totp"),  # needs a session that passed the password
    ("POST", "/login/totp"),
}


def _calls(dependant: Any) -> set[Any]:
    found = set()
    for sub in dependant.dependencies:
        found.add(sub.call)
        found |= _calls(sub)
    return found


def dashboard_routes(live: LiveDashboard) -> list[tuple[str, str, str]]:
    """(method, path, audience) of every route of the mounted dashboard."""
    http = live.run(_http_app(live))
    mount = next(r for r in http.routes if isinstance(r, Mount) and isinstance(r.app, FastAPI))
    routes = []
    for route in api_routes(mount.app.routes):
        calls = _calls(route.dependant)
        audience = (
            "admin" if require_admin in calls else "staff" if require_user in calls else "public"
        )
        routes.extend((method, route.path, audience) for method in sorted(route.methods))
    return routes


async def _http_app(live: LiveDashboard) -> Any:
    from service.http import create_http_app

    # The same factory the running service was made with, over the same application.
    return create_http_app(live.app)


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


def open_page(page: Any, url: str) -> Any:
    """``page.goto(url)``; a live stream (server-sent events) never finishes loading, so a
    response that is one counts as opened once its headers arrive."""
    answer = page.goto(url, wait_until="commit")
    if not answer.headers.get("content-type", "").startswith("text/event-stream"):
        page.wait_for_load_state()
    return answer


def test_every_route_checks_the_role(live: LiveDashboard, page: Any, browser: Any) -> None:
    routes = dashboard_routes(live)
    assert {("GET", "/users", "admin"), ("GET", "/audit", "admin")} <= set(routes)
    public = {(method, path) for method, path, audience in routes if audience == "public"}
    assert public == PUBLIC, "a route without require_user/require_admin"
    live.add_user("Admin", role="admin")
    live.add_user("Staff", role="staff")

    # Anonymous: sent to sign in (GET), refused (POST: no token, or a visitor's token only).
    page.goto("/login")
    visitor_token = csrf_of(page)
    for method, path, audience in routes:
        if audience == "public":
            continue
        url = concrete(path)
        if method == "GET":
            open_page(page, url)
            assert page.url.startswith(f"{live.url}/login"), (method, path)
        else:
            answer = page.request.fetch(url, method=method, max_redirects=0)
            assert answer.status == 403, (method, path)
            answer = page.request.fetch(
                url, method=method, form={"csrf_token": visitor_token}, max_redirects=0
            )
            assert answer.status == 303, (method, path)
            assert answer.headers["location"].startswith("/login"), (method, path)

    # Staff: 403 on every admin route, by direct URL and by a POST with their own token.
    sign_in(page, "Staff")
    token = csrf_of(page)
    for method, path, audience in routes:
        url = concrete(path)
        if method == "GET":
            answer = open_page(page, url)
            if audience == "admin":
                assert answer.status == 403, (method, path)
                assert "Only an admin may open this page." in page.inner_text("main")
            elif audience == "staff":
                assert answer.status != 403 and "/login" not in page.url, (method, path)
        elif audience == "admin":
            answer = page.request.fetch(url, method=method, form={"csrf_token": token})
            assert answer.status == 403, (method, path)

    # Admin: every GET page opens.
    sign_in(page, "Admin")
    for method, path, _ in routes:
        if method == "GET" and "{" not in path:
            answer = open_page(page, path)
            assert answer.status == 200 and "/login" not in page.url, path


def test_a_post_without_its_csrf_token_is_refused(live: LiveDashboard, page: Any) -> None:
    live.add_user("Admin", role="admin")
    sign_in(page, "Admin")
    page.goto("/users")
    before = live.run(live.app.store.users.list())
    # The real form, its hidden token taken out: the browser submits it without one.
    page.fill("#new-name", "Gent")
    page.select_option("#new-role", "staff")
    page.fill("#new-password", "another long password")
    page.fill("#new-password-again", "another long password")
    page.evaluate("document.querySelector('form.grid input[name=csrf_token]').remove()")
    page.click("form.grid button[type=submit]")
    assert "The form was refused" in page.inner_text("main")
    assert live.run(live.app.store.users.list()) == before

    # A wrong token, and sign-out without one, are refused too.
    answer = page.request.post("/users/1/disable", form={"csrf_token": "x" * 43})
    assert answer.status == 403
    answer = page.request.post("/logout", max_redirects=0)
    assert answer.status == 403
    page.goto("/users")
    assert page.url == f"{live.url}/users"  # still signed in
    assert live.run(live.app.store.users.list()) == before


def test_dashboard_responses_carry_the_security_headers(live: LiveDashboard, page: Any) -> None:
    live.add_user("Admin", role="admin")
    sign_in(page, "Admin")
    for path in ("/login", "/users", "/audit", "/no-such-page"):
        headers = page.request.get(path).headers
        csp = headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "same-origin"
        assert headers["cache-control"] == "no-store"
    assert page.request.get("/healthz").json() == {"status": "ok"}  # the service's own routes
