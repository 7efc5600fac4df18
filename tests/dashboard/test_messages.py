"""The Messages page in Chromium: masked recipients (never a full number or email), filters,
a dead message with its reason, "Send again" (audited, the row waiting again), a cancelled
appointment's dead message refused; the patient page's messages and opt-out controls (admins
only, also by direct POST)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from storage import Booked
from storage.outbox_plan import OutboxPlan
from tests.conftest import TIRANE
from tests.dashboard.conftest import LiveDashboard, csrf_of, sign_in

pytestmark = pytest.mark.browser
NUMBER = "+355691112201"
EMAIL = "arta.hoxha@example.com"


def _book(live: LiveDashboard, days: int) -> Booked:
    # The served settings configure no provider; plan both channels as storage's default does.
    live.app.store.db.outbox = OutboxPlan()
    start = (live.clock.now.astimezone(TIRANE) + timedelta(days=days)).replace(
        hour=10, minute=0, second=0, microsecond=0
    )
    booked = live.run(
        live.app.store.appointments.book(
            phone=NUMBER,
            name="Arta Hoxha",
            service_id=next(iter(live.app.clinic.services_by_id)),
            starts_at=start,
            ends_at=start + timedelta(minutes=30),
            slot=timedelta(minutes=30),
            chairs=1,
            price_lek=2000,
            source="agent",
        )
    )
    assert isinstance(booked, Booked)
    return booked


def _set(live: LiveDashboard, sql: str, *params: Any) -> None:
    async def write() -> None:
        async with live.app.store.db.transaction() as conn:
            await conn.execute(sql, params)

    live.run(write())


def _ids(live: LiveDashboard, appointment_id: int) -> list[int]:
    page = live.run(live.app.store.message_board.page(limit=200))
    return [m.id for m in page.items if m.appointment_id == appointment_id]


def _no_full_address(html: str) -> None:
    assert NUMBER[1:] not in html and NUMBER[4:] not in html and EMAIL not in html


def test_list_masks_filters_and_sends_a_dead_message_again(
    live: LiveDashboard, page: Any, check_page: Any
) -> None:
    _set_email = "UPDATE patients SET email = ? WHERE phone = ?"
    kept = _book(live, 3)
    _set(live, _set_email, EMAIL, NUMBER)
    gone = _book(live, 5)
    dead, failed = _ids(live, kept.appointment.id)[:2]
    _set(
        live,
        "UPDATE messages SET status='dead', attempts=5, last_error='opted out' WHERE id=?",
        dead,
    )
    _set(live, "UPDATE messages SET status='failed', last_error='Twilio 30003' WHERE id=?", failed)
    cancelled_dead = _ids(live, gone.appointment.id)[0]
    live.run(
        live.app.store.calendar.cancel(appointment_id=gone.appointment.id, reason=None, actor="x")
    )
    _set(live, "UPDATE messages SET status='dead', last_error='x' WHERE id=?", cancelled_dead)
    live.add_user("Staff", role="staff")
    sign_in(page, "Staff")
    page.goto("/messages")
    _no_full_address(page.content())
    assert "Dead messages: 2" in page.locator("#dead-count").inner_text()
    recipients = set(page.locator("td.recipient").all_inner_texts())
    assert any(r.endswith("01") and "*" in r for r in recipients)
    assert any("@" in r and "*" in r for r in recipients)
    row = page.locator(f"#message-{dead}")
    assert "Dead letter" in row.inner_text()
    assert "The patient opted out of this channel" in row.inner_text()
    assert "Twilio 30003" in page.locator(f"#message-{failed}").inner_text()
    check_page(page, "messages")
    page.click("#dead-count a")
    assert page.locator("tr.message-row").count() == 2
    page.goto("/messages?channel=email")
    assert page.locator("tr.message-row").count() > 0
    assert all("Email" in t for t in page.locator("tr.message-row").all_inner_texts())
    page.goto("/messages?status=dead")
    page.locator(f"#message-{dead} button").click()
    assert "waits to be sent again" in page.locator(".notice").inner_text()
    page.goto("/messages?status=pending")
    assert "Waiting" in page.locator(f"#message-{dead}").inner_text()
    again = live.run(live.app.store.message_board.page(status="pending", limit=200))
    assert [m.attempts for m in again.items if m.id == dead] == [0]
    audit = [(e.actor, e.subject) for e in live.audit() if e.action == "message.retry"]
    assert audit == [("web:Staff", f"message:{dead}")]
    page.goto("/messages?status=dead")
    page.locator(f"#message-{cancelled_dead} button").click()
    assert "cannot be sent again" in page.locator(".notice").inner_text()
    assert "Dead letter" in page.locator(f"#message-{cancelled_dead}").inner_text()
    assert [e for e in live.audit() if e.subject == f"message:{cancelled_dead}"] == []


def test_patient_page_messages_and_opt_out_rights(
    live: LiveDashboard, page: Any, browser: Any, check_page: Any
) -> None:
    booked = _book(live, 3)
    pid = booked.appointment.patient_id
    live.add_user("Staff", role="staff")
    live.add_user("Admin", role="admin")
    sign_in(page, "Staff")
    page.goto(f"/patients/{pid}")
    assert page.locator("#messages tbody tr").count() > 0
    _no_full_address(page.content())
    assert page.locator("#stop-sms").count() == 0
    answer = page.request.post(
        f"/patients/{pid}/messages/sms/stop", form={"csrf_token": csrf_of(page)}
    )
    assert answer.status == 403
    assert live.run(live.app.store.message_board.opt_outs(patient_id=pid)) == []
    page.context.clear_cookies()
    sign_in(page, "Admin")
    page.goto(f"/patients/{pid}")
    page.click("#stop-sms")
    assert "stopped" in page.locator("#patient-opt-outs").inner_text()
    check_page(page, "patient-messages")
    stops = live.run(live.app.store.message_board.opt_outs(patient_id=pid))
    assert [o.channel for o in stops] == ["sms"]
    page.click("#allow-sms")
    assert live.run(live.app.store.message_board.opt_outs(patient_id=pid)) == []
    actions = [(e.actor, e.action) for e in live.audit() if e.subject == f"patient:{pid}"]
    assert ("web:Admin", "message.opt_out") in actions
    assert ("web:Admin", "message.opt_in") in actions
