"""``elo db backup PATH``: a checked copy of the live database, safe while the service runs.

The copy is made with SQLite's online backup API (see :mod:`storage.backup`), so the service
keeps calling and booking meanwhile. A damaged database is not backed up (exit 1): a copy of
damaged pages would pass for a good backup and replace the last good one.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from cli.failures import UsageError
from config.settings import AppSettings

COMMAND = "backup"
"""The ``elo db`` sub-command this module handles."""


def add_parser(db_commands: Any, common: argparse.ArgumentParser) -> None:
    """Add ``elo db backup`` to the ``elo db`` sub-command parsers.

    Args:
        db_commands: The ``elo db`` sub-parsers (``add_subparsers`` result).
        common: The parent parser with ``--db``, ``--env-file`` and ``-v``.
    """
    backup = db_commands.add_parser(
        COMMAND,
        parents=[common],
        help="copy the database while Elo runs (checked, mode 0600; see docs/deploy.md)",
    )
    backup.add_argument("path", help="the backup file to write (its folder must exist)")
    backup.add_argument("--force", action="store_true", help="replace PATH if it exists")


async def run(args: argparse.Namespace, settings: AppSettings) -> dict[str, Any]:
    """Back up the database; returns the JSON-ready result to print.

    Raises:
        UsageError: No database yet, or PATH cannot be used (exists without ``--force``, in a
            missing folder, the database itself or one of its files).
        StoreError: The database or the copy failed its integrity check (nothing written).
    """
    from storage import Store
    from storage.backup import BackupExistsError, BackupTargetError, back_up, check_target

    where = settings.database.location()
    if where.path is None:
        # SQLite's online backup copies a file; a server's database is dumped by the server.
        raise UsageError(
            "elo db backup copies a SQLite file; back up PostgreSQL with pg_dump"
            " (see docs/deploy.md, Moving to PostgreSQL)"
        )
    source = where.path
    target = Path(args.path)
    if not await asyncio.to_thread(source.is_file):
        # Opening would create an empty database, and back that up.
        raise UsageError(f"no database at {source} (see 'elo db init')")
    try:
        # Before the database is opened: a PATH it cannot use leaves the database untouched.
        await asyncio.to_thread(check_target, source, target, overwrite=args.force)
        store = await Store.open(
            source,
            busy_timeout_ms=settings.database.busy_timeout_ms,
            hash_key=settings.privacy.hash_key.get_secret_value() or None,
        )
        try:
            done = await back_up(
                store.db,
                target=target,
                overwrite=args.force,
                busy_timeout_ms=settings.database.busy_timeout_ms,
            )
        finally:
            await store.close()
    except BackupExistsError as exc:
        raise UsageError(f"{exc}; add --force to replace it") from None
    except BackupTargetError as exc:
        raise UsageError(str(exc)) from None
    return {"path": str(done.path), "bytes": done.bytes, "pages": done.pages, "checked": True}
