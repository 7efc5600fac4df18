"""Online backups on real SQLite files: consistent while others write, checked, private, atomic."""

from __future__ import annotations

import os
import sqlite3
import stat
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pytest
import pytest_asyncio

from storage import Store
from storage.backup import (
    BACKUP_FILE_MODE,
    BackupExistsError,
    BackupTargetError,
    back_up,
)
from storage.errors import StoreError
from tests.conftest import TIRANE
from tests.storage.test_health import corrupt_pages, fill_patients

BATCH = 10  # patients per transaction of the writer below


def dump(path: Path) -> list[str]:
    with closing(sqlite3.connect(path)) as conn:
        return list(conn.iterdump())


def patients(path: Path) -> int:
    with closing(sqlite3.connect(path)) as conn:
        return int(conn.execute("SELECT count(*) FROM patients").fetchone()[0])


def header_journal_bytes(path: Path) -> tuple[int, int]:
    """The file format's write and read versions: 1 for a rollback journal, 2 for WAL."""
    with open(path, "rb") as handle:
        header = handle.read(20)
    return header[18], header[19]


def wal_size(db: Path) -> int:
    return Path(f"{db}-wal").stat().st_size


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".elo-backup-"))


pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture
async def filled(db_path: Path) -> AsyncIterator[Store]:
    """A store with 2,000 patients (raw set-up), open for the test (closing twice is harmless)."""
    store = await Store.open(db_path, tz=TIRANE)
    await store.close()
    fill_patients(db_path, 2000)
    store = await Store.open(db_path, tz=TIRANE)
    yield store
    await store.close()


async def test_the_copy_holds_every_committed_row_and_is_one_private_checked_file(
    filled: Store, db_path: Path, tmp_path: Path
) -> None:
    target = tmp_path / "backups" / "elo-2026-12-01.db"
    target.parent.mkdir()
    # A change still in the WAL, not yet in the main file: the copy must hold it too.
    await filled.dnc.add(phone="+355691234567", reason="asked on the phone", source="cli")
    assert wal_size(db_path) > 0
    old_umask = os.umask(0)  # whatever the umask, the backup is private
    try:
        done = await back_up(filled.db, target=target)
    finally:
        os.umask(old_umask)
    await filled.close()
    assert done.path == target
    assert done.bytes == target.stat().st_size > 0
    with closing(sqlite3.connect(target)) as conn:
        assert done.pages == conn.execute("PRAGMA page_count").fetchone()[0]
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    assert stat.S_IMODE(target.stat().st_mode) == BACKUP_FILE_MODE == 0o600
    assert header_journal_bytes(target) == (1, 1)  # not WAL: no -wal file belongs to it
    assert dump(target) == dump(db_path)
    assert patients(target) == 2000
    assert names(target.parent) == [target.name]


async def test_a_restored_copy_opens_as_elo_database(filled: Store, tmp_path: Path) -> None:
    target = tmp_path / "copy.db"
    await back_up(filled.db, target=target)
    await filled.close()
    restored = await Store.open(target, tz=TIRANE)
    try:
        assert restored.health.problem is None
        assert await restored.patients.count() == 2000
        assert await restored.health.write_problem() is None
    finally:
        await restored.close()


@contextmanager
def writer(db_path: Path, start: int) -> Iterator[dict[str, int]]:
    """Another connection that commits batches of patients until the block ends.

    The block starts once the writer has committed three batches.
    """
    progress = {"committed": 0}
    stop = threading.Event()
    going = threading.Event()
    failures: list[BaseException] = []

    def write() -> None:
        try:
            with closing(sqlite3.connect(db_path, isolation_level=None, timeout=10)) as conn:
                n = start
                while not stop.is_set():
                    conn.execute("BEGIN IMMEDIATE")
                    conn.executemany(
                        "INSERT INTO patients (phone, name, created_at, updated_at)"
                        " VALUES (?, 'Patient', '2026-12-01T08:00:00Z', '2026-12-01T08:00:00Z')",
                        [(f"+35568{n + i:07d}",) for i in range(BATCH)],
                    )
                    conn.execute("COMMIT")
                    n += BATCH
                    progress["committed"] += 1
                    if progress["committed"] == 3:
                        going.set()
        except BaseException as exc:
            failures.append(exc)
            going.set()

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    going.wait(timeout=60)
    try:
        yield progress
    finally:
        stop.set()
        thread.join(timeout=60)
        assert not failures, failures
        assert not thread.is_alive()


async def test_backups_taken_while_another_connection_keeps_writing_are_consistent(
    filled: Store, db_path: Path, tmp_path: Path
) -> None:
    """Each copy is sound and holds whole transactions: all committed before it, none halved."""
    overlapped = 0
    counts: list[int] = []
    with writer(db_path, start=0) as progress:
        for attempt in range(40):
            before = progress["committed"]
            done = await back_up(filled.db, target=tmp_path / f"copy-{attempt}.db")
            after = progress["committed"]
            count = patients(done.path)
            with closing(sqlite3.connect(done.path)) as conn:
                assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            assert count % BATCH == 0, "a transaction was copied in part"
            # Every transaction committed before the backup began is in it; none after it ended.
            assert 2000 + before * BATCH <= count <= 2000 + after * BATCH
            counts.append(count)
            overlapped += after > before
            if overlapped >= 3:
                break
    assert overlapped >= 3, "the writer never committed during a backup"
    assert counts == sorted(counts)
    await filled.close()


