"""The sender over a real SQLite file: what goes, is skipped, retried, dead; crash recovery."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from messaging.channels import PermanentSendError, TemporarySendError
from messaging.sender import Sender
from storage import Booked, Store
from tests.conftest import FixedClock
from tests.messaging.fakes import SmtpServer, StrictSms
from tests.storage.booking import PHONE, at, book

pytestmark = pytest.mark.asyncio
LEASE = timedelta(minutes=5)


async def _statuses(store: Store) -> dict[str, str]:
    rows = await store.db.rows("SELECT idempotency_key, status FROM messages")
    return {row[0]: row[1] for row in rows}


async def test_sms_confirmation_goes_once_and_the_reminder_when_due(
    store: Store, make_sender: Callable[..., Sender], clock: FixedClock
) -> None:
    sms = StrictSms()
    booked = await book(store, start=at(10, day=9))
    assert isinstance(booked, Booked)
    sender = make_sender(sms=sms, email=False)
    assert (await sender.run_once()).sent == 1
    assert (await sender.run_once()).sent == 0
    (first,) = sms.accepted
    assert first["to"] == PHONE and "9 dhjetor 2026" in first["body"]
    assert first["key"] == f"appt:{booked.appointment.id}:confirmation:0:0:sms"
    (row,) = await store.messages.list(status="sent")
    assert row.attempts == 1
    clock.now = at(8, 30, day=9)  # 1 h 30 before: the 2-day and the 2-hour reminders are due
    assert (await sender.run_once()).sent == 2
    assert [r["body"].startswith("Ju kujtojmë") for r in sms.accepted] == [False, True, True]


async def test_a_cancelled_appointments_reminder_is_skipped_with_its_reason(
    store: Store, make_sender: Callable[..., Sender], clock: FixedClock
) -> None:
    sms = StrictSms()
    booked = await book(store, start=at(10, day=9))
    assert isinstance(booked, Booked)
    # Cancelled behind the outbox's back (an old tool, a manual fix): rendering at send time
    # still sees it.
    async with store.db.transaction() as conn:
        await conn.execute(
            "UPDATE appointments SET status = 'cancelled' WHERE id = ?", (booked.appointment.id,)
        )
    clock.now = at(9, day=9)
    summary = await make_sender(sms=sms, email=False).run_once()
    assert summary.sent == 0 and summary.skipped == 3
    assert summary.reasons == {"appointment cancelled": 3}
    assert sms.accepted == []


async def test_an_opted_out_patient_gets_nothing(
    store: Store, make_sender: Callable[..., Sender], clock: FixedClock
) -> None:
    sms = StrictSms()
    await book(store, start=at(10, day=9))
    sender = make_sender(sms=sms, email=False)
    await sender.run_once()
    assert await store.messages.opt_out(patient_phone=PHONE, channel="sms", source="sms:stop")
    clock.now = at(9, day=9)
    assert (await sender.run_once()).sent == 0
    assert len(sms.accepted) == 1  # only the confirmation sent before the STOP


async def test_temporary_failures_wait_with_backoff_then_die_permanent_ones_at_once(
    store: Store, make_sender: Callable[..., Sender], clock: FixedClock
) -> None:
    sms = StrictSms(fail=[TemporarySendError("429 too many requests")] * 3)
    await book(store, start=at(10, day=9))
    sender = make_sender(sms=sms, email=False, max_attempts=2, retry_base_secs=60)
    # In-call: two quick tries, both refused; the row waits a minute.
    summary = await sender.run_once()
    assert summary.failed == 1 and len(sms.fail) == 1
    (row,) = await store.messages.list(status="failed")
    assert row.last_error == "429 too many requests"
    assert (await sender.run_once()).failed == 0  # not yet due again
    clock.now += timedelta(seconds=60)
    summary = await sender.run_once()
    assert summary.sent == 1  # the third try went
    sms.fail = [PermanentSendError("21610 recipient unsubscribed")]
    await book(store, start=at(11, day=9))
    summary = await sender.run_once()
    assert summary.dead == 1
    (dead,) = await store.messages.list(status="dead")
    assert dead.last_error == "21610 recipient unsubscribed"


async def test_a_row_that_keeps_failing_is_dead_after_max_attempts(
    store: Store, make_sender: Callable[..., Sender], clock: FixedClock
) -> None:
    sms = StrictSms(fail=[TemporarySendError("503 provider down")] * 10)
    await book(store, start=at(10, day=9))
    sender = make_sender(sms=sms, email=False, max_attempts=3, in_call_tries=1)
    for _ in range(3):
        await sender.run_once()
        clock.now += timedelta(hours=1)
    (dead,) = await store.messages.list(status="dead")
    assert dead.attempts == 3
    assert dead.last_error == "gave up after 3 tries: 503 provider down"


async def test_after_a_crash_an_sms_the_provider_has_is_not_sent_again(
    store: Store, make_sender: Callable[..., Sender], clock: FixedClock
) -> None:
    sms = StrictSms()
    await book(store, start=at(10, day=9))
    # A sender claimed the confirmation, the provider accepted it, and the sender died.
    (claimed,) = await store.messages.claim(lease=LEASE, limit=5, channels=("sms",))
    sender = make_sender(sms=sms, email=False)
    from messaging.render import render

    body = render(
        "confirmation", language="sq", starts_at=at(10, day=9), clinic=sender._config.clinic
    ).body
    await sms.send(to=PHONE, body=body, idempotency_key=claimed.message.idempotency_key)
    assert (await sender.run_once()).sent == 0  # still inside its lease
    clock.now += LEASE
    summary = await sender.run_once()
    assert summary.sent == 1 and summary.recovered == 1
    assert len(sms.accepted) == 1
    (row,) = await store.messages.list(status="sent")
    assert row.attempts == 2


async def test_after_a_crash_an_sms_the_provider_lacks_is_sent(
    store: Store, make_sender: Callable[..., Sender], clock: FixedClock
) -> None:
    sms = StrictSms()
    await book(store, start=at(10, day=9))
    await store.messages.claim(lease=LEASE, limit=5, channels=("sms",))
    clock.now += LEASE
    summary = await make_sender(sms=sms, email=False).run_once()
    assert summary.sent == 1 and summary.recovered == 0
    assert len(sms.accepted) == 1


async def test_after_a_crash_an_email_is_sent_again_with_the_same_message_id(
    store: Store, make_sender: Callable[..., Sender], clock: FixedClock, smtp: SmtpServer
) -> None:
    await store.patients.upsert(phone=PHONE, name="Arta Hoxha", email="arta@example.com")
    await book(store, start=at(10, day=9))
    sender = make_sender()
    await sender.run_once()
    (first,) = smtp.mails()
    # Pretend the sender died after SMTP accepted it: the row is back to "sending".
    async with store.db.transaction() as conn:
        await conn.execute(
            "UPDATE messages SET status = 'sending', claimed_at = '2026-12-01T07:00:00Z'"
            " WHERE kind = 'confirmation' AND channel = 'email'"
        )
    clock.now += LEASE
    await sender.run_once()
    (first_again,) = smtp.mails()[1:]
    assert first_again["Message-ID"] == first["Message-ID"]


async def test_no_channel_for_a_row_leaves_it_waiting(
    store: Store, make_sender: Callable[..., Sender]
) -> None:
    await book(store, start=at(10, day=9))
    summary = await make_sender(email=True).run_once()  # SMS rows, no SMS channel
    assert summary.sent == 0
    assert set((await _statuses(store)).values()) == {"pending"}


async def test_outside_the_window_nothing_goes_and_the_line_says_until_when(
    store: Store, make_sender: Callable[..., Sender], clock: FixedClock
) -> None:
    from app.calling_rules import CallingWindow

    sms = StrictSms()
    await book(store, start=at(10, day=9))
    # Weekdays 10:00-13:00; the clock is Tuesday 1 December 08:00 (a holiday, skipped).
    window = CallingWindow(days=frozenset(range(5)), intervals=((600, 780),))
    sender = make_sender(sms=sms, email=False, window=window)
    summary = await sender.run_once()
    assert (summary.sent, summary.deferred) == (0, 1)
    assert summary.line().endswith("the calling window is closed until 2026-12-02 10:00")
    clock.now = at(10, day=2)
    assert (await sender.run_once()).sent == 1


async def test_messages_whose_window_opens_after_the_start_are_skipped(
    store: Store, make_sender: Callable[..., Sender], clock: FixedClock
) -> None:
    from app.calling_rules import CallingWindow

    sms = StrictSms()
    await book(store, start=at(9, day=2))  # Wednesday 09:00
    window = CallingWindow(days=frozenset(range(5)), intervals=((600, 780),))  # 10:00-13:00
    clock.now = at(7, day=2)  # the confirmation waited out the holiday; the reminder is due
    summary = await make_sender(sms=sms, email=False, window=window).run_once()
    assert summary.skipped == 2 and sms.accepted == []
    assert summary.reasons == {"the calling window opens only after the appointment starts": 2}


async def test_an_abandoned_sms_is_checked_at_the_provider_even_outside_the_window(
    store: Store, make_sender: Callable[..., Sender], clock: FixedClock
) -> None:
    from app.calling_rules import CallingWindow
    from messaging.render import render

    sms = StrictSms()
    await book(store, start=at(10, day=9))
    (claimed,) = await store.messages.claim(lease=LEASE, limit=5, channels=("sms",))
    sender = make_sender(sms=sms, email=False)
    body = render(
        "confirmation", language="sq", starts_at=at(10, day=9), clinic=sender._config.clinic
    ).body
    await sms.send(to=PHONE, body=body, idempotency_key=claimed.message.idempotency_key)
    clock.now = at(22, day=2)  # the sender died; now it is night (window 10:00-13:00)
    window = CallingWindow(days=frozenset(range(5)), intervals=((600, 780),))
    summary = await make_sender(sms=sms, email=False, window=window).run_once()
    assert (summary.sent, summary.recovered, summary.deferred) == (1, 1, 0)
    assert len(sms.accepted) == 1
