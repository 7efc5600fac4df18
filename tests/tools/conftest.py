"""Fixtures for the tool tests: reading the test's database directly, whichever the engine."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.db_reader import DbReader, Rows

# Every table a tool could write to, directly or through the daily roll-up, with its primary key:
# the order a snapshot lists the rows in, the same on both engines.
TABLES = {
    "patients": "id",
    "appointments": "id",
    "appointment_slots": "chair, slot_start",
    "follow_ups": "id",
    "calls": "id",
    "call_analytics": "day",
    "do_not_call": "phone",
}


@pytest.fixture
def reader(db_url: str) -> Iterator[DbReader]:
    """A connection of the test's own to its database (SQLite file or PostgreSQL database)."""
    opened = DbReader(db_url)
    yield opened
    opened.close()


@pytest.fixture
def rows(reader: DbReader) -> Callable[..., Rows]:
    """``rows("SELECT ...", params)``: query the test's database on a separate connection.

    A separate connection sees exactly what the store committed, nothing cached.
    """

    def query(sql: str, params: tuple[Any, ...] = ()) -> Rows:
        return reader.rows(sql, params)

    return query


@pytest.fixture
def snapshot(reader: DbReader) -> Callable[[], dict[str, Rows]]:
    """Every row of every table, in primary key order, for before/after comparisons."""

    def take() -> dict[str, Rows]:
        return {
            table: reader.rows(f"SELECT * FROM {table} ORDER BY {key}")
            for table, key in TABLES.items()
        }

    return take
