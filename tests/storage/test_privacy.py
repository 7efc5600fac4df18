"""Privacy rights in SQLite: retention purge, a person's export and erasure, the hashed DNC list,
and private file modes. Real database files in tmp dirs; times from a fixed clock."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import stat
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from config.settings import AppSettings
from storage import Booked, CallAttempt, NewContact, Store
from storage.errors import PrivacyError
from storage.models import AttemptOutcome
from storage.patients import ANONYMOUS_PHONE
from storage.privacy_keys import key_file_for, phone_hash
from storage.retention import retention_task
from tests.conftest import DEFAULT_NOW, TIRANE, FixedClock, claim

ARTA = "+355691234567"
BEN = "+355682223344"
SLOT = timedelta(minutes=30)
OLD = timedelta(days=100)
TRANSCRIPT = [{"role": "user", "text": "Jam Arta Hoxha, më telefononi në 069 123 4567"}]
BEN_TRANSCRIPT = [{"role": "user", "text": "Jo, faleminderit"}]


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


async def _book(store: Store, phone: str, name: str, starts_in: timedelta, call_id: str) -> int:
    starts = store.db.clock() + starts_in
    booked = await store.appointments.book(
        phone=phone,
        name=name,
        service_id="cleaning",
        starts_at=starts,
        ends_at=starts + SLOT,
        slot=SLOT,
        chairs=3,
        price_lek=3000,
        source="agent",
        call_id=call_id,
    )
    assert isinstance(booked, Booked)
    return booked.appointment.id


async def _call(
    store: Store, call_id: str, phone: str, *, booked: int = 0, transcript: Any = TRANSCRIPT
) -> None:
    await store.calls.start(call_id=call_id, phone=phone)
    await store.calls.save_progress(
        call_id=call_id, transcript=transcript, counters={"turns": 2}, turns=2, tool_calls=1
    )
    await store.calls.finish(
        call_id=call_id,
        outcome="booked" if booked else "declined",
        outcome_reason="patient said so",
        appointments_booked=booked,
        revenue_booked=3000 * booked,
    )


async def _seed(store: Store, clock: FixedClock) -> dict[str, Any]:
    """Arta: an old call that booked, an old done and an old pending callback, an old campaign
    attempt; Ben: a recent call and an attempt 40 days ago. Returns the ids."""
    clock.now = DEFAULT_NOW - OLD
    await _call(store, "old-call", ARTA, booked=1)
    await _book(store, ARTA, "Arta Hoxha", timedelta(days=1), "old-call")
    done, _ = await store.follow_ups.create(
        phone=ARTA, name="Arta Hoxha", due_at=clock.now, reason="sister", source="agent"
    )
    pending, _ = await store.follow_ups.create(
        phone=ARTA, name="Arta Hoxha", due_at=clock.now, reason="later", source="agent"
    )
    await store.db.conn.execute("UPDATE follow_ups SET status = 'done' WHERE id = ?", (done.id,))
    campaign = await store.campaigns.create(name="Recall", purpose="recall")
    await store.campaigns.add_contacts(
        campaign_id=campaign.id,
        contacts=[NewContact(phone=ARTA, name="Arta Hoxha"), NewContact(phone=BEN, name="Ben")],
    )
    arta_contact, ben_contact = await store.campaigns.contacts(campaign_id=campaign.id)
    old_attempt = await _attempt(store, clock, arta_contact.id, "old-call", "booked")
    await store.db.conn.execute(
        "UPDATE campaign_contacts SET state = 'done', done_reason = 'booked' WHERE id = ?",
        (arta_contact.id,),
    )
    clock.now = DEFAULT_NOW - timedelta(days=40)
    ben_attempt = await _attempt(store, clock, ben_contact.id, "ben-call", "declined")
    clock.now = DEFAULT_NOW - timedelta(days=1)
    await _call(store, "new-call", BEN, transcript=BEN_TRANSCRIPT)
    # An upcoming booking of Arta's, made yesterday by staff.
    upcoming = await _book(store, ARTA, "Arta Hoxha", timedelta(days=3), "new-call")
    clock.now = DEFAULT_NOW
    return {
        "campaign": campaign,
        "done": done.id,
        "pending": pending.id,
        "old_attempt": old_attempt.id,
        "ben_attempt": ben_attempt.id,
        "arta_contact": arta_contact.id,
        "upcoming": upcoming,
    }


async def _attempt(
    store: Store, clock: FixedClock, contact_id: int, call_id: str, outcome: AttemptOutcome
) -> CallAttempt:
    """One finished campaign attempt, claimed and completed as the runner would."""
    claimed = await claim(
        store, contact_id=contact_id, room=f"room-{call_id}", call_id=call_id, now=clock.now
    )
    assert claimed.attempt is not None, claimed
    return await store.queue.complete_attempt(
        attempt_id=claimed.attempt.id,
        outcome=outcome,
        sip_status=None,
        duration_s=None,
        next_call_at=None,
        done_reason=None,
    )


async def _rows(store: Store, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    return [dict(row) for row in await store.db.conn.execute_fetchall(sql, params)]


async def _analytics(store: Store) -> list[dict[str, Any]]:
    return await _rows(store, "SELECT * FROM call_analytics ORDER BY day")


async def _every_value(store: Store) -> list[str]:
    """Every text value in every table, to look for a person's data anywhere."""
    values = []
    if store.db.dialect == "postgresql":
        sql = (
            "SELECT table_name AS name FROM information_schema.tables"
            " WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
        )
    else:
        sql = "SELECT name FROM sqlite_master WHERE type = 'table'"
    tables = await _rows(store, sql + " ORDER BY name")
    assert {"patients", "patient_names", "calls", "do_not_call"} <= {t["name"] for t in tables}
    for table in tables:
        # Sorted: PostgreSQL returns rows in no fixed order (an update moves a row).
        for row in sorted(await _rows(store, f"SELECT * FROM {table['name']}"), key=repr):
            values += [str(v) for v in row.values() if v is not None]
    return values


