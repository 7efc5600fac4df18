"""The do-not-call list in SQLite: add, remove, list, idempotence, the E.164 CHECK, migration 2."""

from __future__ import annotations

import re
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from storage import DoNotCallEntry, Store
from storage.migrations import MIGRATIONS, SCHEMA_VERSION
from tests.conftest import TIRANE, FixedClock

ARTA = "+355691234567"
BEN = "+355682223344"
E164 = re.compile(r"\+[1-9][0-9]{2,14}")


@pytest.mark.asyncio
async def test_added_number_is_listed_with_who_when_and_why(
    store: Store, clock: FixedClock
) -> None:
    entry = await store.dnc.add(
        phone=ARTA, reason="asked in the call", source="agent", call_id="call-1"
    )
    assert entry == DoNotCallEntry(
        phone=ARTA, reason="asked in the call", source="agent", call_id="call-1", added_at=clock.now
    )
    assert await store.dnc.is_listed(phone=ARTA)
    assert not await store.dnc.is_listed(phone=BEN)
    assert await store.dnc.list() == [entry]


@pytest.mark.asyncio
async def test_adding_again_keeps_the_first_entry(store: Store, clock: FixedClock) -> None:
    first = await store.dnc.add(phone=ARTA, reason="not interested", source="agent")
    clock.now += timedelta(days=3)
    again = await store.dnc.add(phone=ARTA, reason=None, source="cli", call_id="c9")
    assert again == first
    assert await store.dnc.list() == [first]


@pytest.mark.asyncio
async def test_remove_reports_whether_the_number_was_listed(store: Store) -> None:
    await store.dnc.add(phone=ARTA, reason=None, source="cli")
    await store.dnc.add(phone=BEN, reason=None, source="import")
    assert await store.dnc.remove(phone=ARTA) is True
    assert await store.dnc.remove(phone=ARTA) is False
    assert not await store.dnc.is_listed(phone=ARTA)
    assert [e.phone for e in await store.dnc.list()] == [BEN]


@pytest.mark.asyncio
async def test_list_is_oldest_first(store: Store, clock: FixedClock) -> None:
    await store.dnc.add(phone=BEN, reason=None, source="cli")
    clock.now += timedelta(minutes=1)
    await store.dnc.add(phone=ARTA, reason=None, source="cli")
    assert [e.phone for e in await store.dnc.list()] == [BEN, ARTA]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "phone", ["0691234567", "+0691234567", "+35569 123", "+3556912345678901", "", "+", "+1a2"]
)
async def test_the_table_refuses_numbers_that_are_not_e164(store: Store, phone: str) -> None:
    with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
        await store.dnc.add(phone=phone, reason=None, source="cli")
    assert await store.dnc.list() == []


@pytest.mark.asyncio
async def test_the_table_refuses_unknown_sources(store: Store) -> None:
    with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
        await store.dnc.add(phone=ARTA, reason=None, source="model")  # type: ignore[arg-type]


def test_check_accepts_exactly_e164_text(tmp_path: Path) -> None:
    """Property: the CHECK admits a value iff it is '+', a non-zero digit, then 2-14 digits."""
    conn = sqlite3.connect(tmp_path / "check.db")
    for script in MIGRATIONS:
        conn.executescript(script)

    @hypothesis_settings(max_examples=300, deadline=None)
    @given(
        st.one_of(
            st.text(alphabet="+0123456789 -x٣", max_size=18),
            st.from_regex(E164, fullmatch=True),
        )
    )
    def check(phone: str) -> None:
        try:
            conn.execute(
                "INSERT INTO do_not_call (phone, source, added_at) VALUES (?, 'cli', 'now')",
                (phone,),
            )
            accepted = True
        except sqlite3.IntegrityError:
            accepted = False
        finally:
            conn.rollback()
        assert accepted == bool(E164.fullmatch(phone) and phone.isascii()), phone

    try:
        check()
    finally:
        conn.close()


@pytest.mark.asyncio
async def test_a_version_1_file_is_upgraded_and_keeps_its_data(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    conn = sqlite3.connect(path)
    conn.executescript(MIGRATIONS[0])
    conn.execute(
        "INSERT INTO patients (phone, name, language, created_at, updated_at)"
        " VALUES (?, 'Arta Hoxha', 'sq', '2026-11-01T09:00:00Z', '2026-11-01T09:00:00Z')",
        (ARTA,),
    )
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()

    store = await Store.open(path, tz=TIRANE, clock=FixedClock())
    try:
        assert await store.health.schema_version() == SCHEMA_VERSION >= 2
        patient = await store.patients.get(phone=ARTA)
        assert patient is not None and patient.name == "Arta Hoxha"
        assert await store.dnc.list() == []
        await store.dnc.add(phone=ARTA, reason=None, source="cli")
    finally:
        await store.close()

    again = await Store.open(path, tz=TIRANE)
    try:
        assert await again.dnc.is_listed(phone=ARTA)
        assert await again.patients.count() == 1
    finally:
        await again.close()


@pytest.mark.asyncio
async def test_page_is_newest_first_masked_and_pages_equal_times_by_entry(
    store: Store, clock: FixedClock
) -> None:
    numbers = [f"+35569{n:07d}" for n in range(5)]
    for n, number in enumerate(numbers):
        if n == 4:
            clock.now += timedelta(days=1)
        await store.dnc.add(phone=number, reason=f"reason {n}", source="cli")
    seen, cursor = [], None
    while True:
        page = await store.dnc.page(cursor=cursor, limit=2)
        text = page.model_dump_json()
        assert not any(number in text or number[4:] in text for number in numbers)
        seen += [(item.phone_masked, item.reason) for item in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == [
        ("+355*******04", "reason 4"),
        ("+355*******03", "reason 3"),
        ("+355*******02", "reason 2"),
        ("+355*******01", "reason 1"),
        ("+355*******00", "reason 0"),
    ]


@pytest.mark.asyncio
async def test_removing_an_entry_keeps_erased_peoples_hashed_entries(store: Store) -> None:
    await store.patients.upsert(phone=ARTA, name="Arta Hoxha")
    await store.dnc.add(phone=ARTA, reason="asked", source="agent")
    await store.privacy.erase_person(phone=ARTA, actor="test")  # Arta's entry becomes a hash
    await store.dnc.add(phone=BEN, reason="added by mistake", source="cli")
    page = await store.dnc.page()
    assert page.hashed_entries == 1
    (ben,) = page.items  # the hashed entry is counted, never listed
    assert await store.dnc.entry(entry_id=ben.entry_id) == ben  # one entry, as the page shows it
    removed = await store.dnc.remove_entry(entry_id=ben.entry_id)
    assert removed is not None and (removed.phone, removed.reason) == (BEN, "added by mistake")
    assert await store.dnc.remove_entry(entry_id=ben.entry_id) is None
    assert await store.dnc.entry(entry_id=ben.entry_id) is None
    assert not await store.dnc.is_listed(phone=BEN)
    assert await store.dnc.is_listed(phone=ARTA)
    after = await store.dnc.page()
    assert (after.items, after.hashed_entries) == ([], 1)
