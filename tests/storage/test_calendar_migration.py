"""Migration 13 (staff appointments) on a database that already holds appointments.

The file is built at the schema just before migration 13 with plain SQLite, filled the way
bookings, cancellations and completed visits leave it, then opened by the store, which
migrates it. Everything must survive the table rebuild: ids, rows, held slots, the indexes and
the trigger, and the unique index must still refuse a double booking.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from storage import Store
from storage.database import _split_sql
from storage.migrations import MIGRATIONS
from tests.conftest import TIRANE, FixedClock

STAFF_MIGRATION = next(i for i, script in enumerate(MIGRATIONS) if "-- 13: staff" in script)
T0 = "2026-11-20T08:00:00Z"


def _schema_before(path: Path) -> None:
    with sqlite3.connect(path, isolation_level=None) as conn:
        conn.execute("PRAGMA foreign_keys = ON")
        for number, script in enumerate(MIGRATIONS[:STAFF_MIGRATION], start=1):
            for statement in _split_sql(script):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {number}")
        conn.executemany(
            "INSERT INTO patients (id, phone, name, language, created_at, updated_at)"
            " VALUES (?, ?, ?, 'sq', ?, ?)",
            [(7, "+355691234567", "Arta Hoxha", T0, T0), (9, "+355682223344", "Ben Lika", T0, T0)],
        )
        rows = [
            # id, patient, service, chair, start, end, status, price, source, call, key
            (3, 7, "checkup", 1, "2026-12-02T09:00:00Z", "2026-12-02T09:30:00Z", "scheduled",
             2000, "agent", "call-1", None),
            (5, 9, "cleaning", 2, "2026-12-02T09:00:00Z", "2026-12-02T10:00:00Z", "confirmed",
             4000, "cli", None, None),
            (8, 7, "checkup", 1, "2026-11-02T09:00:00Z", "2026-11-02T09:30:00Z", "completed",
             2000, "import", None, "legacy-1"),
            (11, 9, "checkup", 1, "2026-12-03T09:00:00Z", "2026-12-03T09:30:00Z", "cancelled",
             2000, "agent", None, None),
        ]  # fmt: skip
        conn.executemany(
            "INSERT INTO appointments (id, patient_id, service_id, chair, starts_at, ends_at,"
            " status, price_lek, source, call_id, legacy_key, created_at)"
            f" VALUES ({', '.join('?' * 11)}, '{T0}')",
            rows,
        )
        # The daily counters those bookings left (the health check compares them).
        conn.execute(
            "INSERT INTO call_analytics (day, appointments_booked, revenue_generated)"
            " VALUES ('2026-11-20', 3, 8000)"
        )
        conn.executemany(
            "INSERT INTO appointment_slots (chair, slot_start, appointment_id) VALUES (?, ?, ?)",
            [
                (1, "2026-12-02T09:00:00Z", 3),
                (2, "2026-12-02T09:00:00Z", 5),
                (2, "2026-12-02T09:30:00Z", 5),
            ],
        )


def _snapshot(path: Path) -> dict[str, object]:
    with sqlite3.connect(path) as conn:
        return {
            "appointments": conn.execute(
                "SELECT id, patient_id, service_id, chair, starts_at, ends_at, status, price_lek,"
                " source, call_id, legacy_key, created_at FROM appointments ORDER BY id"
            ).fetchall(),
            "slots": conn.execute(
                "SELECT * FROM appointment_slots ORDER BY chair, slot_start"
            ).fetchall(),
            # Every index and trigger on the two tables, with its SQL: none lost or changed.
            "schema": conn.execute(
                "SELECT type, name, tbl_name, sql FROM sqlite_schema"
                " WHERE tbl_name IN ('appointments', 'appointment_slots') AND type != 'table'"
                " ORDER BY name"
            ).fetchall(),
        }


@pytest.mark.asyncio
async def test_migration_keeps_rows_slots_indexes_and_the_double_booking_guard(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.db"
    _schema_before(path)
    before = _snapshot(path)
    assert len(before["schema"]) >= 7  # 4 indexes + trigger + 2 slot indexes (+ autoindexes)

    async with await Store.open(path, tz=TIRANE, clock=FixedClock()) as store:
        assert await store.health.schema_version() >= STAFF_MIGRATION + 1
        report = await store.health.check(slot_minutes=30)
        assert report.healthy, report.to_result()
        moved = await store.calendar.get(appointment_id=3)
        assert (moved.source, moved.revision, moved.cancel_reason) == ("agent", 0, None)

    after = _snapshot(path)
    # Later migrations may add indexes (14: a patient's appointments by time); none is lost.
    assert set(before.pop("schema")) <= set(after.pop("schema"))
    assert after == before
    with sqlite3.connect(path, isolation_level=None) as conn:
        conn.execute("PRAGMA foreign_keys = ON")
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        columns = [row[1] for row in conn.execute("PRAGMA table_info(appointments)")]
        # Later migrations (16) append columns of their own after these three.
        start = columns.index("cancel_reason")
        assert columns[start : start + 3] == ["cancel_reason", "revision", "updated_at"]
        # The unique index and the slot key still refuse a second active booking.
        with pytest.raises(sqlite3.IntegrityError, match=r"appointments\.chair"):
            conn.execute(
                "INSERT INTO appointments (patient_id, service_id, chair, starts_at, ends_at,"
                " status, price_lek, source, created_at) VALUES (9, 'checkup', 1,"
                " '2026-12-02T09:00:00Z', '2026-12-02T09:30:00Z', 'scheduled', 2000, 'staff', ?)",
                (T0,),
            )
        with pytest.raises(sqlite3.IntegrityError, match="appointment_slots"):
            conn.execute("INSERT INTO appointment_slots VALUES (2, '2026-12-02T09:30:00Z', 3)")
        with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
            conn.execute("UPDATE appointments SET source = 'robot' WHERE id = 3")
        # 'staff' is a source now; the trigger still frees a cancelled booking's slots, and
        # deleting an appointment still cascades to its slots.
        conn.execute("UPDATE appointments SET source = 'staff' WHERE id = 3")
        conn.execute("UPDATE appointments SET status = 'cancelled' WHERE id = 3")
        conn.execute("DELETE FROM appointments WHERE id = 5")
        assert conn.execute("SELECT count(*) FROM appointment_slots").fetchone() == (0,)