# --- retention -------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_purge_scrubs_old_calls_and_keeps_daily_totals(
    store: Store, clock: FixedClock
) -> None:
    ids = await _seed(store, clock)
    analytics = await _analytics(store)

    counts = await store.privacy.purge(retention_days=90, keep_attempts_days=60)

    assert counts.as_dict() == {
        "calls": 1,
        "follow_ups": 1,
        "attempts": 1,
        "contacts": 1,
        "messages": 0,
    }
    old = await store.calls.get(call_id="old-call")
    assert old is not None
    assert (old.transcript, old.counters, old.phone, old.patient_id, old.outcome_reason) == (
        [],
        {},
        None,
        None,
        None,
    )
    # What the daily roll-up counts stays on the row.
    assert (old.outcome, old.appointments_booked, old.revenue_booked, old.turns) == (
        "booked",
        1,
        3000,
        2,
    )
    new = await store.calls.get(call_id="new-call")
    assert new is not None and new.transcript == BEN_TRANSCRIPT and new.phone == BEN
    assert await _analytics(store) == analytics
    report = await store.health.check(slot_minutes=30)
    assert report.healthy, report.problems
    follow_ups = {row["id"] for row in await _rows(store, "SELECT id FROM follow_ups")}
    assert follow_ups == {ids["pending"]}  # pending callbacks are work, not history
    attempts = {
        row["id"]: row["phone"] for row in await _rows(store, "SELECT * FROM call_attempts")
    }
    assert attempts == {ids["old_attempt"]: None, ids["ben_attempt"]: BEN}
    (contact,) = await _rows(
        store, "SELECT * FROM campaign_contacts WHERE id = ?", (ids["arta_contact"],)
    )
    assert contact["phone"].startswith("+999") and contact["name"] == "-"
    assert contact["done_reason"] == "booked"  # campaign statistics keep the outcome
    status = await store.campaigns.status(campaign_id=ids["campaign"].id)
    assert status.model_dump()["outcomes"]["booked"] == 1
    (audit,) = await store.audit.list()
    assert (audit.actor, audit.action, audit.subject) == ("system", "privacy.purge", None)
    assert audit.detail == {**counts.as_dict(), "retention_days": 90}
    # A second purge finds nothing more.
    assert sum((await store.privacy.purge(retention_days=90)).as_dict().values()) == 0


