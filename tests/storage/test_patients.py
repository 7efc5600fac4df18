"""Patients against a real SQLite file: found by number, name words for masking."""

from __future__ import annotations

import sqlite3

import pytest

from storage import Store
from tests.conftest import FixedClock
from tests.storage.booking import OTHER, PHONE

# --- patients ---------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_upsert_patient_creates_then_finds_by_phone(store: Store) -> None:
    first, created = await store.patients.upsert(phone=PHONE, name="Arta Hoxha")
    again, created_again = await store.patients.upsert(phone=PHONE, name="Someone Else")
    assert created is True
    assert created_again is False
    assert again.id == first.id
    # The first recorded name is kept: a caller cannot rename someone else's record.
    assert again.name == "Arta Hoxha"
    assert await store.patients.count() == 1
    assert await store.patients.get(phone=PHONE) == first


@pytest.mark.asyncio
async def test_different_phones_are_different_patients(store: Store) -> None:
    a, _ = await store.patients.upsert(phone=PHONE, name="Arta Hoxha")
    b, created = await store.patients.upsert(phone=OTHER, name="Arta Hoxha")
    assert created is True
    assert a.id != b.id
    assert await store.patients.count() == 2


@pytest.mark.asyncio
async def test_upsert_fills_a_missing_email_but_never_replaces_one(store: Store) -> None:
    await store.patients.upsert(phone=PHONE, name="Arta Hoxha")
    with_email, _ = await store.patients.upsert(phone=PHONE, name="X", email="arta@example.com")
    assert with_email.email == "arta@example.com"
    kept, _ = await store.patients.upsert(phone=PHONE, name="X", email="evil@example.com")
    assert kept.email == "arta@example.com"


@pytest.mark.asyncio
async def test_new_patient_fields(store: Store, clock: FixedClock) -> None:
    patient, _ = await store.patients.upsert(
        phone=PHONE, name="Ëndri Çela", email=None, language="en"
    )
    assert patient.phone == PHONE
    assert patient.name == "Ëndri Çela"
    assert patient.email is None
    assert patient.language == "en"
    assert patient.created_at == clock.now
    assert patient.created_at.tzinfo is not None


@pytest.mark.asyncio
async def test_unknown_phone_is_none(store: Store) -> None:
    assert await store.patients.get(phone=PHONE) is None


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "bad_phone",
    ["0691234567", "355691234567", "+0691234567", "+3556912345678901", "", "+"],
)
async def test_database_refuses_non_e164_phones(store: Store, bad_phone: str) -> None:
    # Validation normally stops these; the CHECK constraint is the last line.
    with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
        await store.patients.upsert(phone=bad_phone, name="Arta Hoxha")
    assert await store.patients.count() == 0


@pytest.mark.asyncio
async def test_patient_name_words_ignore_case_and_accents_but_not_word_edges(store: Store) -> None:
    await store.patients.upsert(phone="+355691234567", name="Arbër Çela")
    await store.patients.upsert(phone="+355682223344", name="Anna-Maria O'Neil")
    await store.patients.upsert(phone="+355672223344", name="Anastasia Lika")
    found = await store.patients.name_words(
        ["ARBER", "çela", "Cela", "maria", "Neil", "ana", "Anna", "lik", "root", "canal", "x2"]
    )
    assert found == {"arber", "cela", "maria", "neil", "anna"}
    assert await store.patients.name_words([]) == set()


@pytest.mark.asyncio
async def test_patient_name_words_see_patients_added_later_by_any_connection(
    store: Store, open_store
) -> None:
    assert await store.patients.name_words(["drita"]) == set()
    other = await open_store()
    await other.patients.upsert(phone="+355682223344", name="Drita Kola")
    await other.close()
    assert await store.patients.name_words(["Drita", "kolá"]) == {"drita", "kola"}
    await store.patients.upsert(phone="+355691234567", name="Arbër Çela")
    assert await store.patients.name_words(["arber", "drita"]) == {"arber", "drita"}
