"""A confirmation call end to end: the service's campaign -> runner -> LiveKit fake -> pipeline.

The confirmations campaign is filled from the calendar by ``store.confirmations.fill`` (as the
service does), then run by the real campaign runner with the real dialer against the LiveKit
fake, and the call runs through the real CallSession and Gemini Live service against the local
emulator, which follows a script (it is not the real model): the patient asks to move the
appointment; Elo lists the callee's appointments and reschedules. Afterwards the old slot is
free, the new one held, and the appointment keeps its id with ``revision`` + 1; the sender then
mails the patient a changed invite through a real SMTP server: same UID, SEQUENCE 1, the new time.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from icalendar import Calendar

from config.settings_messages import MessagesSettings
from devtools.gemini_emulator import GeminiLiveEmulator, tool_call, wait_for_audio
from devtools.livekit_fake import FakeLiveKitServer
from messaging.sender import Sender, SenderConfig
from messaging.smtp import SmtpEmailChannel
from storage import Booked, Store
from tests.campaign.conftest import API_KEY, API_SECRET
from tests.campaign.pipeline_campaign import run_pipeline_campaign
from tests.conftest import TIRANE, FixedClock
from tests.messaging.conftest import ALWAYS, FROM, email_settings
from tests.messaging.fakes import SmtpServer
from tests.pipeline.harness import NAME, PHONE, file_transport, goodbye, greeting
from tests.storage.booking import at


async def _slots(store: Store, appointment_id: int) -> list[tuple[int, str]]:
    rows = await store.db.rows(
        "SELECT chair, slot_start FROM appointment_slots WHERE appointment_id = ?"
        " ORDER BY slot_start",
        (appointment_id,),
    )
    return [(row[0], row[1]) for row in rows]


@pytest.mark.slow
@pytest.mark.asyncio
async def test_a_confirmation_call_reschedules_through_the_real_pipeline(
    tmp_path: Path,
    store: Store,
    clinic: Any,
    clock: FixedClock,
    request: pytest.FixtureRequest,
) -> None:
    await store.patients.upsert(phone=PHONE, name=NAME, email="arta@example.com")
    booked = await store.appointments.book(
        phone=PHONE, name=NAME, service_id="checkup", starts_at=at(10), ends_at=at(10, 30),
        slot=clinic.slot, chairs=clinic.chairs, price_lek=2000, source="agent",
    )  # fmt: skip
    assert isinstance(booked, Booked)
    appointment = booked.appointment
    fill = await store.confirmations.fill(
        start=clock.now, end=clock.now + timedelta(hours=48), max_concurrent_calls=1,
        max_attempts=3,
    )  # fmt: skip
    campaign = await store.campaigns.get(name="confirmations")
    assert fill.added == 1 and campaign is not None and campaign.purpose == "confirmation"

    # The booking's confirmation (with its invite) reaches the patient before the call.
    smtp = SmtpServer().start()
    request.addfinalizer(smtp.stop)
    sender = Sender(
        store=store,
        config=SenderConfig(
            clinic=clinic, window=ALWAYS, settings=MessagesSettings(), from_address=FROM
        ),
        sms=None,
        email=SmtpEmailChannel(email_settings(smtp)),
        clock=clock,
    )
    assert (await sender.run_once()).sent == 1

    script = [
        *greeting(),
        wait_for_audio(seconds=0.5),  # "I can't come at ten, can we make it three?"
        tool_call("my_appointments", {}, id="mine"),
        tool_call(
            "reschedule_appointment",
            {"appointment_id": appointment.id, "new_time": "2026-12-02T15:00"},
            id="move",
        ),
        *goodbye("completed"),
    ]
    async with GeminiLiveEmulator(script) as emu, FakeLiveKitServer(API_KEY, API_SECRET) as lk:
        await run_pipeline_campaign(
            tmp_path, emu, lk, store, clinic, clock, campaign=campaign, transport=file_transport
        )
        responses = {r.id: r.response.get("value", r.response) for r in emu.function_responses}
        instruction = emu.setups[0].system_instruction

    # The call knew why it was placed: the appointment's id, day and time, not the service.
    assert f"confirm the appointment (appointment_id {appointment.id})" in instruction
    assert "on Wednesday 2026-12-02 at 10:00" in instruction
    listed = responses["mine"]["appointments"]
    assert [(a["appointment_id"], a["time"]) for a in listed] == [(appointment.id, "10:00")]
    moved = responses["move"]
    assert (moved["status"], moved["time"], moved["previous_time"]) == (
        "rescheduled",
        "15:00",
        "10:00",
    )

    after = await store.calendar.get(appointment_id=appointment.id)
    assert (after.id, after.revision, after.status) == (appointment.id, 1, "scheduled")
    assert after.starts_at == at(15).astimezone(TIRANE)
    assert await _slots(store, appointment.id) == [(appointment.chair, "2026-12-02T14:00:00Z")]
    # The old 10:00 slot is free: someone else can book exactly it.
    other = await store.appointments.book(
        phone="+355682223344", name="Ben Lika", service_id="checkup", starts_at=at(10),
        ends_at=at(10, 30), slot=clinic.slot, chairs=1, price_lek=2000, source="agent",
    )  # fmt: skip
    assert isinstance(other, Booked)

    # The attempt settled the appointment: booked (it stands), not a refusal that would pause
    # the next confirmation call to the number.
    (contact,) = await store.campaigns.contacts(campaign_id=campaign.id)
    (attempt,) = await store.campaigns.attempts(contact_id=contact.id)
    assert (attempt.outcome, contact.state, contact.appointment_id) == (
        "booked",
        "done",
        appointment.id,
    )

    # The patient's calendar follows: the move sends a changed invite of the same event.
    assert (await sender.run_once()).sent == 1
    events = {}
    for mail in smtp.mails():
        for part in mail.iter_attachments():
            if part.get_content_type() == "text/calendar":
                (event,) = Calendar.from_ical(part.get_payload(decode=True)).walk("VEVENT")
                events[int(event["SEQUENCE"])] = event
    assert sorted(events) == [0, 1]
    assert str(events[0]["UID"]) == str(events[1]["UID"])
    assert events[0].decoded("DTSTART") == at(10)
    assert events[1].decoded("DTSTART") == at(15)
