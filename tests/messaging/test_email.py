"""Emails through a real SMTP server: parsed with email and icalendar, as a calendar reads them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from email.message import EmailMessage

import pytest
from icalendar import Calendar, Event

from messaging.sender import Sender
from storage import Booked, Store
from tests.conftest import FixedClock
from tests.messaging.fakes import SmtpServer
from tests.storage.booking import PHONE, SLOT, at, book

pytestmark = pytest.mark.asyncio
EMAIL = "arta@example.com"


async def _patient_with_email(store: Store, language: str = "sq") -> None:
    await store.patients.upsert(phone=PHONE, name="Arta Hoxha", email=EMAIL, language=language)


def _invite(mail: EmailMessage) -> Calendar:
    (part,) = [p for p in mail.iter_attachments() if p.get_content_type() == "text/calendar"]
    return Calendar.from_ical(part.get_payload(decode=True))


def _event(cal: Calendar) -> Event:
    (event,) = cal.walk("VEVENT")
    return event


async def test_a_booking_confirmation_email_carries_the_invite_at_the_booked_time(
    store: Store, smtp: SmtpServer, make_sender: Callable[..., Sender]
) -> None:
    await _patient_with_email(store)
    booked = await book(store, start=at(10, day=9), minutes=60)
    assert isinstance(booked, Booked)
    summary = await make_sender().run_once()
    assert summary.sent == 1  # the email confirmation (no SMS channel in this sender)
    (mail,) = smtp.mails()
    assert mail["To"] == EMAIL
    body = mail.get_body(("plain",)).get_content()
    assert "Klinika Dentare Buzëqeshja" in body and "10:00" in body and "9 dhjetor 2026" in body
    assert "+35542223344" in body  # how to reschedule: the clinic's number
    cal = _invite(mail)
    assert cal["METHOD"] == "REQUEST"
    event = _event(cal)
    start = event.decoded("DTSTART")
    assert start == at(10, day=9) and str(start.tzinfo) == "Europe/Tirane"
    assert event["DTSTART"].params["TZID"] == "Europe/Tirane"
    assert event.decoded("DTEND") == at(11, day=9)
    assert str(event["UID"]) == f"appt-{booked.appointment.id}@buzeqeshja.example"
    assert int(event["SEQUENCE"]) == 0
    assert [tz["TZID"] for tz in cal.walk("VTIMEZONE")] == ["Europe/Tirane"]
    # Never the service or anything about the patient's health.
    raw = smtp.received[0].decode()
    assert "check-up" not in raw.lower() and "kontroll" not in raw.lower()


async def test_a_move_keeps_the_uid_and_raises_the_sequence_and_a_cancel_is_a_cancel(
    store: Store, smtp: SmtpServer, make_sender: Callable[..., Sender], clock: FixedClock
) -> None:
    await _patient_with_email(store)
    booked = await book(store, start=at(10, day=9))
    assert isinstance(booked, Booked)
    sender = make_sender()
    await sender.run_once()
    aid = booked.appointment.id
    await store.calendar.move(
        appointment_id=aid,
        starts_at=at(15, day=10),
        ends_at=at(15, 30, day=10),
        slot=SLOT,
        chairs=1,
        actor="web:arta",
    )
    await sender.run_once()
    await store.calendar.cancel(appointment_id=aid, reason=None, actor="web:arta")
    await sender.run_once()
    first, moved, cancelled = smtp.mails()
    uids = {str(_event(_invite(m))["UID"]) for m in (first, moved, cancelled)}
    assert uids == {f"appt-{aid}@buzeqeshja.example"}
    moved_event = _event(_invite(moved))
    assert int(moved_event["SEQUENCE"]) == 1
    assert moved_event.decoded("DTSTART") == at(15, day=10)
    assert "15:00" in moved.get_body(("plain",)).get_content()
    cancel_cal = _invite(cancelled)
    assert cancel_cal["METHOD"] == "CANCEL"
    assert str(_event(cancel_cal)["STATUS"]) == "CANCELLED"
    assert int(_event(cancel_cal)["SEQUENCE"]) == 1
    assert cancelled.get_content_type() == "multipart/mixed"
    # Three different messages, three different Message-IDs, each derived from its row.
    assert len({m["Message-ID"] for m in (first, moved, cancelled)}) == 3
    # The old time's reminders were skipped, and the new time's with the cancellation.
    clock.now = at(8, day=10)
    assert (await sender.run_once()).sent == 0
    assert len(smtp.mails()) == 3


async def test_a_reminder_goes_when_due_in_the_patients_language(
    store: Store, smtp: SmtpServer, make_sender: Callable[..., Sender], clock: FixedClock
) -> None:
    await _patient_with_email(store, language="it")
    await book(store, start=at(10, day=9))
    sender = make_sender()
    await sender.run_once()
    clock.now = at(10, day=7) + timedelta(seconds=1)  # two days before, and a second
    assert (await sender.run_once()).sent == 1
    reminder = smtp.mails()[-1]
    assert reminder["Subject"].startswith("Promemoria")
    assert "mercoledì 9 dicembre 2026 alle 10:00" in reminder.get_body(("plain",)).get_content()
    assert not list(reminder.iter_attachments())  # a reminder has no invite
    assert (await sender.run_once()).sent == 0
