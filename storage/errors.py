"""The storage errors, in one module so every repository raises the same types."""

from __future__ import annotations

import sqlite3


class StoreError(Exception):
    """The database cannot be used (newer schema, unreadable file, failed integrity check)."""


class NotFoundError(StoreError):
    """A record asked for by id does not exist."""


class PrivacyError(Exception):
    """A privacy action cannot be done now (e.g. the number is in a call); one line for a person."""


class CursorError(ValueError):
    """A page cursor that this code did not make (edited, truncated, or for another list)."""


class PgIntegrityError(sqlite3.IntegrityError):
    """PostgreSQL refused a write on a constraint: the same class callers catch for SQLite.

    Repositories and callers catch ``sqlite3.IntegrityError`` for both engines; this subclass
    keeps what PostgreSQL said so a caller can tell which constraint refused.

    Args:
        message: The constraint, its table and PostgreSQL's own message.
        sqlstate: The SQLSTATE code (``23505`` unique, ``23P01`` exclusion, ...).
        constraint: The constraint's name.
        table: The table's name.
    """

    def __init__(self, message: str, *, sqlstate: str, constraint: str, table: str) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate
        self.constraint = constraint
        self.table = table
