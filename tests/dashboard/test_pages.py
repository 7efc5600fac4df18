"""The foundation's own pages in Chromium: Users, Audit log, account, sign-in, errors; markup typed
as text; the language switch; screenshots at desktop and tablet sizes with axe-core on each."""

from __future__ import annotations

from typing import Any

import pytest

from tests.dashboard.conftest import PASSWORD, LiveDashboard, new_page, sign_in, start_path

pytestmark = pytest.mark.browser
MARKUP = "<img src=x onerror=alert(1)>"


def add_user_with_the_form(page: Any, name: str, *, role: str = "staff") -> None:
    page.goto("/users")
    page.fill("#new-name", name)
    page.select_option("#new-role", role)
    page.fill("#new-password", "another long password")
    page.fill("#new-password-again", "another long password")
    page.click("form.grid button[type=submit]")


def test_admins_manage_users_on_the_users_page(
    live: LiveDashboard, page: Any, browser: Any
) -> None:
    live.add_user("Admin", role="admin")
    sign_in(page, "Admin")
    add_user_with_the_form(page, "Gent")
    assert page.url == f"{live.url}/users?done=added"
    assert "The user was added." in page.inner_text("main")
    gent = live.run(live.app.store.users.get(name="Gent"))
    assert gent.role == "staff" and not gent.disabled

    add_user_with_the_form(page, "gent")  # names compare without case
    assert "A user with that name already exists." in page.inner_text(".error")

    # Gent signs in elsewhere; disabling him ends that session at once.
    other = new_page(browser, live)
    try:
        sign_in(other, "Gent", "another long password")
        assert other.url == f"{live.url}{start_path('staff')}"
        row = page.locator("tr", has=page.locator("td.user-name", has_text="Gent"))
        row.locator("text=Disable").click()
        assert "disabled and signed out" in page.inner_text(".notice")
        other.goto("/account")
        assert other.url.startswith(f"{live.url}/login")
        row = page.locator("tr", has=page.locator("td.user-name", has_text="Gent"))
        row.locator("text=Enable").click()
        row = page.locator("tr", has=page.locator("td.user-name", has_text="Gent"))
        row.locator("summary").click()
        row.locator("input[name=password]").fill("a brand new password")
        row.locator("input[name=password_again]").fill("a brand new password")
        row.locator("text=Set password").click()
        assert "The password was changed" in page.inner_text(".notice")
        sign_in(other, "Gent", "a brand new password")
        assert other.url == f"{live.url}{start_path('staff')}"
    finally:
        other.context.close()

    # No "disable" for oneself; the trail names the admin and the record, never a password.
    row = page.locator("tr", has=page.locator("td.user-name", has_text="Admin"))
    assert row.locator("text=Disable").count() == 0
    trail = [(e.actor, e.action, e.subject) for e in live.audit() if e.action.startswith("user.")]
    assert trail[::-1] == [
        ("web:Admin", "user.add", f"user:{gent.id}"),
        ("web:Admin", "user.disable", f"user:{gent.id}"),
        ("web:Admin", "user.enable", f"user:{gent.id}"),
        ("web:Admin", "user.reset", f"user:{gent.id}"),
    ]
    assert "another long password" not in repr(live.audit())


def test_markup_typed_as_a_name_shows_as_text(live: LiveDashboard, page: Any) -> None:
    live.add_user("Admin", role="admin")
    sign_in(page, "Admin")
    add_user_with_the_form(page, MARKUP)
    cell = page.locator("td.user-name", has_text="onerror")
    assert cell.inner_text() == MARKUP
    assert cell.locator("img").count() == 0
    page.goto("/audit")
    page.reload()
    # The login page echoes a typed name back into its field: as a value, not as markup.
    sign_in(page, MARKUP, "not the password")
    assert page.input_value("#name") == MARKUP
    assert page.locator("main img").count() == 0
    assert page.dialogs == []  # the `page` fixture fails the test on any dialog, too


def test_the_audit_log_pages_newest_first(live: LiveDashboard, page: Any) -> None:
    live.add_user("Admin", role="admin")
    for number in range(60):
        live.run(live.app.store.audit.record(actor="cli:test", action=f"test.{number:02d}"))
    sign_in(page, "Admin")
    page.goto("/audit")
    cells = page.locator("tbody tr td:nth-child(3)").all_inner_texts()
    assert cells[0] == "dashboard.sign_in" and cells[1] == "test.59" and len(cells) == 50
    page.click("text=Older")
    cells = page.locator("tbody tr td:nth-child(3)").all_inner_texts()
    assert cells[0] == "test.10" and cells[-1] == "test.00"
    assert page.locator("text=Older").count() == 0
    # Read-only: no form on the page, and no route that writes it.
    assert page.locator("main form").count() == 0
    assert page.request.post("/audit", form={"csrf_token": "x"}).status in (403, 405)


def test_the_language_switch_shows_albanian(live: LiveDashboard, page: Any, browser: Any) -> None:
    live.add_user("Staff", role="staff", language="en")
    page.goto("/login?lang=sq")
    assert page.inner_text("h1") == "Hyr"
    assert page.get_attribute("html", "lang") == "sq"
    page.goto("/login?lang=en")
    assert page.inner_text("h1") == "Sign in"

    albanian = new_page(browser, live, locale="sq-AL")
    try:
        albanian.goto("/login")  # the browser's Accept-Language
        assert albanian.inner_text("h1") == "Hyr"
    finally:
        albanian.context.close()

    sign_in(page, "Staff")
    page.goto("/account")
    assert page.inner_text("h1") == "Your account"
    page.click("button[name=language][value=sq]")
    assert page.inner_text("h1") == "Llogaria juaj"
    assert page.inner_text("header button.secondary") == "Dil"
    assert live.run(live.app.store.users.get(name="Staff")).language == "sq"
    assert page.url == f"{live.url}/account"


def test_every_page_screenshots_and_accessibility(
    live: LiveDashboard, page: Any, check_page: Any
) -> None:
    live.add_user("Admin", role="admin", language="sq")
    live.add_user("Staff", role="staff")
    live.run(live.app.store.audit.record(actor="cli:test", action="test.one", detail={"n": 1}))
    page.goto("/login")
    check_page(page, "login")
    sign_in(page, "Admin", "wrong password here")
    check_page(page, "login-failed")
    sign_in(page, "Admin")
    for path in ("/users", "/audit", "/account", "/no-such-page"):
        page.goto(path)
        check_page(page, f"admin{path}")
    add_user_with_the_form(page, "x")
    add_user_with_the_form(page, "x")  # a taken name: the form's error state
    assert page.locator(".error").count() == 1
    check_page(page, "users-error")
    sign_in(page, "Staff")
    page.goto("/users")
    check_page(page, "staff-forbidden")

    secret = live.add_user("Dora", role="admin", totp=True)
    assert secret
    sign_in(page, "Dora", PASSWORD)
    check_page(page, "totp")
