"""``storage.copy``: a whole clinic moved SQLite -> PostgreSQL -> SQLite, ids and rows exact.

Real SQLite files in tmp dirs and fresh databases of the session's PostgreSQL cluster; the source
is written through the real repositories (tests/storage/copy_data.py).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from devtools.postgres import PostgresCluster
from storage import Store
from storage.copy import (
    COPY_TABLES,
    CopyError,
    copy_database,
    schema_tables,
    table_digests,
    verify_copy,
)
from storage.privacy_keys import key_file_for
from tests.backends import PG_HASH_KEY
from tests.conftest import TIRANE, FixedClock
from tests.storage.booking import at, book, phone
from tests.storage.copy_data import ERASED, seed

pytestmark = pytest.mark.asyncio


def _key_of(sqlite_file: Path) -> str:
    """The SQLite clinic's generated key in ELO_PRIVACY__HASH_KEY's ``hex:`` form."""
    return "hex:" + key_file_for(sqlite_file).read_text().strip()


async def _seeded(path: Path, clock: FixedClock) -> None:
    store = await Store.open(path, tz=TIRANE, clock=clock)
    try:
        await seed(store, clock)
    finally:
        await store.close()


async def test_sqlite_to_postgresql_and_back_is_exact(
    tmp_path: Path, pg_database: str, clock: FixedClock
) -> None:
    original = tmp_path / "clinic.db"
    await _seeded(original, clock)
    key = _key_of(original)
    src = await Store.open(original, tz=TIRANE, clock=clock)
    pg = await Store.open(pg_database, tz=TIRANE, clock=clock, hash_key=key)
    try:
        copied = await copy_database(src.db, pg.db)
        report = await verify_copy(src.db, pg.db)
        before = await table_digests(src.db)
    finally:
        await src.close()
    try:
        assert report.mismatched == []
        # Every kind of row was there to copy (the seed wrote at least one of each).
        empty = [table for table, rows in copied.items() if rows == 0]
        assert empty == []
        assert copied["appointments"] == 4 and copied["do_not_call_hashed"] == 1
        # The erased person's hashed entry still blocks the number with the source's key.
        assert await pg.dnc.is_listed(phone=ERASED)
        # patient_names searchable as before (accents folded).
        assert await pg.db.scalar("SELECT count(*) FROM patient_names WHERE folded LIKE 'elira%'")
        # Back to a fresh SQLite file: the same rows as the original, table by table.
        back = await Store.open(tmp_path / "back.db", tz=TIRANE, clock=clock)
        try:
            await copy_database(pg.db, back.db)
            assert (await verify_copy(pg.db, back.db)).mismatched == []
            assert await table_digests(back.db) == before
        finally:
            await back.close()
        # Sequences moved past the copied ids: new rows get the next ids.
        top = await pg.db.scalar("SELECT max(id) FROM appointments")
        booked = await book(pg, start=at(14), number=phone(7), name="Klea Shehu")
        assert booked.appointment.id == top + 1  # type: ignore[union-attr]
        top_rowid = await pg.db.scalar("SELECT max(rowid) FROM do_not_call")
        await pg.dnc.add(phone=phone(8), reason=None, source="cli")
        rowid = await pg.db.scalar("SELECT rowid FROM do_not_call WHERE phone = ?", (phone(8),))
        assert rowid == top_rowid + 1
        top_audit = await pg.db.scalar("SELECT max(id) FROM audit_log")
        entry = await pg.audit.record(actor="test", action="test.after")
        assert entry.id == top_audit + 1
    finally:
        await pg.close()


async def test_sqlite_to_sqlite_keeps_the_hidden_rowids(tmp_path: Path, clock: FixedClock) -> None:
    original = tmp_path / "a.db"
    await _seeded(original, clock)
    src = await Store.open(original, tz=TIRANE, clock=clock)
    dst = await Store.open(tmp_path / "b.db", tz=TIRANE, clock=clock)
    try:
        await copy_database(src.db, dst.db)
        assert (await verify_copy(src.db, dst.db)).mismatched == []
        left = [tuple(r) for r in await src.db.rows("SELECT rowid, phone FROM do_not_call")]
        right = [tuple(r) for r in await dst.db.rows("SELECT rowid, phone FROM do_not_call")]
        assert sorted(left) == sorted(right)
    finally:
        await src.close()
        await dst.close()


async def test_a_changed_row_is_found(tmp_path: Path, clock: FixedClock) -> None:
    original = tmp_path / "a.db"
    await _seeded(original, clock)
    src = await Store.open(original, tz=TIRANE, clock=clock)
    dst = await Store.open(tmp_path / "b.db", tz=TIRANE, clock=clock)
    try:
        await copy_database(src.db, dst.db)
        async with dst.db.transaction() as conn:
            await conn.execute("UPDATE calls SET turns = turns + 1 WHERE id = 'call-1'")
        assert (await verify_copy(src.db, dst.db)).mismatched == ["calls"]
    finally:
        await src.close()
        await dst.close()


async def test_a_non_empty_target_is_refused_and_unchanged(
    tmp_path: Path, pg_database: str, clock: FixedClock
) -> None:
    original = tmp_path / "clinic.db"
    await _seeded(original, clock)
    src = await Store.open(original, tz=TIRANE, clock=clock)
    pg = await Store.open(pg_database, tz=TIRANE, clock=clock, hash_key=PG_HASH_KEY)
    try:
        await pg.users.add(name="Someone", role="staff", password_hash="$argon2id$x", language="en")
        before = await table_digests(pg.db)
        with pytest.raises(CopyError, match="table users has rows"):
            await copy_database(src.db, pg.db)
        assert await table_digests(pg.db) == before
    finally:
        await src.close()
        await pg.close()


async def test_a_failed_copy_writes_nothing(
    tmp_path: Path, pg_database: str, clock: FixedClock
) -> None:
    original = tmp_path / "clinic.db"
    await _seeded(original, clock)
    # A row PostgreSQL refuses and SQLite took (text in an integer column, as a hand edit can
    # leave): the copy fails half-way, and its one transaction leaves the target empty.
    with sqlite3.connect(original) as raw:
        raw.execute("UPDATE call_attempts SET duration_s = 'long'")
    src = await Store.open(original, tz=TIRANE, clock=clock)
    pg = await Store.open(pg_database, tz=TIRANE, clock=clock, hash_key=PG_HASH_KEY)
    try:
        with pytest.raises(sqlite3.Error):
            await copy_database(src.db, pg.db)
        counts = {t.name: await pg.db.scalar(f"SELECT count(*) FROM {t.name}") for t in COPY_TABLES}
        assert set(counts.values()) == {0}
    finally:
        await src.close()
        await pg.close()


async def test_the_copy_list_is_every_table_of_both_schemas(
    tmp_path: Path, pg_database: str
) -> None:
    """A table a migration adds and the copy list lacks fails here (and the copy refuses it)."""
    sqlite_store = await Store.open(tmp_path / "a.db", tz=TIRANE)
    pg = await Store.open(pg_database, tz=TIRANE, hash_key=PG_HASH_KEY)
    try:
        listed = {table.name for table in COPY_TABLES}
        assert await schema_tables(sqlite_store.db) == listed
        assert await schema_tables(pg.db) == listed
        # And the copy notices one too: a table outside the list is refused, not left behind.
        async with sqlite_store.db.transaction() as conn:
            await conn.execute("CREATE TABLE extra (id INTEGER PRIMARY KEY)")
        with pytest.raises(CopyError, match="extra"):
            await copy_database(sqlite_store.db, pg.db)
    finally:
        await sqlite_store.close()
        await pg.close()


async def test_the_copy_list_is_in_foreign_key_order(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "a.db", tz=TIRANE)
    try:
        order = [table.name for table in COPY_TABLES]
        for position, name in enumerate(order):
            parents = {r[2] for r in await store.db.rows(f"PRAGMA foreign_key_list({name})")}
            assert parents <= set(order[:position]), name
    finally:
        await store.close()


async def test_a_value_the_target_changes_fails_the_verification(
    tmp_path: Path, pg_database: str, clock: FixedClock
) -> None:
    """A fraction in an integer column (SQLite keeps it, PostgreSQL's BIGINT rounds it)."""
    original = tmp_path / "clinic.db"
    await _seeded(original, clock)
    with sqlite3.connect(original) as raw:
        raw.execute("UPDATE calls SET turns = 1.5 WHERE id = 'call-2'")
    src = await Store.open(original, tz=TIRANE, clock=clock)
    pg = await Store.open(pg_database, tz=TIRANE, clock=clock, hash_key=PG_HASH_KEY)
    try:
        await copy_database(src.db, pg.db)
        assert (await verify_copy(src.db, pg.db)).mismatched == ["calls"]
    finally:
        await src.close()
        await pg.close()


async def test_postgresql_to_postgresql(
    tmp_path: Path, pg_cluster: PostgresCluster, pg_database: str, clock: FixedClock
) -> None:
    """A clinic moving between servers: PostgreSQL to PostgreSQL, exact too."""
    original = tmp_path / "clinic.db"
    await _seeded(original, clock)
    key = _key_of(original)
    second = pg_database + "_b"
    pg_cluster.create_database(second.rsplit("/", 1)[1])
    try:
        src = await Store.open(original, tz=TIRANE, clock=clock)
        one = await Store.open(pg_database, tz=TIRANE, clock=clock, hash_key=key)
        two = await Store.open(second, tz=TIRANE, clock=clock, hash_key=key)
        try:
            await copy_database(src.db, one.db)
            await copy_database(one.db, two.db)
            assert (await verify_copy(one.db, two.db)).mismatched == []
            assert await table_digests(two.db) == await table_digests(src.db)
        finally:
            for store in (src, one, two):
                await store.close()
    finally:
        pg_cluster.drop_database(second.rsplit("/", 1)[1])
