"""The Follow-ups page in Chromium: the queue as the store holds it (kinds, Tirana due times,
masked numbers, the call's link), pages, marking one done (audited), and one done meanwhile
(said in Albanian to a user who reads it)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest

from dashboard.i18n import format_when
from dashboard.pages import follow_ups
from tests.dashboard.conftest import LiveDashboard, new_page, sign_in

pytestmark = pytest.mark.browser
MARKUP = "<img src=x onerror=alert(1)>"
ARTA, BEN, DRITA = "+355691234501", "+355691234502", "+355691234503"


async def _seed(live: LiveDashboard) -> dict[str, int]:
    """Three follow-ups, one of each kind, written through the store as the app writes them."""
    store, now = live.app.store, live.clock.now
    await store.calls.start(call_id="call-cb", phone=BEN)
    await store.calls.start(call_id="call-tr", phone=ARTA)
    transfer, _ = await store.follow_ups.create(
        phone=ARTA, name="Arta Hoxha", due_at=now - timedelta(hours=2),
        reason="wants to talk to the dentist", source="agent", call_id="call-tr",
    )  # fmt: skip
    # The transfer tool's stored result names the follow-up it left (tools/transfer.py).
    result = {"status": "transfer_failed", "follow_up_id": transfer.id}
    await store.calls.save_progress(
        call_id="call-tr",
        transcript=[{"t": "x", "role": "tool", "name": "transfer_to_human", "result": result}],
        counters={},
        turns=0,
        tool_calls=1,
    )
    callback, _ = await store.follow_ups.create(
        phone=BEN, name="Ben Leka", due_at=now + timedelta(hours=1), reason="after work",
        source="agent", call_id="call-cb",
    )  # fmt: skip
    staff, _ = await store.follow_ups.create(
        phone=DRITA, name="Drita Kola", due_at=now + timedelta(days=1), reason=MARKUP,
        source="cli",
    )  # fmt: skip
    return {"transfer": transfer.id, "callback": callback.id, "staff": staff.id}


def test_the_queue_oldest_due_first_and_mark_done(
    live: LiveDashboard, page: Any, check_page: Any
) -> None:
    ids = live.run(_seed(live))
    live.add_user("Staff", role="staff")
    sign_in(page, "Staff")
    page.goto("/follow-ups")
    rows = page.locator("tr.follow-up")
    assert rows.count() == 3
    queue = live.run(live.app.store.follow_up_queue.page())
    for n, item in enumerate(queue.items):  # the page shows the store's queue, in its order
        row = rows.nth(n)
        assert row.get_attribute("id") == f"follow-up-{item.id}"
        assert format_when(item.due_at, "en") in row.locator("td.due").inner_text()
        assert row.locator("td.phone, .phone").inner_text() == item.phone_masked
        assert row.locator(".person").inner_text() == item.patient_name
    assert [rows.nth(n).locator("td.kind").inner_text() for n in range(3)] == [
        "Transfer failed",
        "Callback asked for",
        "Added by staff",
    ]
    assert "overdue" in rows.nth(0).inner_text() and "overdue" not in rows.nth(1).inner_text()
    assert rows.nth(0).locator("a").get_attribute("href") == "/calls/call-tr"
    assert rows.nth(2).locator("a").count() == 0  # staff's own has no call
    assert rows.nth(2).locator("td.reason").inner_text() == MARKUP  # text, no dialog opens
    html = page.content()
    for number in (ARTA, BEN, DRITA):
        assert number[1:] not in html and number[4:] not in html
    check_page(page, "follow-ups")

    rows.nth(0).locator("button", has_text="Mark done").click()
    assert page.url == f"{live.url}/follow-ups?done=1"
    assert page.inner_text(".notice") == "The follow-up was marked done."
    assert page.locator(f"#follow-up-{ids['transfer']}").count() == 0
    assert page.locator("tr.follow-up").count() == 2
    sql = "SELECT id, done_by FROM follow_ups WHERE status = 'done'"
    done = live.run(live.app.store.db.rows(sql))
    assert [tuple(row) for row in done] == [(ids["transfer"], "web:Staff")]
    trail = [(e.actor, e.action, e.subject) for e in live.audit() if e.action == "follow_up.done"]
    assert trail == [("web:Staff", "follow_up.done", f"follow_up:{ids['transfer']}")]


def test_one_done_meanwhile_by_someone_else_says_who(
    live: LiveDashboard, page: Any, browser: Any
) -> None:
    ids = live.run(_seed(live))
    live.add_user("Ana", role="staff", language="sq")  # Ana reads Albanian
    live.add_user("Besa", role="admin")
    sign_in(page, "Ana")
    page.goto("/follow-ups")
    other = new_page(browser, live)
    try:
        sign_in(other, "Besa")
        other.goto("/follow-ups")
        other.locator(f"#follow-up-{ids['callback']} button").click()
        assert other.inner_text(".notice") == "The follow-up was marked done."
    finally:
        other.context.close()
    page.locator(f"#follow-up-{ids['callback']} button").click()  # Ana's page is older
    message = page.inner_text(".error")
    assert message.startswith("Besa e ka shënuar tashmë të kryer këtë ndjekje (")
    assert message.endswith("). Nuk u ndryshua asgjë.")
    assert page.inner_text("h1") == "Ndjekjet"
    assert page.locator(f"#follow-up-{ids['callback']}").count() == 0  # the list is current
    trail = [(e.actor, e.subject) for e in live.audit() if e.action == "follow_up.done"]
    assert trail == [("web:Besa", f"follow_up:{ids['callback']}")]  # Ana changed nothing


def test_pages_of_the_queue_and_done_on_a_later_page(
    live: LiveDashboard, page: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(follow_ups, "PAGE_SIZE", 2)
    ids = live.run(_seed(live))
    live.add_user("Staff", role="staff")
    sign_in(page, "Staff")
    page.goto("/follow-ups")
    assert page.locator("tr.follow-up").count() == 2
    assert page.locator("a", has_text="First page").count() == 0
    page.click("text=Next page")
    assert re.search(r"/follow-ups\?cursor=[A-Za-z0-9_-]+$", page.url)
    (row,) = page.locator("tr.follow-up").all()
    assert row.get_attribute("id") == f"follow-up-{ids['staff']}"
    assert page.locator("a", has_text="Next page").count() == 0
    row.locator("button").click()  # back on the same page, now empty
    assert "cursor=" in page.url and "done=1" in page.url
    assert page.locator("tr.follow-up").count() == 0
    assert "Nobody is waiting for a call back." in page.inner_text("main")
    page.goto("/follow-ups?cursor=bm90LWEtY3Vyc29y")  # not a cursor of this list
    assert "That page link is out of date" in page.inner_text(".error")
    assert page.locator("tr.follow-up").count() == 2
