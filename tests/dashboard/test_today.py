"""The Today page in Chromium: the day's figures from rows made through the store, revenue for
admins only, the 30-day chart, and calls in progress on the service's real ``LiveCallBoard``
appearing and leaving without a reload, with "End this call"."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest

from app.live import ENDED_BY_STAFF
from devtools.clock import ManualClock
from storage import Booked
from storage.models import CallDirection
from tests.conftest import TIRANE
from tests.dashboard.conftest import LiveDashboard, new_page, served_settings, serving, sign_in
from tests.storage.booking import SLOT, phone
from tests.storage.dashboard_data import make_call

pytestmark = pytest.mark.browser
FULL_NUMBER = re.compile(r"\+[0-9]{8,15}")


def _seed_today(live: LiveDashboard) -> None:
    """Today: five calls (3 answered), two standing bookings made in calls (2,000 + 3,500 lek),
    one cancelled (not counted), one no-show; yesterday: one call. The clock is put back."""
    store, clock = live.app.store, live.clock
    now = clock.now
    today = now.astimezone(TIRANE).date()
    midnight = datetime.combine(today, time(0), tzinfo=TIRANE)

    async def seed() -> None:
        outcomes = ["booked", "booked", "declined", "not_answered", "voicemail"]
        for n, outcome in enumerate(outcomes):
            at = midnight + timedelta(minutes=5 + n)
            await make_call(store, clock, call_id=f"t{n}", at=at, outcome=outcome)
        await make_call(store, clock, call_id="y0", at=midnight - timedelta(hours=2))
        clock.now = midnight + timedelta(minutes=20)
        booked = []
        for n, (price, call) in enumerate([(2000, "t0"), (3500, "t1"), (9000, "t1")]):
            start = midnight + timedelta(days=1, hours=9, minutes=30 * n)
            result = await store.appointments.book(
                phone=phone(n), name="Arta Hoxha", service_id="checkup", starts_at=start,
                ends_at=start + SLOT, slot=SLOT, chairs=1, price_lek=price, source="agent",
                call_id=call,
            )  # fmt: skip
            assert isinstance(result, Booked)
            booked.append(result.appointment)
        await store.appointments.set_status(appointment_id=booked[2].id, status="cancelled")
        # A no-show of today (booked weeks ago, at the command line): moved to today's morning.
        clock.now = midnight - timedelta(days=20)
        start = midnight + timedelta(hours=8)
        old = await store.appointments.book(
            phone=phone(9), name="Ben Leka", service_id="checkup", starts_at=start,
            ends_at=start + SLOT, slot=SLOT, chairs=1, price_lek=5000, source="cli",
        )  # fmt: skip
        assert isinstance(old, Booked)
        await store.appointments.set_status(appointment_id=old.appointment.id, status="no_show")

    try:
        live.run(seed())
    finally:
        clock.now = now


def _figures(page: Any) -> dict[str, str]:
    return {
        key: page.inner_text(f"#figure-{key}")
        for key in ("calls", "answered", "bookings", "conversion", "no-shows")
    }


def test_today_shows_the_days_figures_revenue_to_admins_only_and_the_chart(
    live: LiveDashboard, page: Any, check_page: Any
) -> None:
    live.add_user("Admin", role="admin")
    live.add_user("Staff", role="staff")
    _seed_today(live)
    expected = {"calls": "5", "answered": "3", "bookings": "2", "conversion": "66.7 %"}
    # The store's own figures agree with the rows made (and so with the page).
    today = live.run(live.app.store.figures.day(day=live.clock.now.date()))
    assert (today.calls, today.answered, today.bookings, today.revenue_lek) == (5, 3, 2, 5500)
    assert today.no_shows == 1

    sign_in(page, "Staff")
    assert page.url == f"{live.url}/today"  # the start page for everyone signed in
    assert _figures(page) == {**expected, "no-shows": "1"}
    assert page.locator("#figure-revenue").count() == 0
    assert page.locator("#attendance-title").count() == 0  # statistics: admins only
    assert "Revenue" not in page.inner_text("main")
    # The chart: one bar per day of the last 30, today's the tallest; its table says the same.
    assert page.locator("svg.chart rect.bar").count() == 30
    assert page.locator("svg.chart").get_attribute("role") == "img"
    last_bar = page.locator("svg.chart rect.bar").nth(29)
    assert float(last_bar.get_attribute("height")) > 0
    assert float(page.locator("svg.chart rect.bar").nth(0).get_attribute("height")) == 0
    assert float(page.locator("svg.chart rect.bar").nth(28).get_attribute("height")) > 0
    page.click("text=The chart as a table")
    rows = page.locator("#chart-table tbody tr")
    assert rows.count() == 30
    assert rows.nth(0).locator("td").all_inner_texts()[:3] == ["5", "3", "2"]
    assert rows.nth(1).locator("td").all_inner_texts()[:1] == ["1"]  # yesterday's one call
    check_page(page, "today-staff")

    sign_in(page, "Admin")
    assert page.url == f"{live.url}/today"
    assert _figures(page) == {**expected, "no-shows": "1"}
    assert page.inner_text("#figure-revenue") == "5,500 lek"
    # Attendance of the last 30 days: today's no-show is the only appointment that started;
    # no reminder was sent for it (store.attendance, tests/storage/test_attendance.py).
    assert page.inner_text("#figure-no-show-rate") == "100 %"
    assert page.inner_text("#figure-confirmed") == "0 %"
    assert page.inner_text("#figure-revenue-kept") == "0 lek"
    paths = page.locator("#reminder-paths tbody tr")
    assert paths.count() == 4
    assert paths.nth(0).inner_text().split("\t") == ["None", "1", "1", "100 %"]
    assert paths.nth(1).locator("td").all_inner_texts() == ["0", "0", "—"]
    check_page(page, "today-admin")


def test_calls_in_progress_appear_live_and_staff_end_one(
    live: LiveDashboard, page: Any, check_page: Any
) -> None:
    board, store = live.board, live.app.store
    assert board is not None and live.app is not None
    live.add_user("Staff", role="staff")
    campaign = live.run(store.campaigns.create(name="Spring recall", purpose="recall"))
    ended_with: list[tuple[str, str]] = []

    async def start(call_id: str, number: str, campaign_id: int | None) -> None:
        # As a call session does: the row is recorded, the tracker told, with its ender.
        await store.calls.start(
            call_id=call_id, patient_id=None, phone=number, direction=CallDirection.OUTBOUND
        )

        async def end(reason: str) -> None:
            ended_with.append((call_id, reason))
            await store.calls.finish(call_id=call_id, outcome="cancelled", outcome_reason=reason)
            board.ended(call_id)

        call = board.call(
            call_id=call_id,
            direction=CallDirection.OUTBOUND,
            phone=number,
            campaign_id=campaign_id,
        )
        board.started(call, end=end)

    async def answered(call_id: str) -> None:
        board.answered(call_id)

    async def ended(call_id: str) -> None:
        board.ended(call_id)

    sign_in(page, "Staff")
    assert page.url == f"{live.url}/today"
    assert "No calls in progress." in page.inner_text("#live-calls")
    # The stream is open once its first event (a snapshot) has been placed.
    page.wait_for_selector("#live-calls[data-live-updates]")

    live.run(start("live-1", "+355691234567", campaign.id))
    row = page.locator('tr[data-call="live-1"]')
    row.wait_for()
    cells = row.locator("td").all_inner_texts()
    assert cells[1:5] == ["Outbound", "Spring recall", "Ringing", "+355*******67"]
    live.run(answered("live-1"))
    page.wait_for_selector('tr[data-call="live-1"] >> text=Answered, talking')
    live.run(start("live-2", "+355682223344", None))
    page.locator('tr[data-call="live-2"]').wait_for()
    assert not FULL_NUMBER.search(page.inner_text("#live-calls"))
    assert "+355691234567" not in page.content()
    check_page(page, "today-live-calls")

    # A call that ends by itself leaves the page without a reload.
    live.run(ended("live-2"))
    page.locator('tr[data-call="live-2"]').wait_for(state="detached")
    assert page.locator('tr[data-call="live-1"]').count() == 1
    assert ended_with == []

    # Staff end the other one: the ender is called with the staff reason, the audit names them.
    page.locator('tr[data-call="live-1"] button', has_text="End this call").click()
    page.wait_for_url(f"{live.url}/today?ended=yes")
    assert "The call was ended." in page.inner_text(".notice")
    assert ended_with == [("live-1", ENDED_BY_STAFF)]
    assert page.locator('tr[data-call="live-1"]').count() == 0
    assert board.snapshot() == []
    record = live.run(store.calls.get(call_id="live-1"))
    assert (record.outcome, record.outcome_reason) == ("cancelled", ENDED_BY_STAFF)
    entries = [e for e in live.audit() if e.action == "call.end"]
    assert [(e.actor, e.subject) for e in entries] == [("web:Staff", "live-1")]
    assert "+355691234567" not in repr(entries)

    # Ending a call that is gone says so and changes nothing.
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    response = page.request.post("/today/calls/live-1/end", form={"csrf_token": token})
    assert response.ok and response.url.endswith("/today?ended=gone")
    assert ended_with == [("live-1", ENDED_BY_STAFF)]
    # Without the form's token the POST is refused.
    assert page.request.post("/today/calls/live-1/end", form={}).status == 403


def test_without_the_service_the_page_says_live_calls_need_it(tmp_path: Path, browser: Any) -> None:
    """A dashboard given no ``live`` (no service running calls) says where live calls appear."""
    clock = ManualClock(datetime.now(TIRANE).replace(microsecond=0))
    with serving(served_settings(tmp_path), clock, dashboard_only=True) as running:
        assert running.board is None
        running.add_user("Staff", role="staff")
        page = new_page(browser, running)
        try:
            sign_in(page, "Staff")
            assert page.url == f"{running.url}/today"
            assert "Live calls are shown when the service runs." in page.inner_text("main")
            assert page.locator("[data-live]").count() == 0
            assert page.request.get("/today/live").status == 404
        finally:
            page.context.close()
