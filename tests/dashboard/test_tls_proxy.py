"""Behind a TLS proxy: Secure cookies; and every sign-in ends at its absolute expiry."""

from __future__ import annotations

from typing import Any

import pytest

from tests.dashboard.conftest import PASSWORD, LiveDashboard

pytestmark = pytest.mark.browser


@pytest.fixture
def dashboard_settings() -> dict[str, Any]:
    return {"behind_tls_proxy": True, "session_max_hours": 1}


def test_behind_a_tls_proxy_the_cookie_is_secure_and_sign_ins_end_in_time(
    live: LiveDashboard, page: Any
) -> None:
    live.add_user("Fatos", role="staff")
    page.goto("/login")
    page.fill("#name", "Fatos")
    page.fill("#password", PASSWORD)
    # Chromium keeps Secure cookies for http://127.0.0.1 (a potentially trustworthy origin).
    page.click("main button[type=submit]")
    cookie = next(c for c in page.context.cookies() if c["name"] == "elo_session")
    assert cookie["secure"] and cookie["httpOnly"]
    for _ in range(3):  # used every 25 minutes: never idle, but the hour runs out
        live.advance(minutes=25)
        page.goto("/account")
    assert page.url.startswith(f"{live.url}/login")
