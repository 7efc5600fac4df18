"""The Calls pages in Chromium: the list's filters and keyset pages with masked numbers, and a
call's page (plain summary in English and Albanian, tool calls, transcript as text, audited)."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from typing import Any

import pytest

from storage import NewContact
from storage.models import CallDirection
from storage.timefmt import to_db
from tests.conftest import TIRANE
from tests.dashboard.conftest import LiveDashboard, sign_in
from tests.storage.booking import phone
from tests.storage.dashboard_data import make_call

pytestmark = pytest.mark.browser
MARKUP = "<img src=x onerror=alert(1)>"
FULL_NUMBER = re.compile(r"\+[0-9]{8,15}")
PATIENT_PHONE = "+355691234567"


def _ids(page: Any) -> list[str]:
    return page.locator("#calls-table tbody tr[data-call]").evaluate_all(
        "rows => rows.map(r => r.dataset.call)"
    )


def _seed_list(live: LiveDashboard) -> tuple[int, str]:
    """53 calls yesterday a minute apart (c0..c52: every third booked, else declined; every
    fifth inbound), 2 unanswered four days ago, c10-c12 dialled for a campaign. The clock is put
    back. Returns the campaign's id and the old calls' day."""
    store, clock = live.app.store, live.clock
    now = clock.now
    yesterday = now.astimezone(TIRANE).date() - timedelta(days=1)
    base = datetime.combine(yesterday, time(8), tzinfo=TIRANE)
    old = base - timedelta(days=3)

    async def seed() -> int:
        for n in range(53):
            await make_call(
                store, clock, call_id=f"c{n}", at=base + timedelta(minutes=n),
                outcome="booked" if n % 3 == 0 else "declined", phone=phone(n),
                direction=CallDirection.INBOUND if n % 5 == 0 else CallDirection.OUTBOUND,
            )  # fmt: skip
        for n in range(2):
            at = old + timedelta(minutes=n)
            await make_call(store, clock, call_id=f"old{n}", at=at, outcome="not_answered")
        campaign = await store.campaigns.create(name="Spring recall", purpose="recall")
        await store.campaigns.add_contacts(
            campaign_id=campaign.id, contacts=[NewContact(phone=phone(10), name="Arta Hoxha")]
        )
        (contact,) = await store.db.conn.execute_fetchall(
            "SELECT id FROM campaign_contacts WHERE campaign_id = ?", (campaign.id,)
        )
        for n in (10, 11, 12):
            # The campaign's dial that opened the call (as claim_contact records it).
            await store.db.conn.execute(
                "INSERT INTO call_attempts (contact_id, campaign_id, phone, started_at, outcome,"
                " call_id) VALUES (?, ?, ?, ?, 'declined', ?)",
                (contact["id"], campaign.id, phone(n), to_db(base + timedelta(minutes=n)), f"c{n}"),
            )
        return campaign.id

    try:
        campaign_id = live.run(seed())
    finally:
        clock.now = now
    return campaign_id, old.date().isoformat()


def test_the_calls_list_filters_and_pages_with_masked_numbers(
    live: LiveDashboard, page: Any, check_page: Any
) -> None:
    live.add_user("Staff", role="staff")
    live.add_user("Admin", role="admin")
    campaign_id, old_day = _seed_list(live)
    sign_in(page, "Staff")
    page.goto("/calls")
    newest = [f"c{n}" for n in range(52, 2, -1)]
    assert _ids(page) == newest  # 50 a page, newest first
    table = page.inner_text("#calls-table")
    assert not FULL_NUMBER.search(table) and "+355*******52" in table
    assert "Revenue" not in table  # staff see no money
    check_page(page, "calls-list")

    page.click("nav.pager >> text=Older")
    assert _ids(page) == ["c2", "c1", "c0", "old1", "old0"]
    assert page.locator("nav.pager >> text=Older").count() == 0
    page.click("nav.pager >> text=Newer")
    assert _ids(page) == newest
    assert page.locator("nav.pager >> text=Newer").count() == 0

    # Filters: a GET form; they combine, and the pages keep them.
    page.select_option("#f-outcome", "booked")
    page.click("form.filters button[type=submit]")
    booked = [f"c{n}" for n in range(51, -1, -3)]
    assert _ids(page) == booked and "outcome=booked" in page.url
    page.select_option("#f-direction", "inbound")
    page.click("form.filters button[type=submit]")
    assert _ids(page) == ["c45", "c30", "c15", "c0"]
    assert page.input_value("#f-outcome") == "booked"  # the form shows what it filters by
    page.goto("/calls")
    page.fill("#f-from", old_day)
    page.fill("#f-to", old_day)
    page.click("form.filters button[type=submit]")
    assert _ids(page) == ["old1", "old0"]
    page.goto("/calls")
    page.select_option("#f-campaign", str(campaign_id))
    page.click("form.filters button[type=submit]")
    assert _ids(page) == ["c12", "c11", "c10"]
    page.goto(f"/calls?day={old_day}&outcome=not_answered")
    assert _ids(page) == ["old1", "old0"] and page.input_value("#f-from") == old_day

    # Bad filters: a 400 page naming the problem, the form still there.
    response = page.goto("/calls?from=2026-12-05&to=2026-12-01")
    assert response.status == 400
    assert "The last day is before the first day." in page.inner_text(".error")
    assert page.goto("/calls?outcome=nonsense").status == 400
    assert page.goto("/calls?from=yesterday").status == 400
    response = page.goto("/calls?cursor=not-a-cursor")
    assert response.status == 200 and "not valid any more" in page.inner_text(".error")
    check_page(page, "calls-list-error")

    sign_in(page, "Admin")
    page.goto("/calls")
    assert "Revenue booked" in page.inner_text("#calls-table thead")