async def test_an_open_write_transaction_neither_blocks_the_backup_nor_enters_it(
    filled: Store, db_path: Path, tmp_path: Path
) -> None:
    with closing(sqlite3.connect(db_path, isolation_level=None)) as other:
        other.execute("BEGIN IMMEDIATE")
        other.execute(
            "INSERT INTO patients (phone, name, created_at, updated_at)"
            " VALUES ('+355680000001', 'Uncommitted', '2026-12-01T08:00:00Z',"
            " '2026-12-01T08:00:00Z')"
        )
        done = await back_up(filled.db, target=tmp_path / "copy.db", busy_timeout_ms=100)
        other.execute("COMMIT")
    assert patients(done.path) == 2000
    assert patients(db_path) == 2001
    await filled.close()


async def test_an_existing_file_is_kept_unless_overwrite_is_asked(
    filled: Store, tmp_path: Path
) -> None:
    target = tmp_path / "copy.db"
    target.write_bytes(b"yesterday's backup")
    target.chmod(0o644)
    with pytest.raises(BackupExistsError, match="already exists"):
        await back_up(filled.db, target=target)
    assert target.read_bytes() == b"yesterday's backup"
    done = await back_up(filled.db, target=target, overwrite=True)
    assert patients(done.path) == 2000
    # A new file, not the old one rewritten: its mode is the backup's own.
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert leftovers(tmp_path) == []
    await filled.close()


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("elo.db", "is the database itself"),
        ("./../{folder}/elo.db", "is the database itself"),
        ("elo.db-wal", "is a file of the database"),
        ("elo.db-shm", "is a file of the database"),
        ("elo.db-journal", "is a file of the database"),
        ("elo.db.privacy-key", "is a file of the database"),
        ("missing/copy.db", "does not exist"),
        (".", "is a folder"),
    ],
)
async def test_a_target_that_would_lose_data_is_refused_and_nothing_is_written(
    filled: Store, db_path: Path, tmp_path: Path, name: str, message: str
) -> None:
    before = dump(db_path)
    files = names(tmp_path)
    target = tmp_path / name.format(folder=tmp_path.name)
    with pytest.raises(BackupTargetError, match=message):
        await back_up(filled.db, target=target, overwrite=True)
    assert names(tmp_path) == files
    await filled.close()
    assert dump(db_path) == before


async def test_links_to_the_database_are_refused(
    filled: Store, db_path: Path, tmp_path: Path
) -> None:
    hard = tmp_path / "hard.db"
    os.link(db_path, hard)
    soft = tmp_path / "soft.db"
    soft.symlink_to(db_path)
    for target in (hard, soft):
        with pytest.raises(BackupTargetError, match="is the database itself"):
            await back_up(filled.db, target=target, overwrite=True)
    await filled.close()
    assert patients(db_path) == 2000


async def test_a_database_damaged_at_open_is_not_backed_up(db_path: Path, tmp_path: Path) -> None:
    store = await Store.open(db_path, tz=TIRANE)
    await store.close()
    fill_patients(db_path, 3000)
    corrupt_pages(db_path)
    store = await Store.open(db_path, tz=TIRANE)
    assert store.health.problem is not None
    target = tmp_path / "copy.db"
    with pytest.raises(StoreError, match="failed its integrity check, so it is not backed up"):
        await back_up(store.db, target=target)
    await store.close()
    assert not target.exists() and leftovers(tmp_path) == []


async def test_damage_after_open_is_caught_in_the_copy(db_path: Path, tmp_path: Path) -> None:
    """The open's check passed; pages went bad later: the copy's own check refuses it."""
    store = await Store.open(db_path, tz=TIRANE)
    await store.close()
    fill_patients(db_path, 3000)
    store = await Store.open(db_path, tz=TIRANE)
    assert store.health.problem is None
    corrupt_pages(db_path)
    target = tmp_path / "copy.db"
    with pytest.raises(StoreError, match=r"copy of database elo\.db failed its integrity"):
        await back_up(store.db, target=target)
    await store.close()
    assert not target.exists() and leftovers(tmp_path) == []


async def test_a_full_disk_leaves_no_partial_file(
    filled: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The copy cannot grow past 4 KiB (as on a full disk): an error, and no file anywhere."""
    import resource

    target = tmp_path / "out" / "copy.db"
    target.parent.mkdir()
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, hard))
    try:
        with pytest.raises((sqlite3.Error, OSError)):
            await back_up(filled.db, target=target)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    assert list(target.parent.iterdir()) == []
    await filled.close()
