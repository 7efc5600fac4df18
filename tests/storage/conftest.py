"""Fixtures shared by the storage tests."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from storage import Store


@pytest.fixture
def raw(store: Store, db_path: Path) -> Iterator[sqlite3.Connection]:
    """A second, plain connection to the same file: what any other program could do."""
    conn = sqlite3.connect(db_path, isolation_level=None)
    yield conn
    conn.close()
