"""The PostgreSQL database: a pool of asyncpg connections, its migrations and write transactions.

:class:`PgDatabase` is a :class:`~storage.database.Database` for the repositories: ``db.conn``
reads (each statement on a pooled connection), ``db.transaction()`` writes. SQLite lets one writer
in at a time (``BEGIN IMMEDIATE``), and the repositories' read-then-write steps were written for
that; so a PostgreSQL write transaction takes the same one-writer lock by default, an advisory
transaction lock that every node shares. Writes whose correctness the schema itself guarantees
pass ``exclusive=False`` and run side by side: a booking, whose overlap the unique slot key and
the exclusion constraint refuse, whichever transaction commits first.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Self
from zoneinfo import ZoneInfo

import asyncpg
from loguru import logger

from config.clock import Clock, system_clock
from config.database_url import STALLED_TRANSACTION_S
from storage.database import Database
from storage.errors import StoreError
from storage.migrations import SCHEMA_VERSION
from storage.notify import Waiter
from storage.pg import (
    PgConnection,
    PgPoolConnection,
    db_errors,
    init_connection,
    pooled,
    session_closed,
    translate_failure,
)
from storage.schema_pg import PG_BASELINE, PG_MIGRATIONS

# Advisory lock keys (any fixed 64-bit numbers; "elo" spelled in the high bytes to be findable
# in pg_locks): one for migrations, one for the single-writer transactions.
MIGRATION_LOCK = 0x656C6F_0001
WRITE_LOCK = 0x656C6F_0002
# Collations that order text byte by byte, as SQLite's BINARY does.
_BYTE_ORDER_COLLATIONS = frozenset({"C", "POSIX", "C.UTF-8", "C.utf8"})


class PgDatabase(Database):
    """Elo's database in PostgreSQL (see the module docstring).

    Args:
        pool: The asyncpg pool.
        tz: The clinic time zone.
        clock: Source of the current time.
        display: The URL with its password masked, for messages.
    """

    dialect = "postgresql"

    def __init__(
        self, pool: asyncpg.Pool, *, tz: ZoneInfo, clock: Clock = system_clock, display: str = ""
    ) -> None:
        super().__init__(PgPoolConnection(pool), tz=tz, clock=clock)  # type: ignore[arg-type]
        self.pool = pool
        self.display = display
        self._dsn = ""
        # One dedicated connection per process LISTENs for every channel a waiter needs
        # (storage.notify); a pooled connection would be handed to other work.
        self._listener: asyncpg.Connection | None = None
        self._listening: set[str] = set()
        self._listen_lock = asyncio.Lock()

    @classmethod
    async def open(  # type: ignore[override]
        cls,
        dsn: str,
        *,
        tz: ZoneInfo,
        clock: Clock = system_clock,
        display: str = "",
        pool_size: int = 10,
        connect_timeout_s: float = 10.0,
        stalled_transaction_s: float | None = STALLED_TRANSACTION_S,
    ) -> Self:
        """Connect, and migrate the schema if this node is the first to reach a new version.

        Args:
            dsn: The ``postgresql://`` URL.
            tz: The clinic time zone.
            clock: Source of the current time.
            display: The URL with its password masked, for messages.
            pool_size: Most connections this process opens.
            connect_timeout_s: How long to wait for the server.
            stalled_transaction_s: The server ends a session idle this long inside a
                transaction, releasing its locks (None: never).

        Returns:
            A ready database.

        Raises:
            StoreError: The server cannot be reached, refuses the login, or holds a newer schema.
        """
        try:
            pool = await asyncpg.create_pool(
                dsn,
                min_size=1,
                max_size=pool_size,
                init=init_connection,
                timeout=connect_timeout_s,
                server_settings=_session_settings(stalled_transaction_s),
                reset=_nothing_to_reset,
            )
        except (TimeoutError, OSError, asyncpg.PostgresError, ValueError) as exc:
            raise StoreError(f"cannot open database {display or 'postgresql'}: {exc}") from None
        db = cls(pool, tz=tz, clock=clock, display=display)
        db._dsn = dsn
        try:
            await db._migrate()
        except BaseException:
            await pool.close()
            raise
        return db

    async def close(self) -> None:
        """Close the listener and every pooled connection."""
        listener, self._listener = self._listener, None
        if listener is not None and not listener.is_closed():
            await listener.close()
        await self.pool.close()

    async def notify(self, conn: Any, channel: str) -> None:
        """Wake the waiters of ``channel`` on every node when the transaction commits."""
        await conn.execute("SELECT pg_notify(?, '')", (channel,))

    async def waiter(self, channel: str) -> Waiter:
        """A :class:`~storage.notify.Waiter` for ``channel`` (close it when done)."""
        waiter = Waiter(self.notifications, channel, self._listen)
        self.notifications.add(waiter)
        await self._listen()
        return waiter

    async def _listen(self) -> None:
        """Make sure the listener connection is up and LISTENs on every channel waited on."""
        async with self._listen_lock:
            if self._listener is None or self._listener.is_closed():
                reconnecting = self._listener is not None or bool(self._listening)
                self._listening = set()
                self._listener = await asyncpg.connect(self._dsn, timeout=10)
                self._listener.add_termination_listener(self._lost)
                if reconnecting:
                    # Notifications sent while no one listened are gone: everyone looks again.
                    self.notifications.deliver_all()
            for channel in self.notifications.channels():
                if channel not in self._listening:
                    await self._listener.add_listener(channel, self._heard)
                    self._listening.add(channel)

    def _heard(self, conn: Any, pid: int, channel: str, payload: str) -> None:
        self.notifications.deliver(channel)

    def _lost(self, conn: Any) -> None:
        if conn is not self._listener:
            return  # closed by close(), or an old connection already replaced
        logger.warning("the notification listener lost its connection; reconnecting")
        self._listener = None
        self._listening = set()
        self.notifications.deliver_all()

    async def quick_check(self) -> str | None:
        """PostgreSQL checks its own pages; there is no file for Elo to scan."""
        return None

    async def schema_version(self) -> int:
        """The schema version recorded in the database (0 before the first migration)."""
        async with pooled(self.pool) as conn:
            with db_errors(conn):
                exists = await conn.fetchval("SELECT to_regclass('elo_schema') IS NOT NULL")
                if not exists:
                    return 0
                return int(await conn.fetchval("SELECT version FROM elo_schema") or 0)

    async def _migrate(self) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            # Nodes starting together: one migrates, the others wait here and then find it done.
            await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
            await conn.execute("CREATE TABLE IF NOT EXISTS elo_schema (version INTEGER NOT NULL)")
            version = await conn.fetchval("SELECT version FROM elo_schema")
            if version is None:
                await conn.execute("INSERT INTO elo_schema (version) VALUES (0)")
                version = 0
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"database schema version {version} is newer than this Elo"
                    f" ({SCHEMA_VERSION}); upgrade Elo"
                )
            collation = await conn.fetchval(
                "SELECT datcollate FROM pg_database WHERE datname = current_database()"
            )
            if collation not in _BYTE_ORDER_COLLATIONS:
                # Pages, cursors and sorted lists compare text as SQLite does (byte order)
                # only under a C collation; another locale still works, but may order them
                # differently from a SQLite copy of the same data.
                logger.warning(
                    "database collation is {}, not C: lists may sort differently from SQLite"
                    " (create the database with LC_COLLATE 'C.UTF-8', docs/deploy.md)",
                    collation,
                )
            start = 0 if version < PG_BASELINE else version - PG_BASELINE + 1
            for offset, script in enumerate(PG_MIGRATIONS[start:], start=start):
                number = PG_BASELINE + offset
                try:
                    await conn.execute(script)
                except asyncpg.PostgresError as exc:
                    raise StoreError(f"migration {number} failed: {exc}") from None
                await conn.execute("UPDATE elo_schema SET version = $1", number)
                logger.info("database migrated to schema version {}", number)

    @asynccontextmanager
    async def transaction(self, *, exclusive: bool = True) -> AsyncIterator[PgConnection]:  # type: ignore[override]
        """A write transaction, committed on exit and rolled back on any error.

        Args:
            exclusive: Take the one-writer lock all nodes share (the SQLite behaviour the
                repositories assume); False only where constraints alone keep the data right.

        Yields:
            The transaction's connection.
        """
        self.refuse_if_damaged()
        if not exclusive:
            async with self._in_transaction() as conn:
                yield conn
            return
        # This process's writers queue here before borrowing a connection, as on SQLite: only
        # one of them waits on the shared lock with a connection in hand, so writers waiting for
        # the lock can never hold every pooled connection while the holder needs one to read.
        async with self._write_lock, self._in_transaction() as conn:
            await conn.raw.execute("SELECT pg_advisory_xact_lock($1)", WRITE_LOCK)
            yield conn

    @asynccontextmanager
    async def _in_transaction(self) -> AsyncIterator[PgConnection]:
        """A pooled connection inside a transaction, committed on exit, rolled back on error."""
        async with pooled(self.pool) as raw:
            tx = raw.transaction()
            with db_errors(raw):
                await tx.start()
            try:
                yield PgConnection(raw)
                await tx.commit()
            except BaseException as exc:
                # Nothing of the transaction is kept; on a lost connection (e.g. the server
                # ended a session that stalled, STALLED_TRANSACTION_S) the caller may try again.
                await _rollback(tx, raw)
                translated = translate_failure(exc, raw)
                if translated is None:
                    raise
                raise translated from exc


async def _rollback(tx: asyncpg.transaction.Transaction, conn: asyncpg.Connection) -> None:
    """Roll back, keeping the error that caused it; a lost session was rolled back already."""
    if session_closed(conn):
        return
    try:
        await tx.rollback()
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
        logger.warning("rollback after a failed write did not complete")


def _session_settings(stalled_transaction_s: float | None) -> dict[str, str]:
    """Settings of every pooled session, sent when it connects.

    UTC whatever the server's or the database's zone (a clinic's own server runs in its local
    zone): a value from the connection's start survives the ``RESET ALL`` that asyncpg's pool
    runs on each release, where a ``SET`` would not. And the stalled-transaction limit (see
    :data:`STALLED_TRANSACTION_S`).
    """
    settings = {"timezone": "UTC"}
    if stalled_transaction_s is not None:
        ms = f"{round(stalled_transaction_s * 1000)}ms"
        settings["idle_in_transaction_session_timeout"] = ms
        # A server process blocked sending to a client that vanished (its data never
        # acknowledged) would keep its locks until TCP gives up: the same limit applies.
        settings["tcp_user_timeout"] = ms
    return settings


async def _nothing_to_reset(conn: asyncpg.Connection) -> None:
    """The pool's reset on each release: none needed, which saves a round trip per transaction.

    Elo's pooled sessions keep no state between uses: advisory locks are transaction-scoped,
    LISTEN runs on the dedicated listener, cursors live inside transactions and the settings
    come from the connection's start (:func:`_session_settings`). asyncpg still rolls back a
    transaction left open before it calls this.
    """
