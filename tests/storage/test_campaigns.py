"""Campaigns and their contacts in SQLite: creation, merging, the do-not-call skip, migration 3."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from storage import Campaign, ImportCounts, NewContact, Store
from storage.migrations import MIGRATIONS, SCHEMA_VERSION
from tests.conftest import TIRANE, FixedClock

ARTA = "+355691234567"
BEN = "+355682223344"
CELA = "+355672345678"


@pytest.mark.asyncio
async def test_created_campaign_is_a_draft_with_defaults(store: Store, clock: FixedClock) -> None:
    campaign = await store.campaigns.create(name="Recall winter", purpose="recall", notes="be kind")
    assert campaign == Campaign(
        id=campaign.id,
        name="Recall winter",
        purpose="recall",
        notes="be kind",
        status="draft",
        max_concurrent_calls=2,
        max_attempts=4,
        created_at=clock.now,
    )
    assert await store.campaigns.get(name="Recall winter") == campaign
    assert await store.campaigns.get(name="nope") is None


@pytest.mark.asyncio
async def test_names_are_unique_and_purposes_checked(store: Store) -> None:
    await store.campaigns.create(name="A", purpose="check_up")
    with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
        await store.campaigns.create(name="A", purpose="recall")
    with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
        await store.campaigns.create(name="B", purpose="sales")  # type: ignore[arg-type]


@pytest.mark.asyncio
async def test_add_contacts_merges_repeats_and_skips_do_not_call(store: Store) -> None:
    campaign = await store.campaigns.create(name="C", purpose="follow_up")
    await store.dnc.add(phone=BEN, reason=None, source="cli")
    await store.patients.upsert(phone=ARTA, name="Arta Hoxha")
    counts = await store.campaigns.add_contacts(
        campaign_id=campaign.id,
        contacts=[
            NewContact(phone=ARTA, name="Arta Hoxha", priority=1),
            NewContact(phone=BEN, name="Ben Duka"),
            NewContact(phone=CELA, name="Cela Marku", language="en", time_zone="Europe/Rome"),
            NewContact(phone=ARTA, name="Arta Other"),
        ],
    )
    assert counts == ImportCounts(imported=2, merged=1, on_do_not_call=1)
    # Importing again merges everything already there; the do-not-call number stays out.
    again = await store.campaigns.add_contacts(
        campaign_id=campaign.id,
        contacts=[NewContact(phone=CELA, name="Cela New"), NewContact(phone=BEN, name="Ben")],
    )
    assert again == ImportCounts(imported=0, merged=1, on_do_not_call=1)

    contacts = await store.campaigns.contacts(campaign_id=campaign.id)
    assert [(c.phone, c.name, c.priority) for c in contacts] == [
        (ARTA, "Arta Hoxha", 1),
        (CELA, "Cela Marku", 0),
    ]
    patient = await store.patients.get(phone=ARTA)
    assert patient is not None and contacts[0].patient_id == patient.id
    assert contacts[1].patient_id is None
    assert (contacts[1].language, contacts[1].time_zone, contacts[1].country) == (
        "en",
        "Europe/Rome",
        "AL",
    )


@pytest.mark.asyncio
async def test_add_contacts_is_one_transaction(store: Store) -> None:
    campaign = await store.campaigns.create(name="D", purpose="recall")
    with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
        await store.campaigns.add_contacts(
            campaign_id=campaign.id,
            contacts=[NewContact(phone=ARTA, name="Arta"), NewContact(phone="0691", name="Bad")],
        )
    assert await store.campaigns.contacts(campaign_id=campaign.id) == []
    with pytest.raises(sqlite3.IntegrityError, match="no campaign"):
        await store.campaigns.add_contacts(
            campaign_id=999, contacts=[NewContact(phone=ARTA, name="A")]
        )


@pytest.mark.asyncio
async def test_the_same_number_may_be_in_two_campaigns(store: Store) -> None:
    first = await store.campaigns.create(name="E", purpose="recall")
    second = await store.campaigns.create(name="F", purpose="recall")
    for campaign in (first, second):
        counts = await store.campaigns.add_contacts(
            campaign_id=campaign.id, contacts=[NewContact(phone=ARTA, name="Arta")]
        )
        assert counts.imported == 1


def test_attempt_outcomes_are_checked(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "raw.db")
    for script in MIGRATIONS:
        conn.executescript(script)
    conn.execute(
        "INSERT INTO campaigns (name, purpose, max_concurrent_calls, max_attempts, created_at)"
        " VALUES ('G', 'recall', 1, 1, 'now')"
    )
    conn.execute(
        "INSERT INTO campaign_contacts (campaign_id, phone, name, created_at)"
        " VALUES (1, ?, 'Arta', 'now')",
        (ARTA,),
    )
    insert = "INSERT INTO call_attempts (contact_id, started_at, outcome) VALUES (1, 'now', ?)"
    for outcome in ("booked", "opted_out", "transferred", None):
        conn.execute(insert, (outcome,))
    with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
        conn.execute(insert, ("maybe",))
    conn.close()


@pytest.mark.asyncio
async def test_a_version_2_file_is_upgraded(tmp_path: Path) -> None:
    path = tmp_path / "v2.db"
    conn = sqlite3.connect(path)
    for script in MIGRATIONS[:2]:
        conn.executescript(script)
    conn.execute("INSERT INTO do_not_call (phone, source, added_at) VALUES (?, 'cli', 'x')", (BEN,))
    conn.execute("PRAGMA user_version = 2")
    conn.commit()
    conn.close()
    store = await Store.open(path, tz=TIRANE, clock=FixedClock())
    try:
        assert await store.health.schema_version() == SCHEMA_VERSION >= 3
        campaign = await store.campaigns.create(name="H", purpose="recall")
        counts = await store.campaigns.add_contacts(
            campaign_id=campaign.id, contacts=[NewContact(phone=BEN, name="Ben")]
        )
        assert counts == ImportCounts(imported=0, merged=0, on_do_not_call=1)
    finally:
        await store.close()
