"""Fixtures for the tool tests: reading the SQLite file behind the store directly."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

# Every table a tool could write to, directly or through the daily roll-up.
TABLES = (
    "patients",
    "appointments",
    "appointment_slots",
    "follow_ups",
    "calls",
    "call_analytics",
    "do_not_call",
)

Rows = list[dict[str, Any]]


def _read(db_path: Path, sql: str, params: tuple[Any, ...] = ()) -> Rows:
    # A separate sqlite3 connection sees exactly what the store committed, nothing cached.
    conn = sqlite3.connect(db_path)
    try:
        conn.row_factory = sqlite3.Row
        return [dict(row) for row in conn.execute(sql, params)]
    finally:
        conn.close()


@pytest.fixture
def rows(db_path: Path) -> Callable[..., Rows]:
    """``rows("SELECT ...", params)``: query the database file with the sqlite3 module."""

    def query(sql: str, params: tuple[Any, ...] = ()) -> Rows:
        return _read(db_path, sql, params)

    return query


@pytest.fixture
def snapshot(db_path: Path) -> Callable[[], dict[str, Rows]]:
    """Every row of every table, for before/after comparisons."""

    def take() -> dict[str, Rows]:
        return {
            table: _read(db_path, f"SELECT * FROM {table} ORDER BY rowid")
            if table != "appointment_slots"
            else _read(db_path, "SELECT * FROM appointment_slots ORDER BY chair, slot_start")
            for table in TABLES
        }

    return take
