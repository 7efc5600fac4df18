"""The Clinic page in Chromium: everyone reads the running profile; admins edit its file, which
is checked before it is saved (the previous version kept) and applies from the next start."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from config.clinic_file import previous_path
from tests.dashboard.conftest import LiveDashboard, new_page, sign_in

pytestmark = pytest.mark.browser
MARKUP = "<img src=x onerror=alert(1)>"


def profile_of(live: LiveDashboard) -> Path:
    return Path(live.settings.clinic.profile_path)


def test_staff_read_the_running_profile_and_cannot_edit_it(
    live: LiveDashboard, page: Any, check_page: Any
) -> None:
    live.add_user("Drita", role="staff")
    sign_in(page, "Drita")
    page.goto("/clinic")
    main = page.inner_text("main")
    clinic = live.app.clinic
    assert clinic.name in main and clinic.address in main
    for service in clinic.services:
        assert service.name.en in main
    assert "2,000" in main or "2000" in main  # the check-up's price, whole lek
    assert "Sunday" in main and "Closed" in main
    assert page.locator("a[href='/clinic/edit']").count() == 0
    check_page(page, "clinic")
    page.goto("/clinic?lang=sq")  # the user's own language wins over ?lang: still English
    assert "Opening hours" in page.inner_text("main")


def test_an_admin_saves_a_valid_profile_keeping_the_previous_one(
    live: LiveDashboard, page: Any, check_page: Any
) -> None:
    live.add_user("Admin", role="admin", language="sq")
    sign_in(page, "Admin")
    path = profile_of(live)
    old = path.read_text(encoding="utf-8")
    page.goto("/clinic")
    assert "Orari" in page.inner_text("main")
    page.click("a[href='/clinic/edit']")
    assert page.input_value("#profile") == old
    check_page(page, "clinic-edit")
    page.fill("#profile", old.replace("chairs = 3", "chairs = 4", 1))
    page.click("form.stack button[type=submit]")
    assert page.url.endswith("/clinic?done=saved")
    notices = page.inner_text("main")
    assert "Profili u ruajt" in notices and "clinic.toml.previous" in notices
    # Elo keeps the profile it started with until a restart, and says so.
    assert "rinisja e ardhshme" in notices
    assert "chairs = 4" in path.read_text(encoding="utf-8")
    assert previous_path(path).read_text(encoding="utf-8") == old
    assert live.app.clinic.chairs == 3
    [entry] = [e for e in live.audit() if e.action == "clinic.profile_saved"]
    assert (entry.actor, entry.subject) == ("web:Admin", "clinic.toml")


def test_an_invalid_profile_is_shown_with_its_problem_and_nothing_is_written(
    live: LiveDashboard, page: Any, check_page: Any
) -> None:
    live.add_user("Admin", role="admin")
    sign_in(page, "Admin")
    path = profile_of(live)
    old = path.read_bytes()
    page.goto("/clinic/edit")
    broken = old.decode("utf-8").replace("chairs = 3", "chairs = 0", 1) + f"\n# {MARKUP}\n"
    page.fill("#profile", broken)
    page.click("form.stack button[type=submit]")
    problem = page.inner_text(".error")
    assert "The profile was not saved" in problem
    assert "chairs: Input should be greater than or equal to 1" in problem
    # What the admin typed is kept to mend, shown as text (the page's dialog guard would fail
    # the test on a script).
    assert page.input_value("#profile").replace("\r\n", "\n") == broken
    check_page(page, "clinic-edit-problem")
    assert path.read_bytes() == old
    assert not previous_path(path).exists()
    assert not [e for e in live.audit() if e.action == "clinic.profile_saved"]


def test_staff_cannot_save_a_profile_by_a_direct_post(
    live: LiveDashboard, page: Any, browser: Any
) -> None:
    live.add_user("Drita", role="staff")
    sign_in(page, "Drita")
    path = profile_of(live)
    old = path.read_bytes()
    page.goto("/clinic")
    token = page.locator("input[name=csrf_token]").first.input_value()
    answer = page.request.post(
        "/clinic/edit", form={"csrf_token": token, "profile": old.decode("utf-8")}
    )
    assert answer.status == 403
    assert path.read_bytes() == old and not previous_path(path).exists()
    other = new_page(browser, live)
    try:
        other.goto("/clinic/edit")
        assert other.url.startswith(f"{live.url}/login")
    finally:
        other.context.close()
