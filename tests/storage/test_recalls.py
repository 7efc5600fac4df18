"""store.recalls: who is due a recall, queued with the campaign and its audit in one go."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta

import pytest

from storage import Store
from storage.errors import PrivacyError
from tests.conftest import DEFAULT_NOW, TIRANE, FixedClock
from tests.storage.booking import phone
from tests.storage.test_dashboard_plans import _plan, _statements
from tests.storage.visits import italian_contacts, patient, visit

# Six calendar months before the fixed clock (1 December 2026 08:00, Tirana).
CUTOFF = datetime(2026, 6, 1, 8, 0, tzinfo=TIRANE)
OLD = datetime(2026, 3, 10, 10, 0, tzinfo=TIRANE)
RECALL = {"name": "Recall June", "purpose": "recall"}


async def _build(store: Store, **extra: object) -> tuple[int, int]:
    options = {"limit": None, "actor": "tester", **extra}
    campaign, added = await store.recalls.build(
        campaign=dict(RECALL),
        cutoff=CUTOFF,
        now=DEFAULT_NOW,
        time_zone="Europe/Tirane",
        **options,  # type: ignore[arg-type]
    )
    return campaign.id, added


async def _contacts(store: Store, campaign_id: int) -> dict[str, tuple[str, str]]:
    contacts = await store.campaigns.contacts(campaign_id=campaign_id)
    return {c.phone: (c.name, c.language) for c in contacts}


@pytest.mark.asyncio
async def test_only_patients_last_seen_before_the_cutoff_with_nothing_booked(
    store: Store,
) -> None:
    due = await patient(store, phone(1), "Arta Hoxha", language="en")
    await visit(store, due, OLD)
    await visit(store, due, OLD + timedelta(days=1), "no_show")  # a no-show is no visit
    await visit(store, due, DEFAULT_NOW + timedelta(days=3), "cancelled")  # not active
    # Ended exactly at the cutoff: due; a minute later: not yet.
    edge = await patient(store, phone(2), "Besa Kola")
    await visit(store, edge, CUTOFF - timedelta(minutes=30))
    late = await patient(store, phone(3))
    await visit(store, late, CUTOFF - timedelta(minutes=29))
    # Seen recently (the last completed visit counts, not the first).
    recent = await patient(store, phone(4))
    await visit(store, recent, OLD)
    await visit(store, recent, DEFAULT_NOW - timedelta(days=20))
    # Booked already: scheduled or confirmed from now on.
    for n, status in ((5, "scheduled"), (6, "confirmed")):
        booked = await patient(store, phone(n))
        await visit(store, booked, OLD)
        await visit(store, booked, DEFAULT_NOW + timedelta(days=n), status, chair=n)
    # A scheduled appointment in the past (never marked) does not keep a patient out.
    stale = await patient(store, phone(7), "Drita Leka", language="it")
    await visit(store, stale, OLD)
    await visit(store, stale, DEFAULT_NOW - timedelta(days=2), "scheduled")
    # Never attended at all: no visit to recall.
    never = await patient(store, phone(8))
    await visit(store, never, OLD, "no_show")
    # On the do-not-call list (the call opt-out).
    listed = await patient(store, phone(9))
    await visit(store, listed, OLD)
    await store.dnc.add(phone=phone(9), reason=None, source="cli")

    assert await store.recalls.count(cutoff=CUTOFF, now=DEFAULT_NOW) == 3
    campaign_id, added = await _build(store)
    assert added == 3
    # Italian becomes Albanian until migration 16 lets a contact speak Italian.
    italian = "it" if await italian_contacts(store) else "sq"
    assert await _contacts(store, campaign_id) == {
        phone(1): ("Arta Hoxha", "en"),
        phone(2): ("Besa Kola", "sq"),
        phone(7): ("Drita Leka", italian),
    }
    contacts = await store.campaigns.contacts(campaign_id=campaign_id)
    assert {c.patient_id for c in contacts} == {due, edge, stale}
    assert {c.time_zone for c in contacts} == {"Europe/Tirane"}
    # The longest overdue are first in the queue (a tie: the older patient first).
    assert [c.phone for c in contacts] == [phone(1), phone(7), phone(2)]


@pytest.mark.asyncio
async def test_erased_people_stay_out(store: Store) -> None:
    # An erased person: the do-not-call entry becomes a keyed hash, the visits move to the
    # anonymous patient (+999), who must never be recalled.
    gone = await patient(store, phone(1))
    await visit(store, gone, OLD)
    await store.dnc.add(phone=phone(1), reason=None, source="cli")
    await store.privacy.erase_person(phone=phone(1), actor="tester")
    assert await store.patients.get(phone="+999") is not None
    # The same number registering again is still blocked by the hash.
    back = await patient(store, phone(1), "Someone Else")
    await visit(store, back, OLD - timedelta(days=1), chair=2)
    kept = await patient(store, phone(2))
    await visit(store, kept, OLD, chair=3)
    assert await store.recalls.count(cutoff=CUTOFF, now=DEFAULT_NOW) == 1
    campaign_id, added = await _build(store)
    assert added == 1
    assert set(await _contacts(store, campaign_id)) == {phone(2)}


@pytest.mark.asyncio
async def test_a_missing_hash_key_fails_closed(store: Store, db_path: object) -> None:
    person = await patient(store, phone(1))
    await visit(store, person, OLD)
    await store.dnc.add(phone=phone(1), reason=None, source="cli")
    await store.privacy.erase_person(phone=phone(1), actor="tester")
    store.recalls._keys._key = None  # the key file lost, the setting unset
    store.recalls._keys._key_file = None
    with pytest.raises(PrivacyError):
        await store.recalls.count(cutoff=CUTOFF, now=DEFAULT_NOW)
    with pytest.raises(PrivacyError):
        await _build(store)
    assert await store.campaigns.get(name=RECALL["name"]) is None


@pytest.mark.asyncio
async def test_limit_takes_the_longest_overdue(store: Store) -> None:
    for n in range(1, 6):
        person = await patient(store, phone(n))
        await visit(store, person, OLD - timedelta(days=10 * n), chair=n)
    assert await store.recalls.count(cutoff=CUTOFF, now=DEFAULT_NOW, limit=2) == 2
    campaign_id, added = await _build(store, limit=2)
    assert added == 2
    assert set(await _contacts(store, campaign_id)) == {phone(5), phone(4)}


@pytest.mark.asyncio
async def test_the_campaign_contacts_and_audit_commit_together(store: Store) -> None:
    person = await patient(store, phone(1))
    await visit(store, person, OLD)
    campaign_id, _ = await _build(store, audit_detail={"months": 6})
    (entry,) = [e for e in await store.audit.list() if e.action == "campaign.create"]
    assert entry.actor == "tester"
    assert entry.subject == f"campaign:{campaign_id}"
    assert entry.detail == {"purpose": "recall", "contacts": 1, "months": 6}
    assert phone(1) not in str(entry.model_dump())
    # The same name again: nothing at all is written (no second campaign, contact or audit).
    before = await store.db.scalar("SELECT count(*) FROM campaign_contacts")
    with pytest.raises(sqlite3.IntegrityError):
        await _build(store)
    assert await store.db.scalar("SELECT count(*) FROM campaign_contacts") == before
    assert await store.db.scalar("SELECT count(*) FROM campaigns") == 1
    assert len([e for e in await store.audit.list() if e.action == "campaign.create"]) == 1


# SQLite's EXPLAIN QUERY PLAN on a raw connection: its planner, not the read model.
@pytest.mark.sqlite_only
@pytest.mark.asyncio
async def test_the_choice_only_searches_the_big_tables(
    store: Store, clock: FixedClock, raw: sqlite3.Connection
) -> None:
    person = await patient(store, phone(1))
    await visit(store, person, OLD)
    await store.dnc.add(phone=phone(2), reason=None, source="cli")
    for hashed in (False, True):
        if hashed:
            await store.dnc.add(phone=phone(3), reason=None, source="cli")
            await store.privacy.erase_person(phone=phone(3), actor="tester")
            raw.create_function("elo_listed_hash", 1, store.recalls._keys.listed_hash)
        *_, sql = await _statements(
            store, lambda: store.recalls.count(cutoff=CUTOFF, now=DEFAULT_NOW)
        )
        assert "count(*)" in sql
        lines = _plan(raw, sql)
        # Patients are walked once; appointments, do-not-call entries only searched by key.
        big = ("a", "f", "d", "h", "appointments", "do_not_call", "do_not_call_hashed")
        scans = [line for line in lines if line.startswith("SCAN") and line.split()[1] in big]
        assert scans == [], lines
        assert any("SCAN p" in line for line in lines), lines
        # Each patient's own appointments, by the patient's index entries.
        visits = [line for line in lines if line.split()[1:2] in (["a"], ["f"])]
        assert visits and all("(patient_id=?" in line for line in visits), lines
        assert any("SEARCH d USING" in line for line in lines), lines
        assert any("SEARCH h USING" in line for line in lines) == hashed, lines
