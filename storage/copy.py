"""Copy a whole database between engines (SQLite <-> PostgreSQL), keeping every id, and verify it.

``elo db copy`` (cli/db_copy.py) moves a clinic from its SQLite file to a PostgreSQL server (or
back). :data:`COPY_TABLES` is the one list of the schema's tables, in foreign-key order (a test
compares it with both engines' catalogues, so a table added by a migration and not here fails the
tests, and :func:`copy_database` refuses such a schema rather than leave a table behind). Rows are
read in primary-key order from one snapshot of the source and written in batches inside ONE target
transaction: a copy that fails leaves the target as it was. Afterwards PostgreSQL's identity
sequences are moved past the copied ids, so the next booking gets a new id.

``patient_names`` is filled by triggers on ``patients`` in both engines; it is copied last, the
rows the triggers wrote replaced by the source's own, so it is exact whatever the engine's folding.

:func:`table_digests` reads a database's tables in primary-key order and hashes their values
(normalised: ints as ints, floats by ``repr``, NULL distinct, text as UTF-8), so the two sides of a
copy compare table by table. Text keys are ordered by their bytes on both engines (SQLite's BINARY,
PostgreSQL's ``COLLATE "C"``), so the order, and the digest, is the same.
"""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from config.database_url import Backend, DatabaseUrl
from storage.database import Database
from storage.errors import StoreError
from storage.migrations import SCHEMA_VERSION

# Rows per executemany: large enough to amortise round trips, small enough to bound memory.
BATCH_ROWS = 5000


@dataclass(frozen=True)
class CopyTable:
    """One table of the schema as the copy sees it.

    Attributes:
        name: The table.
        key: Its primary key columns (the order rows are read and hashed in).
        identity: PostgreSQL's identity column, whose sequence follows the copied ids (None: no
            generated ids). ``do_not_call``'s is ``rowid``: SQLite's hidden rowid, a real column
            in PostgreSQL.
    """

    name: str
    key: tuple[str, ...]
    identity: str | None = None


# Every table of the schema, parents before children (foreign keys), patient_names last.
COPY_TABLES: tuple[CopyTable, ...] = (
    CopyTable("patients", ("id",), "id"),
    CopyTable("users", ("id",), "id"),
    CopyTable("web_sessions", ("token_hash",)),
    CopyTable("appointments", ("id",), "id"),
    CopyTable("appointment_slots", ("chair", "slot_start")),
    CopyTable("follow_ups", ("id",), "id"),
    CopyTable("calls", ("id",)),
    CopyTable("call_analytics", ("day",)),
    CopyTable("audit_log", ("id",), "id"),
    CopyTable("do_not_call", ("phone",), "rowid"),
    CopyTable("do_not_call_hashed", ("phone_hash",)),
    CopyTable("messages", ("id",), "id"),
    CopyTable("message_opt_outs", ("patient_id", "channel")),
    CopyTable("campaigns", ("id",), "id"),
    # Runtime state (empty after a clean stop); copied so a left-over runner is still adopted.
    CopyTable("campaign_runners", ("token",)),
    CopyTable("campaign_contacts", ("id",), "id"),
    CopyTable("call_attempts", ("id",), "id"),
    CopyTable("patient_names", ("patient_id",)),
)

# Bookkeeping that is not data: the schema version (SQLite's is PRAGMA user_version).
NOT_COPIED = frozenset({"elo_schema"})


class CopyError(StoreError):
    """A copy Elo refuses (non-empty target, old source schema, unknown table); one line."""


@dataclass
class TableCheck:
    """One table's verification: rows and digest on each side."""

    table: str
    source_rows: int
    target_rows: int
    source_sha256: str
    target_sha256: str

    @property
    def equal(self) -> bool:
        """Whether both sides hold the same rows."""
        return (self.source_rows, self.source_sha256) == (self.target_rows, self.target_sha256)


@dataclass
class CopyReport:
    """What a copy did and found."""

    tables: list[TableCheck] = field(default_factory=list)

    @property
    def mismatched(self) -> list[str]:
        """The tables whose two sides differ."""
        return [check.table for check in self.tables if not check.equal]


