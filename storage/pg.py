"""PostgreSQL through asyncpg, behind the small connection interface the repositories use.

The repositories were written against aiosqlite: ``conn.execute(sql, params)`` gives a cursor
(awaited, or used with ``async with``) with ``fetchone``, ``fetchall`` and ``rowcount``;
``conn.execute_fetchall`` and ``conn.executemany`` exist too. :class:`PgConnection` offers the
same calls over one asyncpg connection, so one SQL text serves both engines. The SQL differences
it bridges are few and mechanical: ``?`` placeholders become ``$1, $2, ...`` (outside quoted text),
and PostgreSQL's errors become the DB-API classes of :mod:`storage.errors` that callers already
catch (a constraint violation is an :class:`~storage.errors.IntegrityError` naming the constraint
and its table). What cannot be bridged so (SQLite's ``GLOB``, ``json_each``, ``PRAGMA``) is written
per dialect where it is used, on ``db.dialect``.

Rows are asyncpg records: like ``sqlite3.Row`` they are read by column name or position and
``dict(row)`` works. ``SUM`` and ``AVG`` return ``numeric`` in PostgreSQL; the connection decodes
it as ``int`` when whole and ``float`` otherwise, which is what SQLite returns for the same query.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from functools import lru_cache
from typing import Any, Self

import asyncpg

from storage.errors import PgIntegrityError

# '...' strings, "..." identifiers and -- comments are copied as they are; a ? outside them is a
# parameter. SQLite's SQL has no other quoting the repositories use.
_TOKENS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|\?")


@lru_cache(maxsize=2048)
def translate(sql: str) -> str:
    """Rewrite SQLite's ``?`` parameters as PostgreSQL's ``$1, $2, ...``.

    Args:
        sql: One statement in the repositories' SQL.

    Returns:
        The statement for asyncpg.
    """
    counter = 0

    def number(match: re.Match[str]) -> str:
        nonlocal counter
        if match.group(0) != "?":
            return match.group(0)
        counter += 1
        return f"${counter}"

    return _TOKENS.sub(number, sql)


def _rowcount(status: str | None) -> int:
    """The rows a command touched, from its status (``UPDATE 3``, ``INSERT 0 1``); -1 for reads."""
    if not status:
        return -1
    verb, _, rest = status.partition(" ")
    if verb not in {"INSERT", "UPDATE", "DELETE", "MERGE"}:
        return -1
    try:
        return int(rest.rsplit(" ", 1)[-1])
    except ValueError:
        return -1


# SQLite's words for each kind of refusal, which callers and people already know.
_KINDS = {
    "23505": "UNIQUE",
    "23514": "CHECK",
    "23503": "FOREIGN KEY",
    "23502": "NOT NULL",
    "23P01": "EXCLUSION",
}


def translate_error(exc: asyncpg.PostgresError | asyncpg.DataError) -> sqlite3.Error:
    """The DB-API error a repository catches for a PostgreSQL error.

    Args:
        exc: What asyncpg raised.

    Returns:
        An :class:`~storage.errors.PgIntegrityError` for a constraint violation (class 23), its
        message naming the constraint and table as SQLite's does; an ``OperationalError`` else.
    """
    if isinstance(exc, asyncpg.IntegrityConstraintViolationError):
        constraint = getattr(exc, "constraint_name", None) or ""
        table = getattr(exc, "table_name", None) or ""
        kind = _KINDS.get(exc.sqlstate or "", "INTEGRITY")
        first_line = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
        return PgIntegrityError(
            f"{kind} constraint failed: {table}.{constraint}: {first_line}",
            sqlstate=exc.sqlstate or "",
            constraint=constraint,
            table=table,
        )
    if isinstance(exc, asyncpg.DataError):
        # A value of the wrong type for its column (a float for money): SQLite's typeof CHECKs.
        return PgIntegrityError(
            f"CHECK constraint failed: {exc}", sqlstate="22000", constraint="", table=""
        )
    return sqlite3.OperationalError(f"{exc.__class__.__name__}: {exc}")


def lost_connection(exc: BaseException, conn: asyncpg.Connection | None = None) -> bool:
    """Whether an error means the session with the server is gone (not a mistake in Elo).

    Args:
        exc: What asyncpg (or the socket beneath it) raised.
        conn: The connection it came from, if one was borrowed yet.

    Returns:
        True for a socket error or timeout (connecting, or a peer that reset the connection),
        for PostgreSQL's connection errors (class 08, asyncpg's "connection was closed in the
        middle of operation" among them), and for any error after which the connection is
        closed (the server ended the session: a shutdown, the stalled-transaction limit).
        False for asyncpg's other interface errors, which are misuse (another operation in
        progress, a closed pool) and must surface as such.
    """
    if isinstance(exc, OSError | asyncpg.PostgresConnectionError):
        return True
    return (
        isinstance(exc, asyncpg.InterfaceError | asyncpg.PostgresError)
        and conn is not None
        and session_closed(conn)
    )


def session_closed(conn: asyncpg.Connection) -> bool:
    """Whether the connection's session is over (closed, or taken back by the pool closed)."""
    try:
        return conn.is_closed()
    except asyncpg.InterfaceError:  # the pool took its connection back when it was closed
        return True


