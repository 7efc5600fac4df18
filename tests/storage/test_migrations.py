"""Schema creation and the refusals of Store.open: what a fresh file holds, what is refused."""

from __future__ import annotations

import asyncio
import itertools
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from loguru import logger

from storage import Store
from storage.errors import StoreError
from storage.migrations import MIGRATIONS, SCHEMA_VERSION
from storage.schema_pg import PG_SCHEMA_VERSION
from tests.backends import PG_HASH_KEY
from tests.conftest import TIRANE

EXPECTED_TABLES = {
    "patients",
    "appointments",
    "appointment_slots",
    "follow_ups",
    "calls",
    "call_analytics",
}

EXPECTED_INDEXES = {
    "appointments_active_chair_start",
    "appointments_starts_at",
    "appointments_status",
    "appointments_patient",
    "appointment_slots_start",
    "appointment_slots_appointment",
    "follow_ups_due_at",
    "follow_ups_status",
    "follow_ups_patient",
    "calls_started_at",
    "calls_patient",
}


def _raw(path: Path) -> sqlite3.Connection:
    """A plain sqlite3 connection, to look at the file the way another program would."""
    return sqlite3.connect(path)


def _schema(path: Path) -> list[tuple[str, str, str | None]]:
    conn = _raw(path)
    try:
        return conn.execute(
            "SELECT type, name, sql FROM sqlite_master ORDER BY type, name"
        ).fetchall()
    finally:
        conn.close()


def _index_columns(conn: sqlite3.Connection, index: str) -> list[str]:
    return [row[2] for row in conn.execute(f"PRAGMA index_info({index})")]


def test_schema_version_counts_the_migrations() -> None:
    assert SCHEMA_VERSION == len(MIGRATIONS) >= 1


@pytest.mark.asyncio
async def test_new_file_is_at_the_current_schema_version(store: Store) -> None:
    assert await store.health.schema_version() == SCHEMA_VERSION


