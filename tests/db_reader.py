"""Reading a test's database from outside the store, synchronously, whichever the engine.

Tests check what a store committed through a connection of their own, so nothing the store caches
or holds in a transaction can make a write look done. SQLite is read with the ``sqlite3`` module;
PostgreSQL with asyncpg on a connection owned by a worker thread that runs its own event loop
(the callers are sync helpers called inside the test's running loop, which must not be blocked
re-entrantly). Queries are the repositories' SQL with ``?`` parameters (rewritten by
:func:`storage.pg.translate`), and rows come back as dicts of plain Python values: ``int``,
``str``, ``float`` and ``None`` on both engines (``numeric`` sums decoded as the store does).
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

import asyncpg

from storage.pg import init_connection, translate

Rows = list[dict[str, Any]]
T = TypeVar("T")


def is_postgres_url(db_url: str) -> bool:
    """Whether ``db_url`` (what ``Store.open`` takes) names a PostgreSQL database."""
    return db_url.startswith(("postgresql://", "postgres://"))


class DbReader:
    """A separate connection to the test's database (see the module docstring); close it after.

    Args:
        db_url: The SQLite file's path or a ``postgresql://`` URL (the ``db_url`` fixture).
    """

    def __init__(self, db_url: str) -> None:
        self.postgres = is_postgres_url(db_url)
        self._sqlite: sqlite3.Connection | None = None
        self._pg: asyncpg.Connection | None = None
        if self.postgres:
            self._loop = asyncio.new_event_loop()
            self._thread = threading.Thread(
                target=self._loop.run_forever, name="db-reader", daemon=True
            )
            self._thread.start()
            self._pg = self._run(self._connect(db_url))
        else:
            # Autocommit: every read sees the latest commit, and no read transaction lingers.
            path = db_url.removeprefix("sqlite://")
            self._sqlite = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._sqlite.row_factory = sqlite3.Row

    @staticmethod
    async def _connect(db_url: str) -> asyncpg.Connection:
        conn = await asyncpg.connect(db_url)
        await init_connection(conn)
        return conn

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> Rows:
        """Run one query and return its rows as dicts."""
        if self._sqlite is not None:
            return [dict(row) for row in self._sqlite.execute(sql, params)]
        assert self._pg is not None, "reader closed"
        records = self._run(self._pg.fetch(translate(sql), *params))
        return [dict(record) for record in records]

    def tuples(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Run one query and return its rows as tuples (column order kept)."""
        if self._sqlite is not None:
            return [tuple(row) for row in self._sqlite.execute(sql, params)]
        assert self._pg is not None, "reader closed"
        records = self._run(self._pg.fetch(translate(sql), *params))
        return [tuple(record) for record in records]

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> None:
        """Run one write statement, committed at once (tests that tamper behind the store)."""
        if self._sqlite is not None:
            self._sqlite.execute(sql, params)
            return
        assert self._pg is not None, "reader closed"
        self._run(self._pg.execute(translate(sql), *params))

    def close(self) -> None:
        """Close the connection (and the PostgreSQL reader's thread)."""
        if self._sqlite is not None:
            self._sqlite.close()
            self._sqlite = None
        if self._pg is not None:
            self._run(self._pg.close())
            self._pg = None
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
            self._loop.close()
