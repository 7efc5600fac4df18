"""A consistent copy of the live database, taken with SQLite's online backup API.

The copy is read through its own connection in a worker thread, in one step: in WAL mode that
step reads one snapshot of the database while the service goes on writing (a writer never waits
for it, and the copy holds every committed transaction up to the snapshot and none after it).
Stepping page by page would restart the copy after every write of another connection, so a busy
service could keep it from ever finishing.

The copy is written to a private temporary file next to the target, switched out of WAL mode (a
backup is one self-contained file), quick-checked, flushed to disk and only then put in place, so
the target is never a half-written or unchecked file. Backups hold health data: the file is mode
0600.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import sqlite3
import stat
from dataclasses import dataclass
from pathlib import Path

from storage.database import Database
from storage.errors import StoreError
from storage.privacy_keys import key_file_for

BACKUP_FILE_MODE = 0o600
# Files SQLite and Elo keep next to the database; a backup must never land on one of them.
_COMPANION_SUFFIXES = ("-wal", "-shm", "-journal")


class BackupTargetError(ValueError):
    """The backup cannot be written where asked; the message is one line for a person."""


class BackupExistsError(BackupTargetError):
    """The target file exists and replacing it was not asked for."""


@dataclass(frozen=True)
class Backup:
    """A finished backup.

    Attributes:
        path: The backup file.
        bytes: Its size.
        pages: The database pages it holds.
    """

    path: Path
    bytes: int
    pages: int


async def back_up(
    db: Database,
    *,
    target: Path,
    overwrite: bool = False,
    busy_timeout_ms: int = 5000,
) -> Backup:
    """Copy the open database to ``target`` while others keep using it.

    Args:
        db: The open database (its file is the one copied).
        target: The backup file to write; its folder must exist.
        overwrite: Replace ``target`` if it exists.
        busy_timeout_ms: How long the copy waits for a lock (only WAL recovery takes one).

    Returns:
        What was written.

    Raises:
        BackupTargetError: ``target`` is the database or one of its files, a folder, in a
            missing folder, or (:class:`BackupExistsError`) exists without ``overwrite``.
        StoreError: The database failed its integrity check, or the copy did: nothing is
            written then.
        OSError: The target cannot be written (permissions, a full disk).
        sqlite3.Error: SQLite could not read the database or write the copy.
    """
    if db.damage is not None:
        raise StoreError(
            "database failed its integrity check, so it is not backed up:"
            " run `elo db check`; keep the last good backup"
        )
    source = await _main_file(db)
    return await asyncio.to_thread(
        _copy, source, Path(target), overwrite=overwrite, timeout_s=busy_timeout_ms / 1000
    )


async def _main_file(db: Database) -> Path:
    for row in await db.rows("PRAGMA database_list"):
        if row[1] == "main" and row[2]:
            return Path(row[2])
    raise StoreError("the database has no file to back up (an in-memory database)")


def check_target(source: Path, target: Path, *, overwrite: bool) -> None:
    """Refuse a target that would lose data or cannot be written; nothing is created.

    Args:
        source: The database file.
        target: The backup file asked for.
        overwrite: Whether an existing ``target`` may be replaced.

    Raises:
        BackupTargetError: See :func:`back_up`.
        OSError: ``target`` cannot be looked at (a name too long, no permission).
    """
    try:
        found = os.stat(target)
    except FileNotFoundError:
        found = None
    if not target.name or (found is not None and stat.S_ISDIR(found.st_mode)):
        raise BackupTargetError(f"{_short(target)} is a folder: name the backup file in it")
    folder = target.parent
    if not folder.is_dir():
        raise BackupTargetError(f"folder {_short(folder)} does not exist (create it first)")
    # By name, resolved (a relative path, `..`, a symlinked folder) and by identity (a hard link).
    protected = [source, *(Path(f"{source}{suffix}") for suffix in _COMPANION_SUFFIXES)]
    protected.append(key_file_for(source))
    resolved = target.resolve()
    for path in protected:
        same = resolved == path.resolve()
        if not same and found is not None and path.exists():
            same = os.path.samefile(target, path)
        if same:
            what = "the database itself" if path == source else f"a file of the database ({path})"
            raise BackupTargetError(f"{_short(target)} is {what}: choose another backup file")
    if found is not None and not overwrite:
        raise BackupExistsError(f"backup file {_short(target)} already exists")


def _copy(source: Path, target: Path, *, overwrite: bool, timeout_s: float) -> Backup:
    check_target(source, target, overwrite=overwrite)
    # A short name of our own: the target's name may already be as long as a name can be.
    tmp = target.with_name(f".elo-backup-{secrets.token_hex(6)}.tmp")
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, BACKUP_FILE_MODE))
    try:
        pages = _write_copy(source, tmp, timeout_s=timeout_s)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        # The mode asked at creation passed through the umask; set it exactly.
        os.chmod(tmp, BACKUP_FILE_MODE)
        _place(tmp, target, overwrite=overwrite)
    finally:
        for leftover in (tmp, *(Path(f"{tmp}{suffix}") for suffix in _COMPANION_SUFFIXES)):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()
    _sync_folder(target.parent)
    return Backup(path=target, bytes=target.stat().st_size, pages=pages)


def _write_copy(source: Path, tmp: Path, *, timeout_s: float) -> int:
    """Copy every page of ``source`` into ``tmp`` and check the copy; returns its page count."""
    with contextlib.closing(sqlite3.connect(source, timeout=timeout_s)) as src:
        with contextlib.closing(sqlite3.connect(tmp, isolation_level=None)) as dst:
            # pages=-1: every page in one step, from one snapshot (see the module docstring).
            src.backup(dst, pages=-1)
            # The copy inherits WAL mode from the header; a backup is better one plain file.
            dst.execute("PRAGMA journal_mode = DELETE")
            try:
                rows = dst.execute("PRAGMA quick_check(1)").fetchall()
                problem = None if rows and rows[0][0] == "ok" else str(rows[0][0] if rows else "")
            except sqlite3.DatabaseError as exc:
                problem = str(exc)
            if problem is not None:
                raise StoreError(
                    f"the copy of database {source.name} failed its integrity check ({problem}),"
                    " so no backup was written: run `elo db check`; keep the last good backup"
                )
            return int(dst.execute("PRAGMA page_count").fetchone()[0])


def _place(tmp: Path, target: Path, *, overwrite: bool) -> None:
    """Put the finished copy at ``target`` in one step."""
    if overwrite:
        os.replace(tmp, target)
        return
    try:
        # A link fails if the name was taken meanwhile, where a rename would replace the file.
        os.link(tmp, target)
    except FileExistsError:
        raise BackupExistsError(f"backup file {_short(target)} already exists") from None
    except OSError:
        # A file system without hard links (some network or removable disks).
        if target.exists():
            raise BackupExistsError(f"backup file {_short(target)} already exists") from None
        os.rename(tmp, target)


def _sync_folder(folder: Path) -> None:
    """Make the new name durable: the rename lives in the folder's own data."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return  # some file systems cannot open a folder; the file itself is already synced
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


def _short(path: Path) -> str:
    text = str(path)
    return text if len(text) <= 120 else text[:119] + "…"
