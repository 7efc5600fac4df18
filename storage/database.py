"""One SQLite connection, its set-up and migration, and the write-transaction helper.

Every repository reads through :attr:`Database.conn` and writes inside
:meth:`Database.transaction`. Writes that read before they write run in ``BEGIN IMMEDIATE``
transactions, so two processes booking the same slot serialise on SQLite's write lock and the
loser sees the winner's row when it re-checks. A repository that must write another aggregate's
rows in the same transaction (a booking upserts its patient) calls that aggregate's module-level
function with the transaction's connection.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Self
from zoneinfo import ZoneInfo

import aiosqlite
from loguru import logger

from config.clock import Clock, system_clock
from config.private_files import create_private_file
from storage.errors import StoreError
from storage.migrations import MIGRATIONS, SCHEMA_VERSION
from storage.notify import Notifications, Waiter
from storage.outbox_plan import OutboxPlan

# Files this process has quick-checked and found healthy, by identity, size and modification time.
# Opening the same unchanged file again (tests, benchmarks, a bot restarted for each call) skips
# the scan. Only a file whose WAL is empty is remembered: committed changes still in the WAL
# reach the main file at a checkpoint, which changes its size or time and so its key.
_healthy_files: set[tuple[Any, ...]] = set()


def file_key(path: Path) -> tuple[Any, ...] | None:
    """Identity and last change of a database file, or None if unknown or its WAL holds changes."""
    try:
        main = os.stat(path)
    except OSError:
        return None
    try:
        if os.stat(f"{path}-wal").st_size > 0:
            return None
    except FileNotFoundError:
        pass
    except OSError:
        return None
    return (str(path.resolve()), main.st_dev, main.st_ino, main.st_size, main.st_mtime_ns)


class Database:
    """Async access to Elo's SQLite file: one connection, its clock and its time zone.

    A database whose file fails the quick check at :meth:`open` is *unhealthy*: it still reads
    (so staff can export and inspect), but every write transaction raises :class:`StoreError`,
    so nothing more is committed into a damaged file.

    Args:
        conn: An open aiosqlite connection in autocommit mode.
        tz: The clinic time zone, for daily roll-ups.
        clock: Returns the current aware time; tests pass a fixed clock.
    """

    # Which SQL dialect the connection speaks ("postgresql" in storage.database_pg.PgDatabase);
    # a repository branches on it only where one SQL text cannot serve both engines.
    dialect = "sqlite"

    def __init__(
        self,
        conn: aiosqlite.Connection,
        *,
        tz: ZoneInfo,
        clock: Clock = system_clock,
    ) -> None:
        self.conn = conn
        self.tz = tz
        self.clock = clock
        # One connection cannot nest transactions; concurrent writers in this process queue here.
        self._write_lock = asyncio.Lock()
        # The quick check's first finding when the file is damaged; writes are refused then.
        self.damage: str | None = None
        # What the messages outbox plans in each booking's transaction (storage.outbox_plan);
        # open_application sets it from the settings and the configured channels.
        self.outbox = OutboxPlan()
        # Wake-ups for waiting runners (storage.notify); channels notified in the open write.
        self.notifications = Notifications()
        self._pending: list[str] = []

    @classmethod
    async def open(
        cls,
        path: Path,
        *,
        tz: ZoneInfo,
        busy_timeout_ms: int = 5000,
        clock: Clock = system_clock,
    ) -> Self:
        """Open (creating if needed) and migrate the database at ``path``.

        A quick integrity check runs first (skipped when this process already found the same
        unchanged file healthy). A damaged file is neither migrated nor written to: the
        database opens unhealthy (see :attr:`damage`) and its write transactions raise.

        Args:
            path: The SQLite file.
            tz: The clinic time zone.
            busy_timeout_ms: How long to wait for another writer.
            clock: Source of the current time.

        Returns:
            A ready database.

        Raises:
            StoreError: The file is not a database or has a newer schema than this code.
        """
        try:
            # 0600 before SQLite opens it; its -wal and -shm files take the same mode.
            create_private_file(path)
            # Probe first: a failed aiosqlite.connect leaves its worker thread reporting to an
            # event loop that may be closed by then, which prints a stray thread traceback.
            await asyncio.to_thread(_probe, path)
            conn = await aiosqlite.connect(path, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open database {path}: {exc}") from None
        try:
            conn.row_factory = sqlite3.Row
            await conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            db = cls(conn, tz=tz, clock=clock)
            key = file_key(path)
            if key is None or key not in _healthy_files:
                db.damage = await db.quick_check()
            if db.damage is None:
                await db._set_up(busy_timeout_ms / 1000)
                if (key := file_key(path)) is not None:
                    _healthy_files.add(key)
            else:
                # No migration either: a migration is a write. Reads still work for export.
                await conn.execute("PRAGMA foreign_keys = ON")
                logger.error(
                    "database {} failed its quick integrity check; writes are refused"
                    " (run `elo db check`)",
                    path.name,
                )
        except sqlite3.DatabaseError as exc:
            await conn.close()
            raise StoreError(f"cannot use database {path}: {exc}") from None
        except BaseException:
            await conn.close()
            raise
        return db

    async def close(self) -> None:
        """Close the connection."""
        await self.conn.close()

    async def quick_check(self) -> str | None:
        """SQLite's ``PRAGMA quick_check``: the first problem found, or None when healthy.

        It reads every page once (no index-content comparison) and skips the CHECK constraints
        (two thirds of its time on a large file), so it finds damaged pages and broken b-trees
        cheaply at every start; ``elo db check`` runs the full checks.

        Raises:
            sqlite3.DatabaseError: The file is not a database at all.
        """
        await self.conn.execute("PRAGMA ignore_check_constraints = ON")
        try:
            rows = await self.conn.execute_fetchall("PRAGMA quick_check(1)")
        finally:
            await self.conn.execute("PRAGMA ignore_check_constraints = OFF")
        first = rows[0][0] if rows else "ok"
        return None if first == "ok" else str(first)

    async def _set_up(self, patience_s: float) -> None:
        """Switch to WAL and migrate, retrying while another connection sets up the same file.

        Switching a fresh file to WAL, or recovering its WAL index, can answer "database is
        locked" at once without consulting the busy timeout when several processes open the
        file together (e.g. the bot and the CLI on a fresh install), so retry with back-off.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + patience_s
        delay = 0.01
        while True:
            try:
                await self.conn.execute("PRAGMA journal_mode = WAL")
                await self.conn.execute("PRAGMA synchronous = NORMAL")
                await self.conn.execute("PRAGMA foreign_keys = ON")
                await self._migrate()
                return
            except sqlite3.OperationalError as exc:
                busy = "locked" in str(exc) or "busy" in str(exc)
                if not busy or loop.time() + delay > deadline:
                    raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.25)

    async def _migrate(self) -> None:
        async with self._write_lock:
            await self.conn.execute("BEGIN IMMEDIATE")
            try:
                version = await self.scalar("PRAGMA user_version")
                if version > SCHEMA_VERSION:
                    raise StoreError(
                        f"database schema version {version} is newer than this Elo"
                        f" ({SCHEMA_VERSION}); upgrade Elo"
                    )
                for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                    for statement in _split_sql(script):
                        await self.conn.execute(statement)
                    await self.conn.execute(f"PRAGMA user_version = {number}")
                await self.conn.execute("COMMIT")
            except BaseException:
                await self.rollback()
                raise

    def refuse_if_damaged(self) -> None:
        """Raise when the file failed its quick check: nothing is written into a damaged file.

        Raises:
            StoreError: The file is damaged.
        """
        if self.damage is not None:
            raise StoreError(
                "database failed its integrity check, so nothing is written to it:"
                " run `elo db check`, then restore a backup or repair the file"
            )

    @asynccontextmanager
    async def transaction(self, *, exclusive: bool = True) -> AsyncIterator[aiosqlite.Connection]:
        """A ``BEGIN IMMEDIATE`` transaction, committed on exit and rolled back on any error.

        Args:
            exclusive: Whether the write needs the one-writer lock. SQLite always takes it;
                PostgreSQL (storage.database_pg) lets ``False`` writes run side by side.

        Yields:
            The connection, inside the transaction.

        Raises:
            StoreError: The file is damaged (see :meth:`refuse_if_damaged`).
        """
        self.refuse_if_damaged()
        async with self._write_lock:
            await self.conn.execute("BEGIN IMMEDIATE")
            self._pending.clear()
            try:
                yield self.conn
                # Inside the try: a COMMIT that fails (disk full, I/O error) is rolled back too,
                # so the connection is not left inside a half-done transaction.
                await self.conn.execute("COMMIT")
            except BaseException:
                self._pending.clear()
                await self.rollback()
                raise
            for channel in self._pending:
                self.notifications.deliver(channel)
            self._pending.clear()

    async def notify(self, conn: Any, channel: str) -> None:
        """Wake the waiters of ``channel`` when the transaction on ``conn`` commits.

        SQLite reaches this process's waiters only; other processes poll.
        """
        self._pending.append(channel)

    async def waiter(self, channel: str) -> Waiter:
        """A :class:`~storage.notify.Waiter` for ``channel`` (close it when done)."""
        waiter = Waiter(self.notifications, channel, _nothing)
        self.notifications.add(waiter)
        return waiter

    async def rollback(self) -> None:
        """Roll back if a transaction is still open, keeping the error that caused it.

        SQLite rolls back by itself after some errors (a full disk, an I/O error); a second
        ROLLBACK would then raise and hide the real reason.
        """
        if self.conn.in_transaction:
            try:
                await self.conn.execute("ROLLBACK")
            except sqlite3.Error:
                logger.warning("rollback after a failed write did not complete")

    async def scalar(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        """The first column of the first row of a query, or None when it returns no row."""
        async with self.conn.execute(sql, params) as cursor:
            row = await cursor.fetchone()
        return row[0] if row else None

    async def rows(self, sql: str, params: tuple[Any, ...] | list[Any] = ()) -> list[sqlite3.Row]:
        """Every row of a query, in one round trip to the connection thread."""
        return list(await self.conn.execute_fetchall(sql, params))

    async def row(self, sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Row | None:
        """The first row of a query, or None."""
        async with self.conn.execute(sql, params) as cursor:
            return await cursor.fetchone()


async def _nothing() -> None:
    return None


def _probe(path: Path) -> None:
    """Check that SQLite can open ``path`` (a folder or unreadable path fails here)."""
    sqlite3.connect(path).close()


def _split_sql(script: str) -> list[str]:
    """Split a migration into statements, keeping trigger bodies whole."""
    statements: list[str] = []
    buffer = ""
    for line in script.splitlines(keepends=True):
        if line.strip().startswith("--"):
            continue
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        statements.append(buffer.strip())
    return statements
