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
    assert (
        page.locator("#calls-table tbody tr td:nth-child(5)").all_inner_texts()
        == ["Spring recall"] * 3
    )
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


# What schedule_appointment is given and answers in a real booking call (tools/booking).
BOOKING_ARGUMENTS = {
    "patient_name": "Arbër Çela",
    "preferred_date": "2026-12-02T10:00",
    "service_type": "checkup",
    "phone_number": PATIENT_PHONE,
}
BOOKED_RESULT = {
    "status": "booked",
    "appointment_id": 41,
    "start": "2026-12-02T10:00+01:00",
    "end": "2026-12-02T10:30+01:00",
    "service": {"id": "checkup", "name": "Check-up", "price_lek": 2000},
}
# What schedule_appointment is given and answers in a real booking call (tools/appointments.py).
BOOKING_ARGUMENTS = {
    "patient_name": "Arbër Çela",
    "preferred_date": "2026-12-02T10:00",
    "service_type": "checkup",
    "phone_number": PATIENT_PHONE,
}
BOOKED_RESULT = {
    "status": "booked",
    "appointment_id": 41,
    "service": {"id": "checkup", "name": "Check-up", "price_lek": 2000},
    "start": "2026-12-02T10:00+01:00",
    "end": "2026-12-02T10:30+01:00",
    "clinic_address": "Rruga e Durrësit 1, Tiranë",
    "hint": "Confirm the day, time, service and price back to the patient.",
}


def _tool(at: str, name: str, **entry: Any) -> dict[str, Any]:
    return {"t": at, "role": "tool", "name": name, **entry}


def _seed_booking_call(live: LiveDashboard) -> None:
    """A booking call as a real one stores it (tests/storage/test_call_events.py runs those):
    Elo's and the patient's lines, schedule_appointment with its booked result, end_call."""
    store, clock = live.app.store, live.clock
    now = clock.now
    at = datetime(2026, 12, 1, 9, 0, tzinfo=TIRANE)
    t = "2026-12-01T09:00:{:02d}.000+01:00".format
    entries = [
        {"t": t(1), "role": "elo", "text": "Përshëndetje, jam asistenti i klinikës."},
        {"t": t(4), "role": "patient", "text": f"Dua një kontroll nesër. {MARKUP}"},
        _tool(t(6), "schedule_appointment", arguments=BOOKING_ARGUMENTS),
        _tool(t(7), "schedule_appointment", result=BOOKED_RESULT),
        {"t": t(8), "role": "elo", "text": "U rezervua për nesër në orën 10.", "interrupted": True},
        _tool(t(9), "end_call", arguments={"reason": "completed"}),
        _tool(t(10), "end_call", result={"status": "ending"}),
        {"t": t(11), "role": "elo", "text": "Mirupafshim."},
    ]
    counters = {
        "latency_ms": {"samples": 3, "p50": 512.4, "p95": 901.0},
        "pipeline_ms": {"samples": 3, "p50": 31.0, "p95": 60.6},
    }

    async def seed() -> None:
        await store.patients.upsert(phone=PATIENT_PHONE, name="Arbër Çela")
        await make_call(
            store, clock, call_id="book-1", at=at, outcome=None, phone=PATIENT_PHONE,
            entries=entries, counters=counters,
        )  # fmt: skip
        clock.now = at + timedelta(minutes=2, seconds=5)
        await store.calls.finish(call_id="book-1", outcome="booked", outcome_reason="completed")

    try:
        live.run(seed())
    finally:
        clock.now = now


def test_a_booking_calls_page_in_english_and_albanian_is_audited(
    live: LiveDashboard, page: Any, check_page: Any
) -> None:
    live.add_user("Staff", role="staff")
    _seed_booking_call(live)
    sign_in(page, "Staff")
    page.goto("/calls")
    page.click('tr[data-call="book-1"] a')
    assert page.url == f"{live.url}/calls/book-1"
    summary = page.locator("#summary li").all_inner_texts()
    assert summary == [
        "Booked Check-up on Dec 2, 2026, 10:00:00\u202fAM, until 10:30\u202fAM (2,000 lek).",
        "Elo ended the call (reason: completed).",
    ]
    record = page.inner_text("#record")
    assert "2 min 5 s" in record and "Booked" in record and "Arbër Çela" in record
    assert "+355*******67" in record
    latencies = page.locator("#latencies tbody tr").all_inner_texts()
    assert latencies[0].split("\t")[1:] == ["512 ms", "901 ms", "3"]
    assert latencies[1].split("\t")[1:] == ["31 ms", "61 ms", "3"]
    tools = page.locator("#tool-calls tbody tr")
    assert tools.count() == 2
    booking = tools.nth(0).inner_text()
    assert "schedule_appointment" in booking and "booked" in booking
    assert "A. Ç." in booking and "+355*******67" in booking  # arguments masked
    assert PATIENT_PHONE not in page.content()
    # The transcript, in order; markup a patient said is text, never an element.
    lines = page.locator("#transcript .said").all_inner_texts()
    assert lines[1] == f"Dua një kontroll nesër. {MARKUP}"
    assert lines[2] == "U rezervua për nesër në orën 10. (interrupted)"
    assert len(lines) == 4
    assert page.locator("main img").count() == 0
    check_page(page, "call-page")

    # Albanian: the same summary, worded by the same template part.
    page.click("button[name=language][value=sq]")
    page.wait_for_selector("html[lang=sq]")  # the page came back in Albanian
    assert page.url == f"{live.url}/calls/book-1"
    summary = page.locator("#summary li").all_inner_texts()
    assert summary == [
        "U rezervua Check-up më 2 dhj 2026, 10:00:00\u202fp.d., deri në 10:30\u202fp.d."
        " (2\xa0000 lekë).",
        "Elo e mbylli thirrjen (arsyeja: completed).",
    ]
    assert page.locator("#transcript .said").all_inner_texts()[1].endswith(MARKUP)

    # Each view of the transcript is in the audit trail, with no patient data.
    views = [e for e in live.audit() if e.action == "call.view_transcript"]
    assert [(e.actor, e.subject) for e in views] == [("web:Staff", "book-1")] * 2
    assert "Arbër" not in repr(views) and PATIENT_PHONE not in repr(views)
    assert page.goto("/calls/no-such-call").status == 404
    assert len([e for e in live.audit() if e.action == "call.view_transcript"]) == 2