@pytest.mark.asyncio
async def test_purge_dry_run_counts_and_changes_nothing(store: Store, clock: FixedClock) -> None:
    await _seed(store, clock)
    before = await _every_value(store)

    counts = await store.privacy.purge(retention_days=90, keep_attempts_days=60, dry_run=True)

    assert counts.as_dict() == {
        "calls": 1,
        "follow_ups": 1,
        "attempts": 1,
        "contacts": 1,
        "messages": 0,
    }
    assert await _every_value(store) == before
    assert await store.audit.list() == []


@pytest.mark.asyncio
async def test_purge_keeps_attempt_numbers_as_long_as_the_calling_rules_look_back(
    store: Store, clock: FixedClock
) -> None:
    ids = await _seed(store, clock)

    # Retention of 30 days would reach Ben's refusal 40 days ago, but the refusal pause
    # (60 days) still needs its number: it stays, and so does Ben's contact.
    await store.privacy.purge(retention_days=30, keep_attempts_days=60)

    (ben,) = await _rows(
        store, "SELECT phone FROM call_attempts WHERE id = ?", (ids["ben_attempt"],)
    )
    assert ben["phone"] == BEN
    assert await _rows(store, "SELECT 1 FROM campaign_contacts WHERE phone = ?", (BEN,))
    # The calls of the last 30 days keep their transcripts; older ones do not.
    assert (await store.calls.get(call_id="new-call")).transcript == BEN_TRANSCRIPT  # type: ignore[union-attr]
    assert (await store.calls.get(call_id="old-call")).transcript == []  # type: ignore[union-attr]


# --- access ----------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_export_has_everything_bound_to_the_number_and_audits_without_pii(
    store: Store, clock: FixedClock
) -> None:
    ids = await _seed(store, clock)
    await store.dnc.add(phone=ARTA, reason="asked", source="cli")

    export = await store.privacy.export_person(phone=ARTA, actor="staff1")

    assert export["patient"]["phone"] == ARTA and export["patient"]["name"] == "Arta Hoxha"
    assert len(export["appointments"]) == 2
    assert {f["id"] for f in export["follow_ups"]} == {ids["done"], ids["pending"]}
    assert [c["id"] for c in export["calls"]] == ["old-call"]
    assert export["calls"][0]["transcript"] == TRANSCRIPT
    assert [c["campaign"] for c in export["campaign_contacts"]] == ["Recall"]
    assert [a["id"] for a in export["call_attempts"]] == [ids["old_attempt"]]
    assert export["do_not_call"]["reason"] == "asked"
    (audit,) = await store.audit.list()
    assert (audit.actor, audit.action) == ("staff1", "privacy.export")
    assert audit.subject == store.privacy.subject_hash(ARTA) and len(audit.subject) == 64
    assert audit.detail is not None and audit.detail["calls"] == 1
    assert "691234567" not in str(audit) and "Arta" not in str(audit)


# --- erasure ---------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_erase_leaves_nothing_of_the_person_and_keeps_statistics(
    store: Store, clock: FixedClock
) -> None:
    ids = await _seed(store, clock)
    await store.dnc.add(phone=ARTA, reason="Arta asked", source="agent")
    analytics = await _analytics(store)
    revenue = await _rows(store, "SELECT sum(price_lek) AS lek, count(*) AS n FROM appointments")

    preview = await store.privacy.erase_person(phone=ARTA, actor="staff1", dry_run=True)
    assert await store.patients.get(phone=ARTA) is not None  # a preview erases nothing
    counts = await store.privacy.erase_person(phone=ARTA, actor="staff1")

    assert preview == {k: v for k, v in counts.items() if k != "appointments_cancelled"}
    assert counts["patient"] == 1 and counts["appointments"] == 2 and counts["calls"] == 1
    assert counts["appointments_cancelled"] == 1
    values = await _every_value(store)
    # Any case: patient_names keeps names folded to lower case.
    assert not [
        v for v in values if "691234567" in v or "arta" in v.lower() or "hoxha" in v.lower()
    ]
    assert await store.patients.get(phone=ARTA) is None
    # Appointments stay for revenue, unlinked from the person; the upcoming one is cancelled.
    assert await _rows(store, "SELECT sum(price_lek) AS lek, count(*) AS n FROM appointments") == (
        revenue
    )
    owners = await _rows(
        store, "SELECT DISTINCT p.phone FROM appointments a JOIN patients p ON p.id = a.patient_id"
    )
    assert owners == [{"phone": ANONYMOUS_PHONE}]
    (upcoming,) = await _rows(
        store, "SELECT status FROM appointments WHERE id = ?", (ids["upcoming"],)
    )
    assert upcoming["status"] == "cancelled"
    assert await store.patients.count() == 0  # the anonymous placeholder is nobody
    assert await _analytics(store) == analytics
    report = await store.health.check(slot_minutes=30)
    assert report.healthy, report.problems
    # Ben's data is untouched.
    assert (await store.calls.get(call_id="new-call")).transcript == BEN_TRANSCRIPT  # type: ignore[union-attr]
    entries = await store.audit.list()
    assert (entries[0].action, entries[0].actor) == ("privacy.erase", "staff1")
    assert entries[0].subject == store.privacy.subject_hash(ARTA)
    assert entries[0].detail == counts


