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


def skip_locked(conn: Any) -> str:
    """The suffix of a ``SELECT`` that skips rows another transaction has locked (PostgreSQL).

    SQLite has one writer at a time, so there is nothing to skip: the suffix is empty.
    """
    return " FOR UPDATE SKIP LOCKED" if is_postgres(conn) else ""


def object_agg(db: Any, sql: str) -> str:
    """``sql`` with SQLite's ``json_group_object`` as PostgreSQL's ``json_object_agg`` (text)."""
    if getattr(db, "dialect", "sqlite") == "postgresql":
        return sql.replace(
            "json_group_object(outcome, n)", "coalesce(json_object_agg(outcome, n)::text, '{}')"
        )
    return sql
