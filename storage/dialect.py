"""The few SQL fragments that differ between SQLite and PostgreSQL, chosen by the connection.

Repositories write one SQL text wherever both engines accept it; where they cannot (SQLite's date
functions and ``GLOB``, PostgreSQL's JSON operators), they take the fragment from here, so each
difference is written once.
"""

from __future__ import annotations

from typing import Any

from storage.pg import PgConnection, PgPoolConnection


def is_postgres(conn: Any) -> bool:
    """Whether ``conn`` (a transaction's or the database's connection) speaks PostgreSQL."""
    return isinstance(conn, PgConnection | PgPoolConnection)


def shifted_instant(conn: Any, column: str, seconds: str) -> str:
    """SQL for the stored instant ``column`` moved back by ``seconds`` (an SQL integer), as text.

    Args:
        conn: The connection the SQL will run on.
        column: A column (or expression) holding stored UTC text.
        seconds: An SQL expression of whole seconds to subtract.
    """
    if is_postgres(conn):
        return (
            f"to_char(elo_instant({column}) - make_interval(secs => {seconds}),"
            ' \'YYYY-MM-DD"T"HH24:MI:SS"Z"\')'
        )
    return f"strftime('%Y-%m-%dT%H:%M:%SZ', {column}, -{seconds} || ' seconds')"


def unindexed(conn: Any, column: str) -> str:
    """``column`` in a WHERE term the planner should not pick an index for.

    SQLite's unary ``+`` keeps its planner off the column's index (it would otherwise prefer an
    equality on a low-selectivity status column); PostgreSQL's planner weighs statistics instead,
    and its ``+`` is only defined for numbers.
    """
    return column if is_postgres(conn) else f"+{column}"


def for_update(conn: Any) -> str:
    """The clause that locks the rows a SELECT reads until the transaction ends.

    PostgreSQL's writers run side by side when they skip the one-writer lock; SQLite's write
    transaction already holds the whole database, and has no such clause.
    """
    return " FOR UPDATE" if is_postgres(conn) else ""


def json_items(conn: Any, column: str, alias: str) -> str:
    """A FROM item with one row per element of the JSON array stored as text in ``column``.

    Each element is ``alias.value`` (read it with :func:`json_text`).
    """
    if is_postgres(conn):
        return f"jsonb_array_elements(CAST({column} AS jsonb)) AS {alias}(value)"
    return f"json_each({column}) AS {alias}"


def json_text(conn: Any, value: str, *keys: str) -> str:
    """SQL for the member ``keys`` (a path of object keys) of the JSON ``value``, as text.

    Both engines give NULL for a missing member; numbers come back as their decimal text.
    """
    if is_postgres(conn):
        return f"({value} #>> '{{{','.join(keys)}}}')"
    return f"CAST(json_extract({value}, '$.{'.'.join(keys)}') AS TEXT)"