@pytest.mark.asyncio
async def test_an_erased_do_not_call_entry_still_blocks_the_number(
    store: Store, clock: FixedClock
) -> None:
    campaign = await store.campaigns.create(name="Recall", purpose="recall")
    await store.dnc.add(phone=ARTA, reason=None, source="cli")
    await store.privacy.erase_person(phone=ARTA, actor="staff1")
    assert await _rows(store, "SELECT * FROM do_not_call") == []

    assert await store.dnc.is_listed(phone=ARTA)
    assert not await store.dnc.is_listed(phone=BEN)
    counts = await store.campaigns.add_contacts(
        campaign_id=campaign.id, contacts=[NewContact(phone=ARTA, name="Arta Hoxha")]
    )
    assert counts.on_do_not_call == 1 and counts.imported == 0
    # A contact that got in another way is still never claimed.
    await store.db.conn.execute(
        "INSERT INTO campaign_contacts (campaign_id, phone, name, created_at)"
        " VALUES (?, ?, 'X', '2026-01-01T00:00:00Z')",
        (campaign.id, ARTA),
    )
    (contact,) = await store.campaigns.contacts(campaign_id=campaign.id)
    claimed = await claim(
        store, contact_id=contact.id, room="room-1", call_id="call-1", now=clock.now, global_cap=2
    )
    assert claimed.skipped == "do_not_call"
    # opt_out again: the number is not written back in clear.
    await store.dnc.add(phone=ARTA, reason="again", source="agent")
    assert await _rows(store, "SELECT * FROM do_not_call") == []
    # Staff can still take it off the list.
    assert await store.dnc.remove(phone=ARTA)
    assert not await store.dnc.is_listed(phone=ARTA)


@pytest.mark.asyncio
async def test_erase_refuses_a_number_in_a_call_and_changes_nothing(
    store: Store, clock: FixedClock
) -> None:
    await _seed(store, clock)
    campaign = await store.campaigns.get(name="Recall")
    assert campaign is not None
    contact = [c for c in await store.campaigns.contacts(campaign_id=campaign.id) if c.phone == BEN]
    # Open: Ben is being called now.
    await claim(store, contact_id=contact[0].id, room="room-ben", call_id="ben-2", now=clock.now)
    before = await _every_value(store)

    with pytest.raises(PrivacyError, match="in a call"):
        await store.privacy.erase_person(phone=BEN, actor="staff1")

    assert await _every_value(store) == before


@pytest.mark.asyncio
async def test_erase_refuses_a_number_in_a_live_call_outside_campaigns(
    store: Store, clock: FixedClock
) -> None:
    await store.calls.start(call_id="live", phone=ARTA)  # e.g. bot.py --phone, still talking
    before = await _every_value(store)
    with pytest.raises(PrivacyError, match="in a call"):
        await store.privacy.erase_person(phone=ARTA, actor="staff1")
    assert await _every_value(store) == before
    # A call left unfinished by a crash a day ago is no live call: erasure goes ahead.
    clock.now += timedelta(days=1)
    counts = await store.privacy.erase_person(phone=ARTA, actor="staff1")
    assert counts["calls"] == 1
    assert (await store.calls.get(call_id="live")).phone is None  # type: ignore[union-attr]


