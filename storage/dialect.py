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
        # to_char renders a timestamptz in the session's zone: read it as UTC wall time first.
        return (
            f"to_char((elo_instant({column}) - make_interval(secs => {seconds}))"
            " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
        )
    return f"strftime('%Y-%m-%dT%H:%M:%SZ', {column}, -{seconds} || ' seconds')"


def json_object_of(conn: Any, key: str, value: str) -> str:
    """SQL aggregating ``key``/``value`` pairs into a JSON object's text (``'{}'`` for no rows).

    Args:
        conn: The connection the SQL will run on.
        key: An SQL expression for each pair's key (text).
        value: An SQL expression for each pair's value.
    """
    if is_postgres(conn):
        return f"coalesce(json_object_agg({key}, {value})::text, '{{}}')"
    return f"json_group_object({key}, {value})"


def unindexed(conn: Any, column: str) -> str:
    """``column`` as a term SQLite's planner will not pick an index for (its unary ``+``).

    SQLite would otherwise choose a less selective index for some filters; PostgreSQL's
    planner weighs its statistics and has no unary ``+`` for text, so the column stays plain.
    """
    return column if is_postgres(conn) else f"+{column}"


def columns_sql(conn: Any) -> str:
    """SQL listing the column names of the table named by its one parameter (any order).

    Args:
        conn: The connection the SQL will run on.
    """
    if is_postgres(conn):
        return (
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name = ?"
        )
    return "SELECT name FROM pragma_table_info(?)"


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


def skip_locked(conn: Any) -> str:
    """The suffix of a ``SELECT`` that skips rows another transaction has locked (PostgreSQL).

    SQLite has one writer at a time, so there is nothing to skip: the suffix is empty.
    """
    return " FOR UPDATE SKIP LOCKED" if is_postgres(conn) else ""


def queued_zones_sql(conn: Any, campaign_id: int) -> tuple[str, tuple[int, ...]]:
    """SQL and parameters for the distinct (time_zone, country) pairs of a campaign's queue.

    SQLite answers ``DISTINCT`` by skipping through the ``campaign_contacts_zones`` index;
    PostgreSQL before 18 cannot skip, and scans every queued contact (283 ms for a million,
    docs/benchmarks.md), so it walks the same index one pair at a time instead (a recursive
    "loose index scan", 0.3 ms there). The campaign id is a parameter in each branch, so the
    planner matches the index on it.
    """
    if not is_postgres(conn):
        return (
            "SELECT DISTINCT time_zone, country FROM campaign_contacts"
            " WHERE campaign_id = ? AND state = 'queued'",
            (campaign_id,),
        )
    return (
        "WITH RECURSIVE z(time_zone, country) AS ("
        " (SELECT time_zone, country FROM campaign_contacts"
        " WHERE campaign_id = ? AND state = 'queued' ORDER BY time_zone, country LIMIT 1)"
        " UNION ALL"
        " SELECT n.time_zone, n.country FROM z CROSS JOIN LATERAL ("
        " SELECT c.time_zone, c.country FROM campaign_contacts c"
        " WHERE c.campaign_id = ? AND c.state = 'queued'"
        " AND (c.time_zone, c.country) > (z.time_zone, z.country)"
        " ORDER BY c.time_zone, c.country LIMIT 1) AS n)"
        " SELECT time_zone, country FROM z",
        (campaign_id, campaign_id),
    )
