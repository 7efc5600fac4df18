"""The Campaigns pages in Chromium: create, upload contacts, control, roles, live progress."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.dashboard.conftest import PASSWORD, LiveDashboard, csrf_of, sign_in
from tests.serve_process import serve_env
from tests.serve_process import serving as elo_serve

pytestmark = pytest.mark.browser

GOOD = ("+355691234567", "+355682223344")
# Put in the priority column: the importer's reason quotes the cell; the page must mask it.
NUMBER_IN_A_REASON = "069 765 4321"
CSV = (
    "name,phone,time_zone,priority\n"
    "Arta Hoxha,069 123 4567,,\n"  # 2: imported
    "Ben Duka,12,,\n"  # 3: bad phone
    ",069 111 2233,,\n"  # 4: missing name
    "Cela Dervishi,069 444 5566,Europe/Rome,\n"  # 5: a time zone the number is not in
    "Arta Again,+355691234567,,\n"  # 6: a repeat of line 2
    "Dea Leka,068 222 3344,,\n"  # 7: imported
    f"Eda Kola,069 777 8899,,{NUMBER_IN_A_REASON}\n"  # 8: the priority is not a number
)


def _campaign(live: LiveDashboard, name: str = "Winter recall") -> int:
    campaign = live.run(live.app.store.campaigns.create(name=name, purpose="recall"))
    return campaign.id


def _contacts(live: LiveDashboard, campaign_id: int) -> list[str]:
    contacts = live.run(live.app.store.campaigns.contacts(campaign_id=campaign_id))
    return sorted(c.phone for c in contacts)


def _upload(page: Any, campaign_id: int, tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "contacts.csv"
    path.write_bytes(data)
    page.goto(f"/campaigns/{campaign_id}/contacts")
    page.set_input_files("#contacts-file", str(path))
    page.click("main form button[type=submit]")
    page.wait_for_load_state()


def test_an_admin_creates_a_campaign_through_the_form(live, page, check_page) -> None:
    live.add_user("Arta", role="admin")
    sign_in(page, "Arta")
    page.goto("/campaigns")
    check_page(page, "campaigns-empty")
    page.click("text=New campaign")
    check_page(page, "campaign-new")
    page.fill("#c-name", "Winter recall")
    page.select_option("#c-purpose", "check_up")
    page.fill("#c-concurrent", "3")
    page.fill("#c-days", "mon,wed")
    page.fill("#c-hours", "10:00-12:00")
    page.fill("#c-retry", "busy=30")
    page.fill("#c-notes", "<img src=x onerror=alert(1)>")
    page.click("main form button[type=submit]")
    page.wait_for_load_state()
    assert "The campaign was created." in page.inner_text(".notice")
    campaign = live.run(live.app.store.campaigns.get(name="Winter recall"))
    assert campaign is not None
    assert page.url.endswith(f"/campaigns/{campaign.id}?done=created")
    assert (campaign.purpose, campaign.max_concurrent_calls, campaign.service_state) == (
        "check_up",
        3,
        "manual",
    )
    assert (campaign.window_days, campaign.window_intervals) == ("mon,wed", "10:00-12:00")
    assert campaign.retry_delays == {"busy": 30}
    # The same validation as `elo campaign create`: a wrong field is named, nothing is created.
    page.goto("/campaigns/new")
    page.fill("#c-name", "Spring")
    page.fill("#c-retry", "ringing=5")
    page.click("main form button[type=submit]")
    assert "Minutes before calling again" in page.inner_text("#form-error")
    assert page.get_attribute("#c-retry", "aria-invalid") == "true"
    page.goto("/campaigns/new")
    page.fill("#c-name", "Winter recall")
    page.click("main form button[type=submit]")
    assert "A campaign with that name already exists." in page.inner_text("#form-error")
    names = [c.name for c in live.run(live.app.store.campaigns.list())]
    assert names == ["Winter recall"]
    assert [
        (e.actor, e.action, e.subject) for e in live.audit() if e.action.startswith("camp")
    ] == [("web:Arta", "campaign.create", f"campaign:{campaign.id}")]
    page.goto("/campaigns")
    assert page.locator("table.campaigns tbody tr").count() == 1
    check_page(page, "campaigns")


def test_an_upload_imports_the_good_lines_and_shows_each_rejected_one(
    live, page, check_page, tmp_path: Path
) -> None:
    live.add_user("Arta", role="admin")
    campaign_id = _campaign(live)
    sign_in(page, "Arta")
    _upload(page, campaign_id, tmp_path, CSV.encode())
    assert page.inner_text(".imported") == "2"
    rows = {
        int(row.get_attribute("data-line")): row.locator("td.reason").inner_text()
        for row in page.locator("table.rejected tbody tr").all()
    }
    assert rows == {
        3: "The phone number is missing, not valid, or not from an allowed country.",
        4: "The name is missing or is not a person's name.",
        5: "The time zone is unknown or does not fit the phone number.",
        6: "The same phone number as line 2; merged into it.",
        8: "The priority must be a whole number.",
    }
    html = page.content()
    # No full number of the file is in the page, also where the importer quoted a cell.
    assert NUMBER_IN_A_REASON not in html and "••••••••21" in html
    for phone in (*GOOD, "+355697654321", "069 111 2233"):
        assert phone not in html
    assert _contacts(live, campaign_id) == sorted(GOOD)
    check_page(page, "campaign-upload-result")
    actions = [(e.action, e.subject) for e in live.audit()]
    assert ("campaign.import", f"campaign:{campaign_id}") in actions


def test_a_file_that_is_not_utf8_imports_nothing(live, page, tmp_path: Path) -> None:
    live.add_user("Arta", role="admin")
    campaign_id = _campaign(live)
    sign_in(page, "Arta")
    _upload(page, campaign_id, tmp_path, "name,phone\nËngjëll Çela,0691234567\n".encode("cp1252"))
    error = page.inner_text("#upload-error")
    assert "The file could not be read, so nothing was imported." in error
    assert "contacts.csv is not UTF-8 text (first bad byte on line 2)" in error
    assert page.locator(".upload-result").count() == 0
    assert _contacts(live, campaign_id) == []


@pytest.fixture
def dashboard_settings() -> dict[str, Any]:
    return {"max_upload_kib": 16}


def test_a_file_over_the_size_limit_is_refused_with_a_message(live, page, tmp_path: Path) -> None:
    live.add_user("Arta", role="admin")
    campaign_id = _campaign(live)
    sign_in(page, "Arta")
    rows = "".join(f"Arta Hoxha,069 123 {n:04d}\n" for n in range(1000))
    _upload(page, campaign_id, tmp_path, ("name,phone\n" + rows).encode())
    assert "The dashboard accepts at most 16 KiB at once" in page.inner_text("main")
    assert _contacts(live, campaign_id) == []


def test_staff_see_progress_but_no_controls_and_get_403_by_direct_post(live, page) -> None:
    live.add_user("Besa", role="staff")
    campaign_id = _campaign(live)
    sign_in(page, "Besa")
    page.goto("/campaigns")
    assert page.locator("text=New campaign").count() == 0
    page.click("text=Winter recall")
    assert page.inner_text(".service-state") == "Not started"
    assert page.locator(".controls, .revenue").count() == 0
    assert page.locator(f"a[href='/campaigns/{campaign_id}/contacts']").count() == 0
    token = csrf_of(page)
    posts = {
        "/campaigns/new": {"name": "Sneaky", "purpose": "recall"},
        f"/campaigns/{campaign_id}/control": {"command": "start"},
        f"/campaigns/{campaign_id}/contacts": {},
    }
    for url, form in posts.items():
        response = page.request.post(url, form={**form, "csrf_token": token})
        assert response.status == 403, url
    assert page.request.get("/campaigns/new").status == 403
    campaign = live.run(live.app.store.campaigns.get_by_id(campaign_id=campaign_id))
    assert campaign.service_state == "manual"
    assert [c.name for c in live.run(live.app.store.campaigns.list())] == ["Winter recall"]


def _listed(page: Any) -> list[str]:
    return page.locator("tr.campaign td.user-name").all_inner_texts()


def test_the_list_pages_newest_first(live, page, check_page) -> None:
    async def seed() -> None:
        for n in range(53):
            await live.app.store.campaigns.create(name=f"Recall {n:02d}", purpose="recall")

    live.run(seed())
    live.add_user("Besa", role="staff")
    sign_in(page, "Besa")
    page.goto("/campaigns")
    newest = [f"Recall {n:02d}" for n in range(52, 2, -1)]
    assert _listed(page) == newest  # 50 a page, newest first
    assert page.locator("nav.pager >> text=Newer").count() == 0
    check_page(page, "campaigns-paged")
    page.click("nav.pager >> text=Older")
    assert _listed(page) == ["Recall 02", "Recall 01", "Recall 00"]
    assert page.locator("nav.pager >> text=Older").count() == 0
    page.click("nav.pager >> text=Newer")
    assert _listed(page) == newest
    # A link that is not a cursor of this list: the first page, with a note.
    response = page.goto("/campaigns?cursor=bm90LWEtY3Vyc29y")
    assert response.status == 200 and "not valid any more" in page.inner_text(".error")
    assert _listed(page) == newest
    assert page.goto("/campaigns?cursor=%3Cscript%3E").status == 400  # not cursor-shaped


def test_start_pause_resume_stop_follow_the_control_rules(live, page, check_page) -> None:
    live.add_user("Arta", role="admin")
    campaign_id = _campaign(live)
    sign_in(page, "Arta")
    page.goto(f"/campaigns/{campaign_id}")
    check_page(page, "campaign-detail")

    def buttons() -> list[str]:
        return page.locator(".controls button").all_inner_texts()

    def state() -> str:
        campaign = live.run(live.app.store.campaigns.get_by_id(campaign_id=campaign_id))
        return campaign.service_state

    assert buttons() == ["Start", "Stop for good"]
    for button, expected, offered in (
        ("Start", "active", ["Pause", "Stop for good"]),
        ("Pause", "paused", ["Resume", "Stop for good"]),
        ("Resume", "active", ["Pause", "Stop for good"]),
        ("Stop for good", "stopped", []),
    ):
        page.click(f".controls button:text-is('{button}')")
        page.wait_for_load_state()
        assert state() == expected
        assert buttons() == offered
    # A stale form (another tab) asking to resume a stopped campaign: refused, nothing changes.
    response = page.request.post(
        f"/campaigns/{campaign_id}/control",
        form={"command": "resume", "csrf_token": csrf_of(page)},
    )
    assert response.status == 409
    assert "was stopped and is never dialled again" in response.text()
    assert state() == "stopped"
    actions = [e.action for e in reversed(live.audit()) if e.subject == f"campaign:{campaign_id}"]
    assert actions == ["campaign.start", "campaign.pause", "campaign.resume", "campaign.stop"]


def test_the_reason_the_fault_breaker_paused_a_campaign_is_shown(live, page) -> None:
    live.add_user("Arta", role="admin")
    campaign_id = _campaign(live)
    store = live.app.store
    live.run(
        store.campaigns.set_service_state(
            campaign_id=campaign_id, to="active", allowed_from=frozenset({"manual"})
        )
    )
    live.run(
        store.campaigns.set_service_state(
            campaign_id=campaign_id,
            to="paused",
            allowed_from=frozenset({"active"}),
            pause_reason="5 system faults in a row (SIP trunk refused the call to +355691234567)",
        )
    )
    sign_in(page, "Arta")
    page.goto(f"/campaigns/{campaign_id}")
    reason = page.inner_text(".pause-reason")
    assert reason.startswith("Paused because: 5 system faults in a row")
    assert "+355691234567" not in page.content() and "67)" in reason
    assert page.locator(".controls button").all_inner_texts() == ["Resume", "Stop for good"]


def test_the_progress_stream_is_for_signed_in_users_only(live) -> None:
    campaign_id = _campaign(live)
    response = httpx.get(f"{live.url}/campaigns/{campaign_id}/progress", follow_redirects=False)
    assert response.status_code == 303
    assert re.match(r"^/login\?next=", response.headers["location"])


@pytest.mark.slow
def test_a_rehearsal_started_from_the_page_shows_its_progress_live(browser, tmp_path: Path) -> None:
    """`elo user add`, then `elo serve --rehearsal --rehearsal-waits` as a real process: the
    admin starts the rehearsal campaign on its page and watches the calls happen, no reload."""
    from devtools.rehearsal import CAMPAIGN

    env = serve_env(
        tmp_path,
        ELO_DATABASE__PATH=str(tmp_path / "data" / "elo.db"),
        ELO_SERVER__POLL_SECS="0.5",
        ELO_SERVER__WORKERS="0",
    )
    added = subprocess.run(
        [
            sys.executable,
            "-m",
            "cli.main",
            "user",
            "add",
            "Arta",
            "--role",
            "admin",
            "--language",
            "en",
        ],
        input=PASSWORD + "\n",
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert added.returncode == 0, added.stderr
    with elo_serve(tmp_path, env, "--rehearsal", "--rehearsal-waits") as served:
        context = browser.new_context(base_url=served.base, viewport={"width": 1280, "height": 800})
        page = context.new_page()
        try:
            sign_in(page, "Arta")
            page.goto("/campaigns")
            page.click(f"text={CAMPAIGN}")
            progress = page.locator("#progress")
            assert page.inner_text(".service-state") == "Not started"
            assert progress.locator(".attempts").inner_text() == "0"
            page.click(".controls button:text-is('Start')")
            page.wait_for_load_state()
            assert page.inner_text(".service-state") == "Active"
            # From here on the page is never loaded again: a marker on the window would go.
            page.evaluate("window.stillTheSamePage = true")
            # The fragments the stream sends show the calls being made, then their outcomes.
            # (Locator waits: the page's Content-Security-Policy forbids evaluating strings.)
            expect(progress.locator(".attempts")).not_to_have_text("0", timeout=240_000)
            expect(progress.locator("#funnel-booked .count")).to_have_text("1", timeout=240_000)
            assert int(progress.get_attribute("data-live-updates") or 0) >= 2
            assert page.evaluate("window.stillTheSamePage") is True
        finally:
            context.close()
        served.stop()
    with sqlite3.connect(tmp_path / "data" / "rehearsal" / "elo.db") as conn:
        assert conn.execute("SELECT service_state FROM campaigns").fetchone() == ("active",)
        actions = conn.execute("SELECT actor, action FROM audit_log WHERE action LIKE 'camp%'")
        assert actions.fetchall() == [("web:Arta", "campaign.start")]
