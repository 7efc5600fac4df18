"""StoreInbox on a real SQLite store: what a patient's SMS reply changes in the database."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta

import pytest

from messaging.sms_replies import Reply
from messaging.store_inbox import DECLINED_REASON, StoreInbox
from storage import Store
from storage.appointments import Booked
from tests.conftest import TIRANE, FixedClock

PATIENT = "+355691234567"
OTHER = "+355682345678"
SLOT = timedelta(minutes=30)


async def _book(store: Store, phone: str, starts_at: datetime, name: str = "Arta Hoxha"):
    booked = await store.appointments.book(
        phone=phone,
        name=name,
        service_id="checkup",
        starts_at=starts_at,
        ends_at=starts_at + SLOT,
        slot=SLOT,
        chairs=2,
        price_lek=3000,
        source="agent",
    )
    assert isinstance(booked, Booked)
    return booked.appointment


def _rows(db_path, sql: str) -> list[tuple]:
    with sqlite3.connect(db_path) as db:
        return db.execute(sql).fetchall()


@pytest.mark.asyncio
async def test_confirm_sets_the_next_upcoming_appointment_confirmed_and_audits_it(
    store: Store, clock: FixedClock, db_path
):
    past = await _book(store, PATIENT, datetime(2026, 11, 30, 9, 0, tzinfo=TIRANE))
    later = await _book(store, PATIENT, datetime(2026, 12, 9, 9, 0, tzinfo=TIRANE))
    nxt = await _book(store, PATIENT, datetime(2026, 12, 2, 10, 0, tzinfo=TIRANE))
    someone_else = await _book(store, OTHER, datetime(2026, 12, 2, 9, 0, tzinfo=TIRANE), "Ben")

    await StoreInbox(store).on_reply(phone=PATIENT, reply=Reply.CONFIRM, provider_id="SMin1")

    statuses = dict(_rows(db_path, "SELECT id, status FROM appointments"))
    assert statuses[nxt.id] == "confirmed"
    assert {statuses[a.id] for a in (past, later, someone_else)} == {"scheduled"}
    (audit,) = await store.audit.list()
    assert (audit.actor, audit.action, audit.subject) == (
        "sms",
        "appointment.confirm",
        f"appointment:{nxt.id}",
    )
    assert PATIENT not in str(audit.model_dump())


@pytest.mark.asyncio
async def test_a_second_confirm_changes_nothing_more(store: Store, db_path):
    await _book(store, PATIENT, datetime(2026, 12, 2, 10, 0, tzinfo=TIRANE))
    inbox = StoreInbox(store)
    await inbox.on_reply(phone=PATIENT, reply=Reply.CONFIRM, provider_id="SMin1")
    await inbox.on_reply(phone=PATIENT, reply=Reply.CONFIRM, provider_id="SMin2")
    assert len(await store.audit.list()) == 1


@pytest.mark.asyncio
async def test_confirm_without_an_upcoming_appointment_changes_nothing(store: Store, db_path):
    await _book(store, PATIENT, datetime(2026, 11, 30, 9, 0, tzinfo=TIRANE))
    await StoreInbox(store).on_reply(phone=PATIENT, reply=Reply.CONFIRM, provider_id="SMin1")
    assert _rows(db_path, "SELECT status FROM appointments") == [("scheduled",)]
    assert await store.audit.list() == []


@pytest.mark.asyncio
async def test_decline_creates_a_follow_up_for_staff(store: Store, clock: FixedClock):
    appointment = await _book(store, PATIENT, datetime(2026, 12, 2, 10, 0, tzinfo=TIRANE))
    await StoreInbox(store).on_reply(phone=PATIENT, reply=Reply.DECLINE, provider_id="SMin1")
    (follow_up,) = await store.follow_ups.list()
    assert follow_up.reason == DECLINED_REASON
    assert follow_up.due_at == clock.now
    assert follow_up.patient_id == appointment.patient_id
    # The appointment itself waits for staff: they call the patient back.
    (kept,) = await store.appointments.list(
        start=appointment.starts_at, end=appointment.ends_at, active_only=False
    )
    assert kept.status == "scheduled"
    (audit,) = await store.audit.list()
    assert (audit.actor, audit.subject) == ("sms", f"follow_up:{follow_up.id}")


@pytest.mark.asyncio
@pytest.mark.parametrize("reply", list(Reply))
async def test_a_number_with_no_patient_changes_nothing(store: Store, db_path, reply):
    await _book(store, PATIENT, datetime(2026, 12, 2, 10, 0, tzinfo=TIRANE))
    before = _rows(db_path, "SELECT * FROM appointments") + _rows(db_path, "SELECT * FROM patients")
    await StoreInbox(store).on_reply(phone=OTHER, reply=reply, provider_id="SMin1")
    after = _rows(db_path, "SELECT * FROM appointments") + _rows(db_path, "SELECT * FROM patients")
    assert after == before
    assert _rows(db_path, "SELECT count(*) FROM follow_ups") == [(0,)]
    assert await store.audit.list() == []


@pytest.mark.asyncio
async def test_unknown_text_from_a_patient_changes_nothing(store: Store, db_path):
    await _book(store, PATIENT, datetime(2026, 12, 2, 10, 0, tzinfo=TIRANE))
    await StoreInbox(store).on_reply(phone=PATIENT, reply=Reply.UNKNOWN, provider_id="SMin1")
    assert _rows(db_path, "SELECT status FROM appointments") == [("scheduled",)]
    assert _rows(db_path, "SELECT count(*) FROM follow_ups") == [(0,)]


@pytest.mark.asyncio
async def test_stop_opts_the_number_out_of_sms_and_skips_its_waiting_messages(
    store: Store, db_path
):
    await _book(store, PATIENT, datetime(2026, 12, 9, 10, 0, tzinfo=TIRANE))
    waiting = "SELECT count(*) FROM messages WHERE channel = 'sms' AND status = 'pending'"
    assert _rows(db_path, waiting)[0][0] >= 1
    await StoreInbox(store).on_reply(phone=PATIENT, reply=Reply.STOP, provider_id="SMin1")
    assert await store.messages.opted_out(patient_phone=PATIENT) == {"sms"}
    assert _rows(db_path, waiting) == [(0,)]


@pytest.mark.asyncio
async def test_a_delivery_report_is_recorded_on_its_message(store: Store):
    await _book(store, PATIENT, datetime(2026, 12, 9, 10, 0, tzinfo=TIRANE))
    claimed = await store.messages.claim(lease=timedelta(minutes=5), limit=1, channels=("sms",))
    assert await store.messages.mark_sent(message_id=claimed[0].message.id, provider_id="SM1")
    await StoreInbox(store).on_status(provider_id="SM1", status="delivered", error_code=None)
    (item,) = await store.messages.list(status="sent")
    assert item.delivery_status == "delivered"
