"""The asyncpg adapter's own rules: parameters, statuses, errors and numeric results."""

from __future__ import annotations

import sqlite3

import pytest

from storage import Store
from storage.errors import PgIntegrityError
from storage.pg import _decode_numeric, _rowcount, translate


def test_question_marks_become_numbered_parameters_outside_quotes_and_comments() -> None:
    sql = "SELECT '?', \"a?b\", x FROM t WHERE a = ? AND b IN (?, ?) -- why?\nAND c = ?"
    assert translate(sql) == (
        "SELECT '?', \"a?b\", x FROM t WHERE a = $1 AND b IN ($2, $3) -- why?\nAND c = $4"
    )
    assert translate("SELECT 'it''s ?' WHERE x = ?") == "SELECT 'it''s ?' WHERE x = $1"


@pytest.mark.parametrize(
    ("status", "count"),
    [("INSERT 0 3", 3), ("UPDATE 2", 2), ("DELETE 0", 0), ("SELECT 5", -1), ("", -1)],
)
def test_rowcount_comes_from_the_command_status(status: str, count: int) -> None:
    assert _rowcount(status) == count


def test_numeric_results_decode_as_sqlite_returns_them() -> None:
    assert _decode_numeric("42") == 42 and isinstance(_decode_numeric("42"), int)
    assert _decode_numeric("2.5000") == 2.5
    assert isinstance(_decode_numeric("2.0000"), float)


@pytest.mark.asyncio
async def test_sums_and_averages_come_back_as_int_and_float(store: Store) -> None:
    row = await store.db.row("SELECT sum(x), avg(x) FROM (SELECT 1 AS x UNION ALL SELECT 2) AS t")
    assert row is not None
    assert (row[0], type(row[0])) == (3, int)
    assert (row[1], type(row[1])) == (1.5, float)


@pytest.mark.asyncio
async def test_constraint_errors_are_integrity_errors_naming_the_constraint(store: Store) -> None:
    with pytest.raises(sqlite3.IntegrityError, match="CHECK constraint failed") as caught:
        async with store.db.transaction() as conn:
            await conn.execute(
                "INSERT INTO patients (phone, name, created_at, updated_at) VALUES (?, ?, ?, ?)",
                ("0691234567", "X", "2026-12-01T07:00:00Z", "2026-12-01T07:00:00Z"),
            )
    if store.db.dialect == "postgresql":
        assert isinstance(caught.value, PgIntegrityError)
        assert caught.value.sqlstate == "23514" and caught.value.table == "patients"
    assert await store.db.scalar("SELECT count(*) FROM patients") == 0


@pytest.mark.asyncio
async def test_rowcount_and_returning_work_alike_on_both_engines(store: Store) -> None:
    async with store.db.transaction() as conn:
        inserted = await conn.execute(
            "INSERT INTO audit_log (at, actor, action) VALUES (?, ?, ?), (?, ?, ?) RETURNING id",
            ("2026-12-01T07:00:00Z", "cli", "a", "2026-12-01T07:00:00Z", "cli", "b"),
        )
        ids = [row[0] for row in await inserted.fetchall()]
        updated = await conn.execute("UPDATE audit_log SET detail = ? WHERE id > ?", ("d", 0))
        assert updated.rowcount == 2
    assert len(ids) == 2 and ids[0] < ids[1]
