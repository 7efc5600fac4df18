"""``elo db copy --from URL --to URL``: move a clinic's database to another engine, verified.

Both databases are opened with :meth:`storage.Store.open` (the target is created or migrated to
this Elo's schema; the source must already be at it, and is never written). The copy itself is
:mod:`storage.copy`: every table, ids kept, one target transaction, refused into a non-empty
target. Then both databases are read again and compared table by table (rows and sha256); the
command prints the comparison as JSON and exits 0 only when every table matches (1 otherwise).

Hashed do-not-call entries are copied as they are, so the target must be used with the key that
made them: the command says which (never printing the key itself).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from cli.failures import EXIT_FAILED, UsageError
from cli.runtime import audit_actor
from config.database_url import Backend, DatabaseUrl, DatabaseUrlError
from config.settings import AppSettings

COMMAND = "copy"
"""The ``elo db`` sub-command this module handles."""


def add_parser(db_commands: Any, common: argparse.ArgumentParser) -> None:
    """Add ``elo db copy`` to the ``elo db`` sub-command parsers.

    Args:
        db_commands: The ``elo db`` sub-parsers (``add_subparsers`` result).
        common: The parent parser with ``--db``, ``--env-file`` and ``-v``.
    """
    copy = db_commands.add_parser(
        COMMAND,
        parents=[common],
        help="copy the whole database into a new, empty one (e.g. SQLite to PostgreSQL), verified",
    )
    copy.add_argument(
        "--from", dest="source", required=True, help="the database to copy (URL or SQLite path)"
    )
    copy.add_argument(
        "--to", dest="target", required=True, help="the new, empty database (URL or SQLite path)"
    )


def _parse(text: str, option: str) -> DatabaseUrl:
    try:
        return DatabaseUrl.parse(text)
    except DatabaseUrlError as exc:
        raise UsageError(f"{option}: {exc}") from None


def key_reminder(source: DatabaseUrl, target: DatabaseUrl, *, setting: bool) -> str:
    """The one line saying which privacy hash key the target must be used with.

    Args:
        source: Where the data came from.
        target: Where it went.
        setting: Whether ``ELO_PRIVACY__HASH_KEY`` is set for this command.
    """
    if setting:
        return (
            "the copy keeps hashed do-not-call entries: use the target with the same"
            " ELO_PRIVACY__HASH_KEY as the source"
        )
    from storage.privacy_keys import key_file_for

    if source.path is None or (target.path is None and target.backend is Backend.SQLITE):
        return "use the target with the same ELO_PRIVACY__HASH_KEY as the source"
    key_file = key_file_for(source.path)
    if not key_file.is_file():
        return "the source has no privacy hash key yet: no hashed entry needs one"
    if target.backend is Backend.POSTGRESQL:
        return (
            "the copy keeps hashed do-not-call entries: set ELO_PRIVACY__HASH_KEY to the source's"
            f' key wherever the target is used: ELO_PRIVACY__HASH_KEY="hex:$(cat {key_file})"'
        )
    return (
        f"the copy keeps hashed do-not-call entries: copy {key_file} to"
        f" {key_file_for(target.path or source.path)} (mode 0600),"
        " or set ELO_PRIVACY__HASH_KEY to its key"
    )


def _hash_keys(source: DatabaseUrl, setting: str | None) -> str | None:
    """The key to open a PostgreSQL side with: the setting, or a SQLite source's key file."""
    if setting:
        return setting
    if source.path is None:
        return None  # Store.open refuses PostgreSQL without a key, in one line
    from storage.privacy_keys import HEX_PREFIX, key_file_for, load_key_file

    key = load_key_file(key_file_for(source.path), create=False)
    return HEX_PREFIX + key.hex() if key is not None else None


async def run(args: argparse.Namespace, settings: AppSettings) -> int:
    """Copy, verify, audit and print; returns the exit code.

    Raises:
        UsageError: A bad URL, the same database twice, or a copy Elo refuses (non-empty
            target, old or missing source).
        StoreError: A database cannot be opened.
    """
    from config.private_files import create_private_file
    from storage import Store
    from storage.copy import (
        CopyError,
        copy_database,
        ensure_current,
        stored_schema_version,
        verify_copy,
    )
    from storage.errors import StoreError

    source = _parse(args.source, "--from")
    target = _parse(args.target, "--to")
    if _same(source, target):
        raise UsageError("--from and --to name the same database")
    setting = settings.privacy.hash_key.get_secret_value() or None
    try:
        ensure_current(await stored_schema_version(source), source.display())
    except CopyError as exc:
        raise UsageError(str(exc)) from None
    key = _hash_keys(source, setting)
    params: dict[str, Any] = {
        "busy_timeout_ms": settings.database.busy_timeout_ms,
        "pool_size": settings.database.pool_size,
        # Each side's transaction waits while the other reads or writes a batch; nothing else
        # runs during a copy, so no session is ended for that.
        "stalled_transaction_s": None,
    }
    # A SQLite side keeps its own key file unless the setting is given (as Elo would run it).
    if target.path is not None:
        # A path that cannot name a file (too long, a folder) is the input's fault: exit 2.
        await asyncio.to_thread(create_private_file, target.path)
    src = await Store.open(_where(source), hash_key=_key_for(source, key, setting), **params)
    try:
        if src.health.problem is not None:
            # Damaged pages would be copied as if they were data, and pass for a sound copy.
            raise StoreError(
                f"database {source.display()} failed its integrity check: run `elo db check`,"
                " then restore a backup or repair the file"
            )
        dst = await Store.open(_where(target), hash_key=_key_for(target, key, setting), **params)
        try:
            try:
                copied = await copy_database(src.db, dst.db)
            except CopyError as exc:
                raise UsageError(str(exc)) from None
            report = await verify_copy(src.db, dst.db)
            await dst.audit.record(
                actor=audit_actor(),
                action="db.copy",
                subject=f"{source.backend.value} -> {target.backend.value}",
                detail={
                    "rows": sum(copied.values()),
                    "tables": len(copied),
                    "verified": not report.mismatched,
                    "mismatched": report.mismatched,
                },
            )
        finally:
            await dst.close()
    finally:
        await src.close()
    _print(
        {
            "from": source.display(),
            "to": target.display(),
            "verified": not report.mismatched,
            "tables": [
                {
                    "table": check.table,
                    "source_rows": check.source_rows,
                    "target_rows": check.target_rows,
                    "source_sha256": check.source_sha256,
                    "target_sha256": check.target_sha256,
                    "equal": check.equal,
                }
                for check in report.tables
            ],
        }
    )
    print(f"elo: note: {key_reminder(source, target, setting=bool(setting))}", file=sys.stderr)
    if report.mismatched:
        print(f"elo: verification failed for: {', '.join(report.mismatched)}", file=sys.stderr)
        return EXIT_FAILED
    return 0


def _key_for(where: DatabaseUrl, key: str | None, setting: str | None) -> str | None:
    return key if where.backend is Backend.POSTGRESQL else setting


def _where(where: DatabaseUrl) -> str | Path:
    return where.path if where.path is not None else where.dsn or ""


def _same(a: DatabaseUrl, b: DatabaseUrl) -> bool:
    if a.path is not None and b.path is not None:
        return a.path.resolve() == b.path.resolve()
    return a.dsn is not None and a.dsn == b.dsn


def _print(value: Any) -> None:
    import json

    json.dump(value, sys.stdout, ensure_ascii=False, indent=2, default=str)
    sys.stdout.write("\n")
