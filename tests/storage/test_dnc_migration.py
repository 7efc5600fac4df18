"""Migration 14 (do-not-call source 'web') on a database that already holds entries.

The file is built at the schema just before migration 14 with plain SQLite, holding listed
numbers (each source) and an erased person's keyed-hash entry, then opened by the store, which
migrates it. Every row must survive the table rebuilds (a listed entry keeps its rowid: the
Do-not-call page removes entries by it), the index must be made again, the CHECKs must still
refuse what they refused, and 'web' must now be accepted, also when an erasure hashes the entry.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from storage import Store
from storage.database import _split_sql
from storage.migrations import MIGRATIONS
from tests.conftest import TIRANE, FixedClock

WEB_DNC_MIGRATION = next(i for i, s in enumerate(MIGRATIONS) if "-- 14: do-not-call" in s)
T0 = "2026-11-20T08:00:00Z"
HASH = "ab" * 32


def _schema_before(path: Path) -> None:
    with sqlite3.connect(path, isolation_level=None) as conn:
        conn.execute("PRAGMA foreign_keys = ON")
        for number, script in enumerate(MIGRATIONS[:WEB_DNC_MIGRATION], start=1):
            for statement in _split_sql(script):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {number}")
        rows = [
            # rowid, phone, reason, source, call_id, added_at
            (4, "+355691234567", "asked", "agent", "call-1", T0),
            (9, "+355682223344", None, "cli", None, "2026-11-21T08:00:00Z"),
            (12, "+355697654321", "list of 2019", "import", None, "2026-11-22T08:00:00Z"),
        ]
        conn.executemany(
            "INSERT INTO do_not_call (rowid, phone, reason, source, call_id, added_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            rows,
        )
        conn.execute(
            "INSERT INTO do_not_call_hashed (phone_hash, source, added_at, hashed_at)"
            " VALUES (?, 'agent', ?, ?)",
            (HASH, T0, T0),
        )


def _snapshot(path: Path) -> dict[str, object]:
    with sqlite3.connect(path) as conn:
        return {
            "listed": conn.execute("SELECT rowid, * FROM do_not_call ORDER BY rowid").fetchall(),
            "hashed": conn.execute("SELECT * FROM do_not_call_hashed").fetchall(),
            "indexes": conn.execute(
                "SELECT name, tbl_name, sql FROM sqlite_schema WHERE type = 'index'"
                " AND tbl_name IN ('do_not_call', 'do_not_call_hashed') ORDER BY name"
            ).fetchall(),
        }


@pytest.mark.asyncio
async def test_migration_keeps_every_entry_and_index_and_accepts_web(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    _schema_before(path)
    before = _snapshot(path)
    assert [name for name, _, _ in before["indexes"]] == [
        "do_not_call_added",
        "sqlite_autoindex_do_not_call_1",
        "sqlite_autoindex_do_not_call_hashed_1",
    ]
    with sqlite3.connect(path) as conn, pytest.raises(sqlite3.IntegrityError, match="CHECK"):
        conn.execute(  # what the migration is for: before it, 'web' is refused
            "INSERT INTO do_not_call (phone, source, added_at) VALUES ('+355690000001', 'web', ?)",
            (T0,),
        )

    key = "a privacy key for the test"  # the hashed entry was made with the clinic's key
    async with await Store.open(path, tz=TIRANE, clock=FixedClock(), hash_key=key) as store:
        assert await store.health.schema_version() >= WEB_DNC_MIGRATION + 1
        page = await store.dnc.page()
        assert [(i.entry_id, i.source) for i in page.items] == [
            (12, "import"),
            (9, "cli"),
            (4, "agent"),
        ]
        assert page.hashed_entries == 1
        entry = await store.dnc.add(phone="+355690000001", reason="at the desk", source="web")
        assert entry.source == "web"
        # An erasure hashes the entry and keeps its source.
        await store.patients.upsert(phone="+355690000001", name="Dea Leka")
        await store.privacy.erase_person(phone="+355690000001", actor="test")
        hashed = await store.db.rows("SELECT source FROM do_not_call_hashed ORDER BY source")
        assert [row["source"] for row in hashed] == ["agent", "web"]
        assert await store.dnc.is_listed(phone="+355690000001")

    after = _snapshot(path)
    assert after["listed"] == before["listed"]
    assert after["hashed"][0] == before["hashed"][0]
    assert after["indexes"] == before["indexes"]  # the same names, tables and SQL
    with sqlite3.connect(path, isolation_level=None) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        plan = conn.execute(
            "EXPLAIN QUERY PLAN SELECT * FROM do_not_call ORDER BY added_at DESC LIMIT 5"
        ).fetchall()
        assert "do_not_call_added" in plan[0][3]
        for table, columns, values in (
            ("do_not_call", "phone, source, added_at", ("+355690000002", "robot", T0)),
            ("do_not_call", "phone, source, added_at", ("0690000002", "web", T0)),
            ("do_not_call_hashed", "phone_hash, source, added_at, hashed_at",
             ("cd" * 32, "robot", T0, T0)),
        ):  # fmt: skip
            marks = ", ".join("?" * len(values))
            with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
                conn.execute(f"INSERT INTO {table} ({columns}) VALUES ({marks})", values)
        with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
            conn.execute(
                "INSERT INTO do_not_call (phone, source, added_at) VALUES (?, 'web', ?)",
                ("+355682223344", T0),
            )