# --- the hash key ----------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_generated_key_file_is_private_and_stable(db_path: Path, clock: FixedClock) -> None:
    async with await Store.open(db_path, tz=TIRANE, clock=clock) as store:
        first = store.privacy.subject_hash(ARTA)
    key_file = key_file_for(db_path)
    assert _mode(key_file) == 0o600
    async with await Store.open(db_path, tz=TIRANE, clock=clock) as store:
        assert store.privacy.subject_hash(ARTA) == first
    assert first == phone_hash(bytes.fromhex(key_file.read_text().strip()), ARTA)


@pytest.mark.asyncio
async def test_a_configured_key_is_used_and_no_file_is_written(
    db_path: Path, clock: FixedClock
) -> None:
    async with await Store.open(db_path, tz=TIRANE, clock=clock, hash_key="s3cret") as store:
        assert store.privacy.subject_hash(ARTA) == phone_hash(b"s3cret", ARTA)
    assert not key_file_for(db_path).exists()


@pytest.mark.asyncio
async def test_a_lost_key_fails_closed(db_path: Path, clock: FixedClock) -> None:
    async with await Store.open(db_path, tz=TIRANE, clock=clock) as store:
        await store.dnc.add(phone=ARTA, reason=None, source="cli")
        await store.privacy.erase_person(phone=ARTA, actor="staff1")
    key_file_for(db_path).unlink()
    async with await Store.open(db_path, tz=TIRANE, clock=clock) as store:
        with pytest.raises(PrivacyError, match="hash key is missing"):
            await store.dnc.is_listed(phone=BEN)


# --- file modes ------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_database_wal_and_shm_are_private_and_new_folders_too(
    tmp_path: Path, clock: FixedClock
) -> None:
    os.chmod(tmp_path, 0o755)
    db = tmp_path / "srv" / "elo" / "elo.db"
    store = await Store.open(db, tz=TIRANE, clock=clock)
    try:
        await store.patients.upsert(phone=ARTA, name="Arta Hoxha")
        for path in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
            assert path.exists(), path
            assert _mode(path) == 0o600, path
    finally:
        await store.close()
    assert _mode(tmp_path / "srv") == 0o700
    assert _mode(tmp_path / "srv" / "elo") == 0o700
    assert _mode(tmp_path) == 0o755  # a folder Elo did not create keeps its mode


@pytest.mark.asyncio
async def test_an_existing_database_keeps_its_mode(db_path: Path, clock: FixedClock) -> None:
    sqlite3.connect(db_path).close()
    os.chmod(db_path, 0o640)
    async with await Store.open(db_path, tz=TIRANE, clock=clock):
        pass
    assert _mode(db_path) == 0o640


# --- the schedule ----------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_retention_task_purges_now_and_again_and_survives_a_failure(
    store: Store, clock: FixedClock, settings: AppSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _seed(store, clock)
    real = store.privacy.purge
    rounds: list[str] = []
    fourth = asyncio.Event()

    async def flaky(**kwargs: Any) -> Any:
        rounds.append("purge")
        if len(rounds) == 4:
            fourth.set()
        if len(rounds) == 2:
            raise sqlite3.OperationalError("database is locked")
        return await real(**kwargs)

    monkeypatch.setattr(store.privacy, "purge", flaky)
    task = asyncio.create_task(retention_task(store, settings, every=timedelta(seconds=0.01)))
    try:
        await asyncio.wait_for(fourth.wait(), timeout=10)
        assert not task.done()  # the failed second round did not end the schedule
    finally:
        task.cancel()
        await asyncio.wait([task])
    old = await store.calls.get(call_id="old-call")
    assert old is not None and old.transcript == []
    # The first round purged; the later ones found nothing more (the failed one wrote nothing).
    details = [e.detail for e in await store.audit.list() if e.action == "privacy.purge"]
    assert len(details) >= 2 and details[-1]["calls"] == 1  # type: ignore[index]
    assert all(d["calls"] == 0 for d in details[:-1])  # type: ignore[index]