# SQLite's file records its version in PRAGMA user_version, which another program reads.
@pytest.mark.sqlite_only
@pytest.mark.asyncio
async def test_new_file_records_its_version_in_user_version(store: Store, db_path: Path) -> None:
    conn = _raw(db_path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    finally:
        conn.close()


# SQLite's journal mode of the file.
@pytest.mark.sqlite_only
@pytest.mark.asyncio
async def test_new_file_uses_wal_journal(store: Store, db_path: Path) -> None:
    # journal_mode=WAL is persistent, so any other connection sees it too.
    conn = _raw(db_path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()


@pytest.mark.asyncio
async def test_connection_enforces_foreign_keys(store: Store) -> None:
    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
        await store.db.conn.execute(
            "INSERT INTO appointments (patient_id, service_id, chair, starts_at, ends_at,"
            " price_lek, source, created_at) VALUES (999, 'checkup', 1, '2026-12-02T09:00:00Z',"
            " '2026-12-02T09:30:00Z', 2000, 'cli', '2026-12-01T07:00:00Z')"
        )


# foreign_keys is SQLite's per-connection PRAGMA: only the store's own connection can show it.
@pytest.mark.sqlite_only
@pytest.mark.asyncio
async def test_sqlite_connection_turns_foreign_keys_on(store: Store) -> None:
    async with store.db.conn.execute("PRAGMA foreign_keys") as cur:
        assert (await cur.fetchone())[0] == 1


@pytest.mark.asyncio
@pytest.mark.parametrize("timeout_ms", [5000, 30000])
async def test_busy_timeout_is_set_on_the_connection(tmp_path: Path, timeout_ms: int) -> None:
    store = await Store.open(tmp_path / "t.db", busy_timeout_ms=timeout_ms)
    try:
        async with store.db.conn.execute("PRAGMA busy_timeout") as cur:
            assert (await cur.fetchone())[0] == timeout_ms
    finally:
        await store.close()


@pytest.mark.asyncio
async def test_default_busy_timeout_is_not_zero(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "t.db")
    try:
        async with store.db.conn.execute("PRAGMA busy_timeout") as cur:
            assert (await cur.fetchone())[0] >= 1000
    finally:
        await store.close()


# SQLite's catalogue (sqlite_master); PostgreSQL's: test_postgresql_catalogue_*.
@pytest.mark.sqlite_only
@pytest.mark.asyncio
async def test_expected_tables_indexes_and_trigger_exist(store: Store, db_path: Path) -> None:
    rows = _schema(db_path)
    tables = {name for kind, name, _ in rows if kind == "table"}
    indexes = {name for kind, name, _ in rows if kind == "index"}
    triggers = {name for kind, name, _ in rows if kind == "trigger"}
    assert tables >= EXPECTED_TABLES
    assert indexes >= EXPECTED_INDEXES
    # Migration 12 keeps patient_names (the folded names a search reads) with the patients.
    assert triggers == {
        "appointments_release_slots",
        "patients_name_added",
        "patients_name_changed",
        "patients_name_removed",
    }


# SQLite's PRAGMA index_list/index_info and sqlite_master.
@pytest.mark.sqlite_only
@pytest.mark.asyncio
async def test_active_chair_start_index_is_unique_and_partial(store: Store, db_path: Path) -> None:
    conn = _raw(db_path)
    try:
        listing = {
            row[1]: {"unique": row[2], "partial": row[4]}
            for row in conn.execute("PRAGMA index_list(appointments)")
        }
        assert listing["appointments_active_chair_start"] == {"unique": 1, "partial": 1}
        assert _index_columns(conn, "appointments_active_chair_start") == ["chair", "starts_at"]
        sql = conn.execute(
            "SELECT sql FROM sqlite_master WHERE name = 'appointments_active_chair_start'"
        ).fetchone()[0]
        assert "'scheduled'" in sql and "'confirmed'" in sql
        # The other appointment indexes are plain (non-unique) lookups.
        for name in ("appointments_starts_at", "appointments_status"):
            assert listing[name] == {"unique": 0, "partial": 0}
        assert _index_columns(conn, "appointments_starts_at") == ["starts_at"]
        assert _index_columns(conn, "appointments_status") == ["status"]
    finally:
        conn.close()


# SQLite's PRAGMA index_list/index_info.
@pytest.mark.sqlite_only
@pytest.mark.asyncio
async def test_patient_phone_has_a_unique_index(store: Store, db_path: Path) -> None:
    conn = _raw(db_path)
    try:
        unique_indexes = [row[1] for row in conn.execute("PRAGMA index_list(patients)") if row[2]]
        assert ["phone"] in [_index_columns(conn, name) for name in unique_indexes]
    finally:
        conn.close()


# SQLite's PRAGMA table_info.
@pytest.mark.sqlite_only
@pytest.mark.asyncio
async def test_appointment_slots_key_is_chair_and_slot(store: Store, db_path: Path) -> None:
    conn = _raw(db_path)
    try:
        pk = sorted(
            (row[5], row[1]) for row in conn.execute("PRAGMA table_info(appointment_slots)")
        )
        assert [name for order, name in pk if order] == ["chair", "slot_start"]
    finally:
        conn.close()


@pytest.mark.asyncio
async def test_reopening_is_a_no_op(db_path: Path) -> None:
    first = await Store.open(db_path)
    patient, _ = await first.patients.upsert(phone="+355691234567", name="Arta Hoxha")
    await first.close()
    schema_before = _schema(db_path)

    for _ in range(2):
        again = await Store.open(db_path)
        try:
            assert await again.health.schema_version() == SCHEMA_VERSION
            assert await again.patients.get(phone="+355691234567") == patient
            assert await again.patients.count() == 1
        finally:
            await again.close()
    assert _schema(db_path) == schema_before


@pytest.mark.asyncio
async def test_concurrent_first_opens_all_succeed(db_path: Path) -> None:
    # The bot and the CLI may start together on a fresh install: migration must serialise.
    stores = await asyncio.gather(
        *(Store.open(db_path, busy_timeout_ms=30000) for _ in range(8)), return_exceptions=True
    )
    try:
        assert [s for s in stores if not isinstance(s, Store)] == []
        for s in stores:
            assert await s.health.schema_version() == SCHEMA_VERSION
    finally:
        for s in stores:
            if isinstance(s, Store):
                await s.close()
    tables = [name for kind, name, _ in _schema(db_path) if kind == "table"]
    assert sorted(tables) == sorted(set(tables))


@pytest.mark.asyncio
async def test_open_creates_missing_parent_folders(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "elo.db"
    store = await Store.open(path)
    await store.close()
    assert path.is_file()


@pytest.mark.asyncio
async def test_newer_schema_is_refused(db_path: Path) -> None:
    store = await Store.open(db_path)
    await store.close()
    conn = _raw(db_path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    schema_before = _schema(db_path)

    with pytest.raises(StoreError, match="newer"):
        await Store.open(db_path)

    conn = _raw(db_path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1
    finally:
        conn.close()
    assert _schema(db_path) == schema_before


@pytest.mark.asyncio
async def test_newer_empty_database_is_refused_without_creating_tables(db_path: Path) -> None:
    conn = _raw(db_path)
    conn.execute("PRAGMA user_version = 99")
    conn.commit()
    conn.close()

    with pytest.raises(StoreError, match="99"):
        await Store.open(db_path)
    assert [row for row in _schema(db_path) if row[0] == "table"] == []


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"name,phone\nArta,+355691234567\n" * 50, id="csv"),
        pytest.param(b"abc", id="tiny"),
        pytest.param(b"\0" * 4096, id="zeros"),
        pytest.param(b"SQLite format 3\x00" + b"\xff" * 200, id="corrupt-header"),
    ],
)
async def test_non_database_file_is_refused_with_store_error(
    tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / "not-a.db"
    path.write_bytes(content)
    with pytest.raises(StoreError, match="not a database") as info:
        await Store.open(path)
    # A clean, single-line error for the CLI, not a chained sqlite3 traceback.
    assert not isinstance(info.value, sqlite3.Error)
    assert info.value.__suppress_context__
    assert "\n" not in str(info.value)
    # The file is left exactly as it was.
    assert path.read_bytes() == content


@pytest.mark.asyncio
async def test_path_that_is_a_directory_is_refused_with_store_error(tmp_path: Path) -> None:
    folder = tmp_path / "folder.db"
    folder.mkdir()
    with pytest.raises(StoreError) as info:
        await Store.open(folder)
    assert not isinstance(info.value, sqlite3.Error)


@pytest.mark.asyncio
async def test_path_under_a_file_is_refused_with_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "data"
    blocker.write_text("not a folder", encoding="utf-8")
    with pytest.raises(StoreError):
        await Store.open(blocker / "elo.db")
    assert blocker.read_text(encoding="utf-8") == "not a folder"


@pytest.mark.asyncio
async def test_empty_file_is_initialised(tmp_path: Path) -> None:
    # `touch data/elo.db` before first start is harmless: SQLite treats a 0-byte file as new.
    path = tmp_path / "empty.db"
    path.touch()
    store = await Store.open(path)
    try:
        assert await store.health.schema_version() == SCHEMA_VERSION
    finally:
        await store.close()


@pytest.mark.asyncio
async def test_calls_made_before_inbound_calls_existed_are_outbound(db_path: Path) -> None:
    from storage.models import CallDirection

    direction = next(i for i, sql in enumerate(MIGRATIONS) if "ADD COLUMN direction" in sql)
    conn = _raw(db_path)
    try:
        for sql in MIGRATIONS[:direction]:
            conn.executescript(sql)
        conn.execute(f"PRAGMA user_version = {direction}")
        conn.execute(
            "INSERT INTO calls (id, phone, started_at) VALUES ('old', '+355691234567',"
            " '2026-11-30T09:00:00Z')"
        )
        conn.commit()
    finally:
        conn.close()
    store = await Store.open(db_path)
    try:
        old = await store.calls.get(call_id="old")
        new = await store.calls.start(
            call_id="new", phone="+355691234567", direction=CallDirection.INBOUND
        )
    finally:
        await store.close()
    assert old is not None and old.direction is CallDirection.OUTBOUND
    assert new.direction is CallDirection.INBOUND
    with _raw(db_path) as raw, pytest.raises(sqlite3.IntegrityError):
        raw.execute("UPDATE calls SET direction = 'sideways' WHERE id = 'old'")


# --- PostgreSQL's schema (storage/schema_pg.py) and its version in elo_schema -------------------


def test_postgresql_schema_version_is_the_sqlite_schema_version() -> None:
    assert PG_SCHEMA_VERSION == SCHEMA_VERSION


@pytest.fixture
def pg_url(pg_cluster: Any, pg_template: str) -> Iterator[str]:
    """A fresh PostgreSQL database, migrated (a copy of the session's template)."""
    name = f"mig_{os.getpid()}_{next(_pg_names)}"
    pg_cluster.create_database(name, template=pg_template)
    yield pg_cluster.url(name)
    pg_cluster.drop_database(name)


_pg_names = itertools.count(1)


async def _pg_fetch(url: str, sql: str) -> list[Any]:
    conn = await asyncpg.connect(url)
    try:
        return list(await conn.fetch(sql))
    finally:
        await conn.close()


@pytest.mark.asyncio
async def test_postgresql_catalogue_has_the_tables_indexes_and_constraints(pg_url: str) -> None:
    tables = {r[0] for r in await _pg_fetch(pg_url, "SELECT tablename FROM pg_tables")}
    indexes = {r[0] for r in await _pg_fetch(pg_url, "SELECT indexname FROM pg_indexes")}
    assert tables >= EXPECTED_TABLES | {"elo_schema"}
    assert indexes >= EXPECTED_INDEXES
    constraints = dict(
        await _pg_fetch(
            pg_url,
            "SELECT conname, contype::text FROM pg_constraint"
            " WHERE conrelid IN ('appointments'::regclass, 'appointment_slots'::regclass)",
        )
    )
    assert constraints["appointments_no_overlap"] == "x"  # exclusion
    assert constraints["appointment_slots_pkey"] == "p"
    (unique,) = await _pg_fetch(
        pg_url,
        "SELECT indexdef FROM pg_indexes WHERE indexname = 'appointments_active_chair_start'",
    )
    assert "UNIQUE" in unique[0] and "(chair, starts_at)" in unique[0]
    assert "'scheduled'" in unique[0] and "'confirmed'" in unique[0]


@pytest.mark.asyncio
async def test_postgresql_database_at_the_current_version_opens_without_migrating(
    pg_url: str,
) -> None:
    catalogue = "SELECT oid, relname FROM pg_class WHERE relnamespace = 'public'::regnamespace"
    before = await _pg_fetch(pg_url, catalogue)
    migrated: list[str] = []
    sink = logger.add(
        lambda m: migrated.append(str(m)), filter=lambda r: "migrated" in r["message"]
    )
    try:
        for _ in range(2):
            store = await Store.open(pg_url, tz=TIRANE, hash_key=PG_HASH_KEY)
            try:
                assert await store.health.schema_version() == SCHEMA_VERSION
            finally:
                await store.close()
    finally:
        logger.remove(sink)
    assert migrated == []
    # Same relations with the same oids: nothing was dropped, re-created or added.
    assert sorted(await _pg_fetch(pg_url, catalogue)) == sorted(before)
    assert [tuple(r) for r in await _pg_fetch(pg_url, "SELECT version FROM elo_schema")] == [
        (SCHEMA_VERSION,)
    ]


@pytest.mark.asyncio
async def test_postgresql_database_with_a_newer_schema_is_refused(pg_url: str) -> None:
    conn = await asyncpg.connect(pg_url)
    try:
        await conn.execute("UPDATE elo_schema SET version = $1", SCHEMA_VERSION + 1)
    finally:
        await conn.close()
    with pytest.raises(StoreError, match="newer"):
        await Store.open(pg_url, tz=TIRANE, hash_key=PG_HASH_KEY)
    rows = await _pg_fetch(pg_url, "SELECT version FROM elo_schema")
    assert [tuple(r) for r in rows] == [(SCHEMA_VERSION + 1,)]
