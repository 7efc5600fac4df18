"""The messages outbox in storage: rows written with the change that calls for them."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from storage import Booked, Store
from storage.outbox_plan import OutboxPlan
from tests.conftest import FixedClock
from tests.storage.booking import OTHER, PHONE, SLOT, WED_10, at, book

LEASE = timedelta(minutes=5)
pytestmark = pytest.mark.asyncio


async def _rows(store: Store) -> list[tuple[str, str, str, str]]:
    rows = await store.db.rows(
        "SELECT kind, channel, status, idempotency_key FROM messages ORDER BY id"
    )
    return [tuple(row) for row in rows]


async def _set_email(store: Store, phone: str, email: str) -> None:
    async with store.db.transaction() as conn:
        await conn.execute("UPDATE patients SET email = ? WHERE phone = ?", (email, phone))


async def test_a_booking_plans_a_confirmation_and_two_reminders_by_sms(store: Store) -> None:
    booked = await book(store)
    assert isinstance(booked, Booked)
    aid = booked.appointment.id
    # The clock is Tuesday 08:00; the appointment Wednesday 10:00: 2 days before is past.
    assert await _rows(store) == [
        ("confirmation", "sms", "pending", f"appt:{aid}:confirmation:0:0:sms"),
        ("reminder", "sms", "pending", f"appt:{aid}:reminder:0:7200:sms"),
    ]
    # The reminder is not due yet: only the confirmation is.
    due = await store.messages.due(lease=LEASE)
    assert [m.kind for m in due] == ["confirmation"]


async def test_reminders_fall_due_at_their_offsets_whatever_the_servers_time_zone(
    store: Store,
) -> None:
    # PostgreSQL's throwaway server runs in Europe/Tirane (devtools.postgres.SERVER_TIMEZONE),
    # as a clinic's own server would: stored times stay UTC all the same.
    booked = await book(store, start=at(10, day=9))
    assert isinstance(booked, Booked)
    rows = await store.db.rows(
        "SELECT idempotency_key, due_at FROM messages WHERE kind = 'reminder' ORDER BY due_at"
    )
    assert [(row[0].split(":")[4], row[1]) for row in rows] == [
        ("172800", "2026-12-07T09:00:00Z"),  # two days before 10:00 Tirane (09:00 UTC)
        ("7200", "2026-12-09T07:00:00Z"),  # two hours before
    ]


async def test_a_patient_with_an_email_gets_both_channels(store: Store) -> None:
    await book(store, start=at(10, day=2))
    await _set_email(store, PHONE, "arta@example.com")
    booked = await book(store, start=at(10, day=9))
    assert isinstance(booked, Booked)
    rows = [r for r in await _rows(store) if f"appt:{booked.appointment.id}:" in r[3]]
    assert sorted((kind, ch) for kind, ch, _, _ in rows) == [
        ("confirmation", "email"),
        ("confirmation", "sms"),
        ("reminder", "email"),
        ("reminder", "email"),
        ("reminder", "sms"),
        ("reminder", "sms"),
    ]


async def test_a_failed_booking_leaves_no_message(store: Store) -> None:
    assert isinstance(await book(store), Booked)
    before = await _rows(store)
    # The same chair and slot: refused inside the transaction that would have planned messages.
    taken = await book(store, number=OTHER)
    assert not isinstance(taken, Booked)
    assert await _rows(store) == before


async def test_a_booking_whose_outbox_write_fails_is_rolled_back(
    store: Store, db_path: Path
) -> None:
    # A trigger makes the outbox insert fail: the booking it belongs to must not commit.
    if store.db.dialect == "postgresql":
        async with store.db.transaction() as conn:
            await conn.execute(
                "CREATE FUNCTION no_messages() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
                " RAISE EXCEPTION 'outbox broken' USING ERRCODE = 'check_violation'; END $$"
            )
            await conn.execute(
                "CREATE TRIGGER no_messages BEFORE INSERT ON messages"
                " FOR EACH ROW EXECUTE FUNCTION no_messages()"
            )
    else:
        raw = sqlite3.connect(db_path, isolation_level=None)
        raw.execute(
            "CREATE TRIGGER no_messages BEFORE INSERT ON messages"
            " BEGIN SELECT RAISE(ABORT, 'outbox broken'); END"
        )
        raw.close()
    with pytest.raises(sqlite3.IntegrityError, match="outbox broken"):
        await book(store)
    assert await store.appointments.count() == 0
    assert await store.db.scalar("SELECT count(*) FROM patients") == 0


async def test_opted_out_channels_get_no_rows_and_waiting_ones_are_skipped(store: Store) -> None:
    booked = await book(store, start=at(10, day=9))
    assert isinstance(booked, Booked)
    assert await store.messages.opt_out(patient_phone=PHONE, channel="sms", source="sms:stop")
    assert {s for _, _, s, _ in await _rows(store)} == {"skipped"}
    assert not await store.messages.opt_out(patient_phone=OTHER, channel="sms", source="cli")
    await book(store, start=at(11, day=9))
    assert {s for _, _, s, _ in await _rows(store)} == {"skipped"}
    assert await store.messages.opted_out(patient_phone=PHONE) == {"sms"}


async def test_a_move_skips_old_reminders_and_plans_moved_and_new_ones(store: Store) -> None:
    booked = await book(store, start=at(10, day=9))
    assert isinstance(booked, Booked)
    aid = booked.appointment.id
    moved = await store.calendar.move(
        appointment_id=aid,
        starts_at=at(11, day=10),
        ends_at=at(11, 30, day=10),
        slot=SLOT,
        chairs=1,
        actor="web:arta",
    )
    assert not isinstance(moved, Booked)
    by_key = {key: status for _, _, status, key in await _rows(store)}
    assert by_key[f"appt:{aid}:confirmation:0:0:sms"] == "skipped"
    assert by_key[f"appt:{aid}:reminder:0:7200:sms"] == "skipped"
    assert by_key[f"appt:{aid}:reminder:0:172800:sms"] == "skipped"
    assert by_key[f"appt:{aid}:moved:1:0:sms"] == "pending"
    assert by_key[f"appt:{aid}:reminder:1:7200:sms"] == "pending"
    assert by_key[f"appt:{aid}:reminder:1:172800:sms"] == "pending"


async def test_a_cancel_skips_waiting_ones_and_plans_a_cancelled_message(store: Store) -> None:
    booked = await book(store, start=at(10, day=9))
    assert isinstance(booked, Booked)
    aid = booked.appointment.id
    await store.calendar.cancel(appointment_id=aid, reason=None, actor="web:arta")
    by_key = {key: status for _, _, status, key in await _rows(store)}
    assert by_key.pop(f"appt:{aid}:cancelled:0:0:sms") == "pending"
    assert set(by_key.values()) == {"skipped"}


async def test_cancel_through_set_status_plans_the_cancelled_message(store: Store) -> None:
    booked = await book(store, start=at(10, day=9))
    assert isinstance(booked, Booked)
    aid = booked.appointment.id
    await store.appointments.set_status(appointment_id=aid, status="cancelled")
    kinds = {(k, s) for k, _, s, _ in await _rows(store)}
    assert ("cancelled", "pending") in kinds
    assert ("reminder", "pending") not in kinds


async def test_no_channels_configured_plans_nothing(store: Store) -> None:
    store.db.outbox = OutboxPlan(channels=frozenset())
    await store.patients.upsert(phone=PHONE, name="Arta Hoxha", email="arta@example.com")
    await book(store)
    assert await _rows(store) == []


async def test_planner_adds_reminders_once_for_appointments_without_messages(
    store: Store, clock: FixedClock
) -> None:
    store.db.outbox = OutboxPlan(channels=frozenset())
    for day in (2, 9, 10):
        await book(store, start=at(10, day=day))
    store.db.outbox = OutboxPlan()
    # Wednesday 2 December 10:00 is 26 hours away: only its 2-hour reminder is still ahead.
    # 9 and 10 December are beyond 2 days (the largest offset) and 3 days ahead: not yet.
    assert await store.messages.plan_missing(ahead=timedelta(days=3)) == 1
    assert await store.messages.plan_missing(ahead=timedelta(days=3)) == 0
    clock.now = at(10, day=4)  # now 9 December 10:00 is within 2 + 3 days; the 10th is not
    assert await store.messages.plan_missing(ahead=timedelta(days=3)) == 2
    clock.now = at(11, day=5)
    assert await store.messages.plan_missing(ahead=timedelta(days=3)) == 2
    assert await store.messages.plan_missing(ahead=timedelta(days=3)) == 0
    assert {k for k, _, _, _ in await _rows(store)} == {"reminder"}
    clock.now = WED_10 + timedelta(days=30)
    assert await store.messages.plan_missing() == 0


async def test_claim_takes_due_rows_once_and_takes_back_abandoned_ones(
    store: Store, clock: FixedClock
) -> None:
    await book(store)
    (first,) = await store.messages.claim(lease=LEASE, limit=10)
    assert first.message.status == "sending" and first.abandoned_since is None
    assert first.message.attempts == 1
    assert await store.messages.claim(lease=LEASE, limit=10) == []
    clock.now += LEASE
    (again,) = await store.messages.claim(lease=LEASE, limit=10)
    assert again.message.id == first.message.id
    assert again.abandoned_since == first.message.claimed_at
    assert await store.messages.mark_sent(message_id=again.message.id, provider_id="SM1")
    # A mark only lands on a row being sent.
    assert not await store.messages.mark_dead(message_id=again.message.id, error="late")
    assert await store.messages.record_delivery(
        provider_id="SM1", status="delivered", error_code=None
    )
    assert not await store.messages.record_delivery(
        provider_id="SMx", status="failed", error_code="30003"
    )
    (item,) = [i for i in await store.messages.list(status="sent")]
    assert item.delivery_status == "delivered"
    assert item.to.startswith("+355") and "1234567" not in item.to


async def test_failed_rows_wait_and_deferral_does_not_count(
    store: Store, clock: FixedClock
) -> None:
    await book(store)
    (c,) = await store.messages.claim(lease=LEASE, limit=10)
    assert await store.messages.mark_failed(
        message_id=c.message.id, error="smtp 451", retry_at=clock.now + timedelta(minutes=1)
    )
    assert await store.messages.claim(lease=LEASE, limit=10) == []
    clock.now += timedelta(minutes=1)
    (c2,) = await store.messages.claim(lease=LEASE, limit=10)
    assert c2.message.attempts == 2 and c2.message.last_error == "smtp 451"
    assert await store.messages.defer(message_id=c2.message.id, until=clock.now + LEASE)
    (row,) = [m for m in await store.messages.list(status="pending") if m.id == c2.message.id]
    assert row.attempts == 1


async def test_export_erasure_and_retention_cover_messages(store: Store, clock: FixedClock) -> None:
    await book(store, start=at(10, day=9))
    await book(store, start=at(11, day=9), number=OTHER)
    await store.messages.opt_out(patient_phone=OTHER, channel="email", source="cli")
    export = await store.privacy.export_person(phone=OTHER, actor="test")
    assert {m["kind"] for m in export["messages"]} == {"confirmation", "reminder"}
    assert [o["channel"] for o in export["message_opt_outs"]] == ["email"]
    counts = await store.privacy.erase_person(phone=OTHER, actor="test")
    assert counts["messages"] == 3
    patients = "SELECT count(*) FROM messages m JOIN patients p ON p.id = m.patient_id"
    assert await store.db.scalar(patients + " WHERE p.phone = ?", (OTHER,)) == 0
    assert await store.db.scalar("SELECT count(*) FROM message_opt_outs") == 0
    # Arta's three remain; the sent confirmation goes once it is older than the retention period.
    (c,) = [x for x in await store.messages.claim(lease=LEASE, limit=5)]
    await store.messages.mark_sent(message_id=c.message.id, provider_id="SM1")
    clock.now += timedelta(days=91)
    purged = await store.privacy.purge(retention_days=90)
    assert purged.messages == 1
    assert await store.messages.count() == 2
