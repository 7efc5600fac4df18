"""The Do-not-call page in Chromium: the list as the store holds it (masked, source, reason as
text, erased people's hashed entries counted), adding a good and a bad number, removal with a
reason code after a confirmation, and the audit trail holding neither number nor free text."""

from __future__ import annotations

from typing import Any

import pytest

from dashboard.i18n import format_when
from tests.dashboard.conftest import LiveDashboard, sign_in

pytestmark = pytest.mark.browser
MARKUP = "<img src=x onerror=alert(1)>"
ARTA, BEN, GENT = "+355691234567", "+355682223344", "+355697654321"


async def _seed(live: LiveDashboard) -> None:
    store = live.app.store
    await store.patients.upsert(phone=ARTA, name="Arta Hoxha")
    await store.dnc.add(phone=ARTA, reason="asked", source="agent")
    await store.privacy.erase_person(phone=ARTA, actor="test")  # kept only as a keyed hash
    await store.calls.start(call_id="call-1", phone=BEN)
    await store.dnc.add(phone=BEN, reason=MARKUP, source="agent", call_id="call-1")


def _rows(page: Any) -> list[tuple[str, str, str]]:
    rows = page.locator("tr.dnc")
    return [
        tuple(rows.nth(n).locator(f"td.{c}").inner_text() for c in ("phone", "reason", "source"))
        for n in range(rows.count())
    ]


def _no_full_number(html: str) -> None:
    for number in (ARTA, BEN, GENT):
        assert number[1:] not in html and number[4:] not in html


def test_the_list_and_adding_numbers(live: LiveDashboard, page: Any, check_page: Any) -> None:
    live.run(_seed(live))
    live.add_user("Staff", role="staff")
    sign_in(page, "Staff")
    page.goto("/do-not-call")
    (item,) = live.run(live.app.store.dnc.page()).items
    assert _rows(page) == [("+355*******44", MARKUP, "In a call · Open the call")]
    assert format_when(item.added_at, "en") in page.locator("tr.dnc").inner_text()
    assert page.locator("tr.dnc td.source a").get_attribute("href") == "/calls/call-1"
    assert page.inner_text(".hashed").endswith("(never called, not listed): 1")
    _no_full_number(page.content())
    check_page(page, "do-not-call")

    # A bad number: one translated line, what was typed kept, nothing written.
    before = live.run(live.app.store.dnc.list())
    page.fill("#dnc-phone", "069 12")
    page.fill("#dnc-reason", MARKUP)
    page.click("#dnc-add button")
    assert page.inner_text(".error") == (
        "That is not a valid phone number. Write it like +355 69 123 4567."
    )
    assert (page.input_value("#dnc-phone"), page.input_value("#dnc-reason")) == ("069 12", MARKUP)
    page.fill("#dnc-phone", "+44 20 7946 0958")  # valid, but not of the clinic's regions
    page.click("#dnc-add button")
    assert page.inner_text(".error") == "Only numbers from AL can be added."
    assert live.run(live.app.store.dnc.list()) == before
    assert [e for e in live.audit() if e.action.startswith("dnc.")] == []

    # A good one, written the way staff say it.
    page.fill("#dnc-phone", "069 765 4321")
    page.fill("#dnc-reason", "asked at the desk")
    page.click("#dnc-add button")
    assert page.url == f"{live.url}/do-not-call?done=added"
    assert page.inner_text(".notice") == "The number was added to the do-not-call list."
    assert _rows(page)[0] == ("+355*******21", "asked at the desk", "Dashboard")
    assert live.run(live.app.store.dnc.is_listed(phone=GENT))
    (stored,) = [e for e in live.run(live.app.store.dnc.list()) if e.phone == GENT]
    assert stored.source == "web"  # staff on the dashboard, told apart from `elo dnc add`
    _no_full_number(page.content())
    page.fill("#dnc-phone", "+355 69 765 4321")  # again: the first entry is kept
    page.click("#dnc-add button")
    assert "already on the do-not-call list" in page.inner_text(".notice")
    trail = [e for e in live.audit() if e.action == "dnc.add"][::-1]
    subject = live.app.store.privacy.subject_hash(GENT)
    assert [(e.actor, e.subject, e.detail) for e in trail] == [
        ("web:Staff", subject, {"already_listed": False}),
        ("web:Staff", subject, {"already_listed": True}),
    ]
    assert GENT[4:] not in repr(trail) and "desk" not in repr(trail)


def test_removal_needs_a_reason_and_a_confirmation(
    live: LiveDashboard, page: Any, check_page: Any
) -> None:
    live.run(_seed(live))
    live.add_user("Staff", role="staff")
    sign_in(page, "Staff")
    page.goto("/do-not-call")
    page.click("tr.dnc a.remove")
    assert page.url.endswith("/remove")
    assert page.inner_text("dd.phone") == "+355*******44"
    assert page.inner_text("dd.reason") == MARKUP
    assert live.run(live.app.store.dnc.is_listed(phone=BEN))  # nothing happens before the yes
    codes = page.locator("#removal-reason option").evaluate_all("o => o.map(x => x.value)")
    assert codes == ["added_by_mistake", "patient_asked_to_be_called", "number_has_a_new_owner"]
    _no_full_number(page.content())
    check_page(page, "do-not-call-remove")
    confirm_url = page.url

    page.select_option("#removal-reason", "patient_asked_to_be_called")
    page.click("text=Yes, take it off the list")
    assert page.url == f"{live.url}/do-not-call?done=removed"
    assert page.inner_text(".notice") == "The entry was taken off the do-not-call list."
    assert _rows(page) == []
    assert "No number is on the list." in page.inner_text("main")
    assert page.inner_text(".hashed").endswith(": 1")  # the erased person's entry stays
    assert not live.run(live.app.store.dnc.is_listed(phone=BEN))
    assert live.run(live.app.store.dnc.is_listed(phone=ARTA))
    (entry,) = [e for e in live.audit() if e.action == "dnc.remove"]
    assert (entry.actor, entry.subject, entry.detail) == (
        "web:Staff",
        live.app.store.privacy.subject_hash(BEN),
        {"reason": "patient_asked_to_be_called"},
    )
    assert BEN[4:] not in repr(entry) and "onerror" not in repr(entry)

    page.goto(confirm_url)  # an old link: the entry is gone, said plainly
    assert page.inner_text(".error") == "This entry is no longer on the do-not-call list."


def test_a_removal_reason_must_be_one_of_the_codes(live: LiveDashboard, page: Any) -> None:
    live.run(_seed(live))
    live.add_user("Staff", role="staff")
    sign_in(page, "Staff")
    page.goto("/do-not-call")
    page.click("tr.dnc a.remove")
    page.locator("#removal-reason option").first.evaluate("o => { o.value = 'free text' }")
    page.click("text=Yes, take it off the list")
    assert "A field of the form is missing or wrong." in page.inner_text("main")
    assert live.run(live.app.store.dnc.is_listed(phone=BEN))
    assert [e for e in live.audit() if e.action == "dnc.remove"] == []