def translate_failure(
    exc: BaseException, conn: asyncpg.Connection | None = None
) -> BaseException | None:
    """The DB-API error for a failed statement, or None when ``exc`` should surface as it is.

    One mapping for every path to the server (a pooled read, a transaction's start, statements
    and commit, borrowing a connection): a PostgreSQL error as :func:`translate_error` says, and a
    lost connection as ``sqlite3.OperationalError("lost the database connection: ...")``, which
    callers treat as SQLite's "database is locked": nothing was kept, try again later. Node
    failures produce it: the server ended the session of a node cut off too long (its next
    statement meets a reset), or the server cannot be reached at all.

    Args:
        exc: What was raised.
        conn: The connection it came from, if one was borrowed yet.
    """
    if lost_connection(exc, conn):
        return sqlite3.OperationalError(f"lost the database connection: {exc!r}")
    if isinstance(exc, asyncpg.PostgresError | asyncpg.DataError):
        return translate_error(exc)
    return None


@contextmanager
def db_errors(conn: asyncpg.Connection | None = None) -> Iterator[None]:
    """Raise what :func:`translate_failure` says for an error inside the block."""
    try:
        yield
    except BaseException as exc:
        translated = translate_failure(exc, conn)
        if translated is None:
            raise
        raise translated from exc


