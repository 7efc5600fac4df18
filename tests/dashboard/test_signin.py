"""Signing in and out in Chromium: sessions, lock-out, one-time codes, cookies, expiry."""

from __future__ import annotations

from typing import Any

import pyotp
import pytest

from tests.dashboard.conftest import PASSWORD, LiveDashboard, new_page, sign_in, start_path

pytestmark = pytest.mark.browser
FAILED = "Wrong name or password, or too many failed attempts. Try again later."


def actions(live: LiveDashboard) -> list[str]:
    return [entry.action for entry in reversed(live.audit())]


def test_sign_in_and_out(live: LiveDashboard, page: Any) -> None:
    live.add_user("Arta", role="admin")
    page.goto("/users")
    assert page.url == f"{live.url}/login?next=/users"
    page.fill("#name", "Arta")
    page.fill("#password", PASSWORD)
    page.click("main button[type=submit]")
    assert page.url == f"{live.url}/users"
    assert page.locator(".who").inner_text() == "Arta"
    cookie = next(c for c in page.context.cookies() if c["name"] == "elo_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and not cookie["secure"]
    # The database keeps only the token's hash.
    stored = live.run(live.app.store.db.rows("SELECT token_hash FROM web_sessions"))
    assert [row["token_hash"] for row in stored] != [cookie["value"]] and len(stored) == 1

    page.click("text=Sign out")
    assert page.url == f"{live.url}/login"
    page.goto("/users")
    assert page.url.startswith(f"{live.url}/login")
    assert live.run(live.app.store.db.rows("SELECT * FROM web_sessions")) == []
    assert actions(live)[-2:] == ["dashboard.sign_in", "dashboard.sign_out"]
    assert {e.actor for e in live.audit()} == {"web:Arta"}


def test_next_only_leads_to_this_site(live: LiveDashboard, page: Any) -> None:
    live.add_user("Arta", role="admin")
    page.goto("/login?next=//evil.example/x")
    page.fill("#name", "Arta")
    page.fill("#password", PASSWORD)
    page.click("main button[type=submit]")
    assert page.url == f"{live.url}{start_path('admin')}"  # "/" then the first page


def test_lock_out_after_repeated_failures(live: LiveDashboard, page: Any) -> None:
    live.add_user("Besa", role="staff")
    sign_in(page, "Nobody", PASSWORD)
    unknown = page.locator(".error").inner_text()
    for _ in range(live.settings.dashboard.max_failed_logins):
        sign_in(page, "Besa", "wrong password!")
        assert page.locator(".error").inner_text() == unknown == FAILED
    sign_in(page, "Besa", PASSWORD)  # the right password, while locked out
    assert page.url.startswith(f"{live.url}/login")
    assert page.locator(".error").inner_text() == FAILED

    trail = live.audit()
    assert [e.action for e in trail].count("dashboard.lockout") == 1
    failures = [e for e in trail if e.action == "dashboard.sign_in_failed"]
    assert {e.detail["reason"] for e in failures} == {"unknown_user", "wrong_password", "locked"}
    text = repr([(e.actor, e.subject, e.detail) for e in trail])
    assert "Nobody" not in text and "wrong password!" not in text and PASSWORD not in text

    live.advance(minutes=live.settings.dashboard.lockout_minutes + 1)
    sign_in(page, "Besa", PASSWORD)
    assert page.url == f"{live.url}{start_path('staff')}"


def test_one_time_code_for_an_admin(live: LiveDashboard, page: Any, browser: Any) -> None:
    secret = live.add_user("Dora", role="admin", totp=True)
    assert secret is not None
    sign_in(page, "Dora")
    assert page.url == f"{live.url}/login/totp"
    page.goto("/users")  # half signed in is not signed in
    assert page.url.startswith(f"{live.url}/login")
    page.goto("/login/totp")
    totp = pyotp.TOTP(secret)
    now = live.clock.now
    wrong = f"{(int(totp.at(now)) + 1) % 1_000_000:06d}"
    page.fill("#code", wrong)
    page.click("main button[type=submit]")
    assert "not right" in page.locator(".error").inner_text()
    code = totp.at(now)
    page.fill("#code", code)
    page.click("main button[type=submit]")
    assert page.url == f"{live.url}{start_path('admin')}"

    # The same code, in another browser, is not accepted twice.
    other = new_page(browser, live)
    try:
        sign_in(other, "Dora")
        other.fill("#code", code)
        other.click("main button[type=submit]")
        assert other.url == f"{live.url}/login/totp"
        assert "already used" in other.locator(".error").inner_text()
    finally:
        other.context.close()
    assert "dashboard.sign_in" in actions(live)
    sign_ins = [e for e in live.audit() if e.action == "dashboard.sign_in"]
    assert sign_ins[0].detail == {"totp": True}


def test_sessions_expire_when_idle_and_end_when_the_user_is_disabled(
    live: LiveDashboard, page: Any
) -> None:
    live.add_user("Ema", role="staff")
    sign_in(page, "Ema")
    assert page.url == f"{live.url}{start_path('staff')}"
    live.advance(minutes=live.settings.dashboard.session_idle_minutes + 1)
    page.goto("/account")
    assert page.url == f"{live.url}/login?next=/account"

    sign_in(page, "Ema")
    live.run(live.app.store.users.set_disabled(name="Ema", disabled=True))
    page.goto("/account")
    assert page.url.startswith(f"{live.url}/login")