async def schema_tables(db: Database) -> set[str]:
    """The data tables of a database (the schema's bookkeeping and engine internals left out)."""
    if db.dialect == "postgresql":
        rows = await db.rows(
            "SELECT table_name FROM information_schema.tables"
            " WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
        )
    else:
        rows = await db.rows(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    return {str(row[0]) for row in rows} - NOT_COPIED


async def stored_schema_version(where: DatabaseUrl) -> int | None:
    """The schema version of an existing database without opening (and so migrating) it.

    Returns:
        The version, 0 for an empty database, or None when the SQLite file does not exist.

    Raises:
        StoreError: The database cannot be read.
    """
    if where.backend is Backend.SQLITE:
        return await asyncio.to_thread(_sqlite_version, Path(str(where.path)))
    import asyncpg

    try:
        conn = await asyncpg.connect(where.dsn, timeout=10)
    except (TimeoutError, OSError, asyncpg.PostgresError, ValueError) as exc:
        raise StoreError(f"cannot open database {where.display()}: {exc}") from None
    try:
        if not await conn.fetchval("SELECT to_regclass('elo_schema') IS NOT NULL"):
            return 0
        return int(await conn.fetchval("SELECT version FROM elo_schema") or 0)
    finally:
        await conn.close()


def _sqlite_version(path: Path) -> int | None:
    if not path.is_file():
        return None
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            return int(conn.execute("PRAGMA user_version").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise StoreError(f"cannot use database {path}: {exc}") from None


async def _columns(db: Database, table: CopyTable) -> dict[str, str]:
    """The table's columns and their declared types, in table order."""
    if db.dialect == "postgresql":
        rows = await db.rows(
            "SELECT column_name, data_type FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position",
            (table.name,),
        )
        return {str(r[0]): str(r[1]).lower() for r in rows}
    rows = await db.rows(f"PRAGMA table_info({table.name})")
    columns = {str(r[1]): str(r[2]).lower() for r in rows}
    if table.identity == "rowid" and "rowid" not in columns:
        columns["rowid"] = "integer"  # SQLite's hidden rowid, a real column in PostgreSQL
    return columns


async def _shared_columns(source: Database, target: Database, table: CopyTable) -> list[str]:
    src, dst = await _columns(source, table), await _columns(target, table)
    if set(src) != set(dst):
        only = sorted(set(src) ^ set(dst))
        raise CopyError(f"table {table.name} differs between the databases (columns {only})")
    return list(src)


def _order_by(db: Database, table: CopyTable, types: dict[str, str]) -> str:
    """ORDER BY of the key: text by its bytes on both engines (see the module docstring)."""
    parts = []
    for column in table.key:
        textual = types.get(column, "") in {"text", "user-defined"}
        parts.append(f'{column} COLLATE "C"' if db.dialect == "postgresql" and textual else column)
    return ", ".join(parts)


@asynccontextmanager
async def _snapshot(db: Database) -> AsyncIterator[Any]:
    """One read snapshot of the whole database; yields a function ``batches(sql)``."""
    if db.dialect == "postgresql":
        from storage.pg import db_errors, pooled

        async with pooled(db.pool) as conn:  # type: ignore[attr-defined]
            with db_errors(conn):  # a lost connection reads as one, not as asyncpg's error
                async with conn.transaction(isolation="repeatable_read", readonly=True):

                    async def pg_batches(sql: str) -> AsyncIterator[list[tuple[Any, ...]]]:
                        cursor = await conn.cursor(sql)
                        while rows := await cursor.fetch(BATCH_ROWS):
                            yield [tuple(row) for row in rows]

                    yield pg_batches
        return
    async with db._write_lock:  # the store's own connection
        await db.conn.execute("BEGIN")  # deferred: a read snapshot in WAL mode

        async def sqlite_batches(sql: str) -> AsyncIterator[list[tuple[Any, ...]]]:
            async with db.conn.execute(sql) as cursor:
                while rows := await cursor.fetchmany(BATCH_ROWS):
                    yield [tuple(row) for row in rows]

        try:
            yield sqlite_batches
        finally:
            await db.rollback()


async def check_copyable(source: Database, target: Database) -> None:
    """Refuse a copy that would lose or mix data; nothing is written.

    Raises:
        CopyError: A table is missing from :data:`COPY_TABLES` (or from a database), or the
            target already holds rows (the message names the first such table).
    """
    listed = {table.name for table in COPY_TABLES}
    for side, db in (("source", source), ("target", target)):
        tables = await schema_tables(db)
        if tables != listed:
            unknown = sorted(tables ^ listed)
            raise CopyError(f"the {side} database's tables do not match Elo's copy list: {unknown}")
    for table in COPY_TABLES:
        if await target.scalar(f"SELECT EXISTS (SELECT 1 FROM {table.name})"):  # noqa: S608
            raise CopyError(
                f"the target database is not empty (table {table.name} has rows);"
                " copy only into a new, empty database"
            )


async def copy_database(source: Database, target: Database) -> dict[str, int]:
    """Copy every row of ``source`` into the empty ``target``, in one target transaction.

    Args:
        source: The database to read (not changed).
        target: An empty database at the same schema version.

    Returns:
        Rows copied per table.

    Raises:
        CopyError: See :func:`check_copyable`.
        sqlite3.Error: The target refused a row (nothing is written then).
    """
    await check_copyable(source, target)
    plans = []
    for table in COPY_TABLES:
        columns = await _shared_columns(source, target, table)
        types = await _columns(source, table)
        # PostgreSQL's binary COPY, unless a column's type has no binary codec (citext).
        fast = (
            target.dialect == "postgresql"
            and "user-defined" not in (await _columns(target, table)).values()
        )
        plans.append((table, columns, _order_by(source, table, types), fast))
    copied: dict[str, int] = {}
    async with _snapshot(source) as batches, target.transaction() as conn:
        for table, columns, order, fast in plans:
            names = ", ".join(columns)
            insert = (
                f"INSERT INTO {table.name} ({names})"  # noqa: S608 - names from the schema
                f" VALUES ({', '.join('?' * len(columns))})"
            )
            if table.name == "patient_names":
                # The triggers filled it while patients were copied: the source's rows win.
                await conn.execute("DELETE FROM patient_names")
            count = 0
            async for rows in batches(f"SELECT {names} FROM {table.name} ORDER BY {order}"):  # noqa: S608
                await _write(conn, table.name, columns, insert, rows, fast=fast)
                count += len(rows)
            copied[table.name] = count
        if target.dialect == "postgresql":
            for table in COPY_TABLES:
                if table.identity:
                    col = table.identity
                    await conn.execute(
                        f"SELECT setval(pg_get_serial_sequence('{table.name}', '{col}'),"  # noqa: S608
                        f" coalesce(max({col}), 0) + 1, false) FROM {table.name}"
                    )
    return copied


async def _write(
    conn: Any, table: str, columns: list[str], insert: str, rows: list[Any], *, fast: bool
) -> None:
    """Write one batch of rows.

    PostgreSQL's binary COPY when ``fast`` (its triggers and constraints still apply; three
    times the rows per second of executemany), else executemany.
    """
    if not fast:
        await conn.executemany(insert, rows)
        return
    import asyncpg

    from storage.pg import translate_error

    try:
        await conn.raw.copy_records_to_table(table, records=rows, columns=columns)
    except (asyncpg.PostgresError, asyncpg.DataError) as exc:
        raise translate_error(exc) from exc
    except (TypeError, ValueError, OverflowError) as exc:
        # The binary encoder refuses a value of another type (text where SQLite kept it in an
        # integer column): the same refusal an INSERT would meet, as the DB-API error.
        raise sqlite3.IntegrityError(
            f"table {table}: a value PostgreSQL cannot store in its column ({exc})"
        ) from exc


def _encode(value: Any) -> bytes:
    """One value, typed and length-prefixed, so no two different rows hash alike."""
    if value is None:
        return b"N;"
    if isinstance(value, bool):
        value = int(value)
    if isinstance(value, int):
        return b"i%d;" % value
    if isinstance(value, float):
        return b"f" + repr(value).encode() + b";"
    if isinstance(value, bytes | bytearray | memoryview):
        data = bytes(value)
        return b"b%d:" % len(data) + data
    data = str(value).encode("utf-8")
    return b"s%d:" % len(data) + data


async def table_digests(db: Database) -> dict[str, tuple[int, str]]:
    """Rows and sha256 of every copied table, read in primary-key order from one snapshot.

    Columns are hashed in name order, so the two engines' column orders need not agree.
    """
    plans = []
    for table in COPY_TABLES:
        types = await _columns(db, table)
        plans.append((table, sorted(types), _order_by(db, table, types)))
    digests: dict[str, tuple[int, str]] = {}
    async with _snapshot(db) as batches:
        for table, columns, order in plans:
            digest = hashlib.sha256()
            count = 0
            sql = f"SELECT {', '.join(columns)} FROM {table.name} ORDER BY {order}"  # noqa: S608
            async for rows in batches(sql):
                for row in rows:
                    digest.update(b"".join(_encode(v) for v in row) + b"\n")
                count += len(rows)
            digests[table.name] = (count, digest.hexdigest())
    return digests


async def verify_copy(source: Database, target: Database) -> CopyReport:
    """Compare both databases table by table (rows and digests), reading each after the copy."""
    left, right = await table_digests(source), await table_digests(target)
    report = CopyReport()
    for table in COPY_TABLES:
        (src_rows, src_sha), (dst_rows, dst_sha) = left[table.name], right[table.name]
        report.tables.append(TableCheck(table.name, src_rows, dst_rows, src_sha, dst_sha))
    return report


def ensure_current(version: int | None, display: str) -> None:
    """Refuse a source that is missing or not at this Elo's schema version.

    Raises:
        CopyError: The source does not exist, or is at another schema version.
    """
    if version is None:
        raise CopyError(f"no database at {display}")
    if version != SCHEMA_VERSION:
        raise CopyError(
            f"the source database is at schema version {version}, this Elo at {SCHEMA_VERSION}:"
            " run `elo db init` on the source first"
        )
