"""Database health: the quick check at open refuses writes to a damaged file; the full check names
every broken invariant (integrity, foreign keys, booked slots, daily counters) without PII."""

from __future__ import annotations

import asyncio
import hashlib
import random
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from storage import Store, database
from storage.database import Database
from storage.errors import StoreError
from storage.timefmt import to_db
from tests.conftest import TIRANE, FixedClock

SLOT = timedelta(minutes=30)
START = datetime(2026, 12, 2, 10, 0, tzinfo=TIRANE)


def fill_patients(db: Path, count: int) -> None:
    """Valid patients (raw SQL: set-up only), enough to span many pages."""
    with sqlite3.connect(db) as conn:
        conn.executemany(
            "INSERT INTO patients (phone, name, created_at, updated_at) VALUES (?, ?, ?, ?)",
            (
                (f"+35569{1_000_000 + i}", f"Patient {i:05d}", to_db(START), to_db(START))
                for i in range(count)
            ),
        )
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def corrupt_pages(db: Path, *, pages: int = 4, seed: int = 8) -> None:
    """Overwrite a few pages in the middle of the file with random bytes, as a bad disk would."""
    with sqlite3.connect(db) as conn:
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        page_count = conn.execute("PRAGMA page_count").fetchone()[0]
    assert page_count > 3 * pages, "too small a file to damage only its middle"
    rng = random.Random(seed)
    with open(db, "r+b") as handle:
        handle.seek((page_count // 2) * page_size)
        handle.write(rng.randbytes(pages * page_size))


def wal_size(db: Path) -> int:
    wal = Path(f"{db}-wal")
    return wal.stat().st_size if wal.exists() else 0


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def damaged_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated database with 3,000 patients whose middle pages are overwritten (built once)."""
    db = tmp_path_factory.mktemp("damaged") / "elo.db"

    async def create() -> None:
        store = await Store.open(db, tz=TIRANE)
        await store.close()

    asyncio.run(create())
    fill_patients(db, 3000)
    corrupt_pages(db)
    return db


@pytest.fixture
def damaged(damaged_template: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "damaged.db"
    copy.write_bytes(damaged_template.read_bytes())
    return copy


async def book(store: Store, start: datetime, *, phone: str = "+355691234567") -> object:
    return await store.appointments.book(
        phone=phone,
        name="Arbër Çela",
        service_id="filling",
        starts_at=start,
        ends_at=start + 2 * SLOT,
        slot=SLOT,
        chairs=1,
        price_lek=5000,
        source="agent",
    )


@pytest.mark.asyncio
async def test_a_damaged_file_opens_read_only_and_refuses_every_write(damaged: Path) -> None:
    """Today three bookings were committed into a file that failed its integrity check."""
    before = digest(damaged)
    store = await Store.open(damaged, tz=TIRANE, clock=FixedClock())
    try:
        assert store.health.problem is not None
        for hour in (10, 11, 12):
            with pytest.raises(StoreError, match=r"failed its integrity check.*elo db check"):
                await book(store, START.replace(hour=hour))
        with pytest.raises(StoreError, match="integrity check"):
            await store.dnc.add(phone="+355691234567", reason=None, source="cli")
        with pytest.raises(StoreError, match="integrity check"):
            await store.calls.start(call_id="c1")
        # Reads still work where the pages are intact (staff can export and inspect).
        assert await store.health.schema_version() >= 1
        assert await store.appointments.count() == 0
    finally:
        await store.close()
    assert digest(damaged) == before
    assert wal_size(damaged) == 0


@pytest.mark.asyncio
async def test_full_check_names_the_damage(damaged: Path) -> None:
    store = await Store.open(damaged, tz=TIRANE)
    try:
        report = await store.health.check(slot_minutes=30)
    finally:
        await store.close()
    assert not report.healthy
    assert report.checks["integrity_check"] != "ok"
    assert any(p.startswith("integrity_check: ") for p in report.problems)
    assert not any("Patient 0" in p for p in report.problems)  # row content never shown


@pytest.mark.asyncio
async def test_a_healthy_database_passes_every_check(store: Store) -> None:
    await book(store, START)
    await store.calls.start(call_id="call-1")
    await store.calls.finish(call_id="call-1", outcome="booked", appointments_booked=1)
    await store.calls.start(call_id="call-2")
    await store.calls.finish(call_id="call-2", outcome="not_answered")
    await store.follow_ups.create(
        phone="+355682223344", name="Drita Kola", due_at=START, reason=None, source="cli"
    )
    [appointment] = await store.appointments.list(start=START, end=START + 4 * SLOT)
    await book(store, START + 4 * SLOT, phone="+355672345678")
    await store.appointments.set_status(appointment_id=appointment.id, status="cancelled")
    report = await store.health.check(slot_minutes=30)
    assert report.to_result() == {
        "healthy": True,
        "checks": {
            "integrity_check": "ok",
            "foreign_key_check": "ok",
            "appointment_slots": "ok",
            "call_analytics": "ok",
        },
        "problems": [],
    }
    assert store.health.problem is None


@pytest.mark.asyncio
async def test_broken_invariants_are_each_named(store: Store, db_path: Path, backend: str) -> None:
    first = await book(store, START)
    second = await book(store, START + 4 * SLOT, phone="+355682223344")
    await store.calls.start(call_id="call-1")
    await store.calls.finish(call_id="call-1", outcome="booked", appointments_booked=1)
    first_id = first.appointment.id  # type: ignore[attr-defined]
    second_id = second.appointment.id  # type: ignore[attr-defined]
    damage = [
        # An active appointment lost one of its two slots: its second half can be double-booked.
        (
            "DELETE FROM appointment_slots WHERE appointment_id = ? AND slot_start = ?",
            (first_id, to_db(START + SLOT)),
        ),
        # A cancelled appointment still holds its slots: free times are never offered.
        ("UPDATE appointments SET status = 'cancelled' WHERE id = ?", (second_id,)),
        # A follow-up for a patient that does not exist.
        (
            "INSERT INTO follow_ups (patient_id, due_at, source, created_at)"
            " VALUES (999, ?, 'cli', ?)",
            (to_db(START), to_db(START)),
        ),
        # A counter edited by hand.
        ("UPDATE call_analytics SET total_calls = total_calls + 2", ()),
    ]
    # Set-up only: the checks and the trigger that would refuse the damage are switched off.
    if backend == "postgresql":
        async with store.db.transaction() as conn:
            # Skips foreign keys and triggers for this transaction, as a restore tool may.
            await conn.execute("SET LOCAL session_replication_role = replica")
            for sql, params in damage:
                await conn.execute(sql, params)
    else:
        with sqlite3.connect(db_path) as conn:
            conn.execute("PRAGMA foreign_keys = OFF")
            conn.execute("DROP TRIGGER appointments_release_slots")
            for sql, params in damage:
                conn.execute(sql, params)
    report = await store.health.check(slot_minutes=30)
    assert not report.healthy
    assert report.checks == {
        "integrity_check": "ok",
        "foreign_key_check": "1 problem(s)",
        "appointment_slots": "2 problem(s)",
        "call_analytics": "1 problem(s)",
    }
    assert report.problems == [
        "foreign_key_check: 1 row(s) of follow_ups refer to a missing patients row (rowids 1)",
        f"appointment_slots: appointment {first_id} holds 1 of its 2 slot(s)"
        " and 0 other slot row(s)",
        "appointment_slots: 1 cancelled or finished appointment(s) still hold slots"
        f" (ids {second_id})",
        "call_analytics: 2026-12-01: total_calls 3 (rows say 1),"
        " conversion_rate 1.0 (counters say 0.3333)",
    ]
    for problem in report.problems:
        assert "Arbër" not in problem and "+355" not in problem


@pytest.mark.asyncio
async def test_quick_check_is_skipped_for_an_unchanged_healthy_file(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    checks: list[str] = []
    original = Database.quick_check

    async def counting(self: Database) -> str | None:
        checks.append("checked")
        return await original(self)

    monkeypatch.setattr(Database, "quick_check", counting)
    database._healthy_files.clear()
    for _ in range(2):
        store = await Store.open(db_path, tz=TIRANE)
        await store.close()
    assert checks == ["checked", "checked"]  # the migrations were still in the WAL
    store = await Store.open(db_path, tz=TIRANE)
    await store.close()
    assert checks == ["checked", "checked"]  # unchanged since: not scanned again
    store = await Store.open(db_path, tz=TIRANE)
    await store.dnc.add(phone="+355691234567", reason=None, source="cli")
    await store.close()
    store = await Store.open(db_path, tz=TIRANE)
    await store.close()
    assert len(checks) == 3  # a write changed the file: scanned again
