"""Patient search by name (case and accents ignored) or by any digits, masked; reveal one."""

from __future__ import annotations

import re
import sqlite3
from typing import Any

import asyncpg
import pytest

from storage import Store
from storage.errors import CursorError
from storage.migrations import FOLDED_LETTERS
from storage.pg import translate
from tests.storage.booking import phone
from validation.text import fold

FULL_NUMBER = re.compile(r"\+[0-9]{8,15}")


async def _names(store: Store, query: str) -> list[str]:
    return [p.name for p in (await store.patient_search.search(query=query)).items]


@pytest.mark.asyncio
async def test_names_match_whatever_the_case_and_accents_every_word_anywhere(
    store: Store,
) -> None:
    for n, name in enumerate(
        ["Arbër Çela", "Ëlira Hoxha", "Ben Leka", "Drita Çelaj", "José Müller"]
    ):
        await store.patients.upsert(phone=phone(n), name=name)
    assert await _names(store, "cela") == ["Arbër Çela", "Drita Çelaj"]
    assert await _names(store, "ÇELA") == ["Arbër Çela", "Drita Çelaj"]
    assert await _names(store, "arber cel") == ["Arbër Çela"]
    assert await _names(store, "çela arbër") == ["Arbër Çela"]  # any word order
    assert await _names(store, "elira") == ["Ëlira Hoxha"]
    assert await _names(store, "jose muller") == ["José Müller"]
    assert await _names(store, "zz") == []
    assert await _names(store, "%") == []  # LIKE's wildcards are taken literally
    assert len(await _names(store, "")) == 5


@pytest.mark.asyncio
async def test_numbers_match_any_digits_typed_and_whole_numbers_exactly(store: Store) -> None:
    await store.patients.upsert(phone="+355691234567", name="Arta Hoxha")
    await store.patients.upsert(phone="+355682223344", name="Ben Leka")
    for typed in ("069 123", "+355 69 123 4567", "00355 691", "0691234567", "4567", "(069) 12-34"):
        assert await _names(store, typed) == ["Arta Hoxha"], typed
    assert await _names(store, "355") == ["Ben Leka", "Arta Hoxha"]  # by number
    assert await _names(store, "999 999") == []
    with pytest.raises(ValueError, match="3 digits"):
        await store.patient_search.search(query="06")
    with pytest.raises(ValueError):
        await store.patient_search.search(query="a" * 101)


@pytest.mark.asyncio
async def test_lists_mask_numbers_and_reveal_shows_one(store: Store) -> None:
    patient, _ = await store.patients.upsert(phone="+355691234567", name="Arta Hoxha")
    for query in ("arta", "069 123", "+355691234567", ""):
        page = await store.patient_search.search(query=query)
        assert not FULL_NUMBER.search(page.model_dump_json()), query
        assert [p.phone_masked for p in page.items] == ["+355*******67"]
    revealed = await store.patient_search.reveal(patient_id=patient.id)
    assert revealed is not None and revealed.phone == "+355691234567"
    assert await store.patient_search.reveal(patient_id=999) is None


@pytest.mark.asyncio
async def test_equal_names_page_by_id_and_the_erased_placeholder_is_never_listed(
    store: Store,
) -> None:
    ids = [(await store.patients.upsert(phone=phone(n), name="Arta Hoxha"))[0].id for n in range(5)]
    seen, cursor = [], None
    while True:
        page = await store.patient_search.search(query="hoxha", cursor=cursor, limit=2)
        seen += [p.id for p in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == ids
    with pytest.raises(CursorError):
        await store.patient_search.search(query="355", cursor=cursor or "x")
    # Erasing a person leaves the anonymous placeholder (+999, "-"), which no search shows.
    await store.privacy.erase_person(phone=phone(0), actor="test")
    assert [p.id for p in (await store.patient_search.search(query="")).items] == ids[1:]
    assert await _names(store, "-") == []
    assert await _names(store, "999") == []


async def _elsewhere(backend: str, db_url: str, sql: str, *params: object) -> list[Any]:
    """Run one statement as another program would: its own plain connection, not the store's."""
    if backend == "postgresql":
        conn = await asyncpg.connect(db_url)
        try:
            return list(await conn.fetch(translate(sql), *params))
        finally:
            await conn.close()
    raw = sqlite3.connect(db_url, isolation_level=None)
    try:
        return raw.execute(sql, params).fetchall()
    finally:
        raw.close()


@pytest.mark.asyncio
async def test_the_folded_names_follow_renames_and_deletions_by_any_program(
    store: Store, backend: str, db_url: str
) -> None:
    patient, _ = await store.patients.upsert(phone=phone(1), name="Arta Hoxha")
    rename = "UPDATE patients SET name = 'Ëlira Çela' WHERE id = ?"
    await _elsewhere(backend, db_url, rename, patient.id)
    assert await _names(store, "elira cela") == ["Ëlira Çela"]
    assert await _names(store, "arta") == []
    await _elsewhere(backend, db_url, "DELETE FROM patients WHERE id = ?", patient.id)
    assert (await _elsewhere(backend, db_url, "SELECT count(*) FROM patient_names"))[0][0] == 0


@pytest.mark.asyncio
async def test_the_stored_fold_agrees_with_the_python_fold_on_every_engine(store: Store) -> None:
    # Each engine's trigger folds the name it stores (PostgreSQL's is schema_pg's translate()).
    letters = [c for half in FOLDED_LETTERS for a, _ in half for c in (a, a.upper())]
    name = "Ab CD " + " ".join(letters)
    patient, _ = await store.patients.upsert(phone=phone(1), name=name)
    folded = await store.db.scalar(
        "SELECT folded FROM patient_names WHERE patient_id = ?", (patient.id,)
    )
    assert folded == fold(name)


def test_the_sql_fold_agrees_with_the_python_fold(raw_memory: sqlite3.Connection) -> None:
    from storage.migrations import fold_sql

    for half in FOLDED_LETTERS:
        for accented, plain in half:
            for letter in (accented, accented.upper()):
                (folded,) = raw_memory.execute(
                    f"SELECT {fold_sql(fold_sql('?', 0), 1)}", (letter,)
                ).fetchone()
                assert folded == fold(letter) == plain, letter


@pytest.fixture
def raw_memory() -> sqlite3.Connection:
    return sqlite3.connect(":memory:")