@asynccontextmanager
async def pooled(pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    """A connection borrowed from the pool; failing to connect is a lost connection.

    A session found lost makes the pool replace all its other connections at their next use.

    Args:
        pool: The asyncpg pool.

    Yields:
        The connection, given back on exit (asyncpg rolls back what it left open).
    """
    with db_errors():
        conn = await pool.acquire()
    try:
        yield conn
    except BaseException:
        if session_closed(conn):
            # Its session is gone: the pool's other idle sessions most likely went the same way
            # (a network cut, a server restart). They are replaced on their next use instead of
            # each failing once more.
            await pool.expire_connections()
        raise
    finally:
        await pool.release(conn)


def _refuse_fractions(statement: asyncpg.prepared_stmt.PreparedStatement, params: tuple) -> None:
    """Refuse a fractional number for an integer parameter, as SQLite's typeof CHECKs do.

    asyncpg would truncate it silently (``int(2000.5)``): money would lose its half lek.
    """
    for number, (kind, value) in enumerate(
        zip(statement.get_parameters(), params, strict=False), 1
    ):
        if kind.name in {"int2", "int4", "int8"} and isinstance(value, float):
            if not value.is_integer():
                raise PgIntegrityError(
                    f"CHECK constraint failed: ${number} must be an integer, not {value!r}",
                    sqlstate="22000",
                    constraint="",
                    table="",
                )


class PgCursor:
    """The result of one statement: its rows (fetched at once) and the rows it touched.

    Await it (``cursor = await conn.execute(...)``) or enter it (``async with conn.execute(...)
    as cursor``); either runs the statement once.
    """

    def __init__(self, conn: asyncpg.Connection, sql: str, params: Sequence[Any]) -> None:
        self._conn = conn
        self._sql = sql
        self._params = tuple(params)
        self._rows: list[asyncpg.Record] = []
        self._next = 0
        self._done = False
        self.rowcount = -1

    async def _run(self) -> Self:
        if not self._done:
            self._done = True
            # Through asyncpg's statement cache (prepare() would parse the statement anew each
            # time): after the first run, one round trip for the rows and the status.
            # _prepare is asyncpg's own cached path; it is pinned below 0.33 for this.
            with db_errors(self._conn):
                statement = await self._conn._prepare(translate(self._sql), use_cache=True)
                _refuse_fractions(statement, self._params)
                rows = await statement.fetch(*self._params)
                status = statement.get_statusmsg()
            self._rows = list(rows)
            self.rowcount = _rowcount(status)
        return self

    def __await__(self) -> Any:
        return self._run().__await__()

    async def __aenter__(self) -> Self:
        return await self._run()

    async def __aexit__(self, *exc: object) -> None:
        return None

    @property
    def lastrowid(self) -> None:
        """Not available in PostgreSQL: write ``INSERT ... RETURNING id`` instead."""
        raise NotImplementedError("use INSERT ... RETURNING id, which both engines support")

    async def fetchone(self) -> asyncpg.Record | None:
        """The next row, or None."""
        if self._next >= len(self._rows):
            return None
        self._next += 1
        return self._rows[self._next - 1]

    async def fetchall(self) -> list[asyncpg.Record]:
        """The rows not yet fetched."""
        rows = self._rows[self._next :]
        self._next = len(self._rows)
        return rows


class PgConnection:
    """One asyncpg connection with the aiosqlite calls the repositories make."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.raw = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> PgCursor:
        """Run one statement (see :class:`PgCursor`)."""
        return PgCursor(self.raw, sql, params)

    async def execute_fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[asyncpg.Record]:
        """Run one statement and return all its rows."""
        return await (await self.execute(sql, params)).fetchall()

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run one statement for each parameter row."""
        with db_errors(self.raw):
            await self.raw.executemany(translate(sql), [tuple(row) for row in rows])

    @property
    def in_transaction(self) -> bool:
        """Whether a transaction is open on this connection."""
        return self.raw.is_in_transaction()


class PgPoolConnection:
    """Reads outside a transaction: each statement on a connection borrowed from the pool."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    def execute(self, sql: str, params: Sequence[Any] = ()) -> _PooledCursor:
        """Run one statement on a pooled connection (see :class:`PgCursor`)."""
        return _PooledCursor(self.pool, sql, params)

    async def execute_fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[asyncpg.Record]:
        """Run one statement and return all its rows."""
        return await (await self.execute(sql, params)).fetchall()

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run one statement for each parameter row, in one transaction."""
        async with pooled(self.pool) as conn:
            with db_errors(conn):
                async with conn.transaction():
                    await PgConnection(conn).executemany(sql, rows)

    @property
    def in_transaction(self) -> bool:
        """Always False: each statement commits by itself."""
        return False


class _PooledCursor(PgCursor):
    """A cursor that borrows a pool connection for its one statement."""

    def __init__(self, pool: asyncpg.Pool, sql: str, params: Sequence[Any]) -> None:
        super().__init__(None, sql, params)  # type: ignore[arg-type]
        self._pool = pool

    async def _run(self) -> Self:
        if not self._done:
            async with pooled(self._pool) as conn:
                self._conn = conn
                await super()._run()
                self._conn = None  # type: ignore[assignment]
        return self


def _decode_numeric(text: str) -> int | float:
    """SQLite's answer for SUM and AVG: an int when whole, else a float."""
    if "." in text or "e" in text.lower() or text in {"NaN", "Infinity", "-Infinity"}:
        value = float(text)
        return int(value) if value.is_integer() and "." not in text else value
    return int(text)


async def init_connection(conn: asyncpg.Connection) -> None:
    """Set up each pooled connection: numeric decoding.

    The session's settings are the pool's ``server_settings``: a SET here would be undone by the
    reset on each release.
    """
    await conn.set_type_codec(
        "numeric", encoder=str, decoder=_decode_numeric, schema="pg_catalog", format="text"
    )
