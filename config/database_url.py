"""Which database a URL names: SQLite (the embedded default) or PostgreSQL.

``sqlite:///var/lib/elo/elo.db`` (three slashes, then the path; four for an absolute path in
SQLAlchemy's style is accepted too), a bare path (SQLite, as ``--db`` always took), or
``postgresql://user@host:port/db`` (also ``postgres://``), which asyncpg reads as it is. A
URL's password is never printed: :meth:`DatabaseUrl.display` masks it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

# Seconds a PostgreSQL session may sit idle inside a transaction before the server ends it. A
# node cut off from the network mid-transaction would otherwise keep the shared write lock (and
# every writer of every node waiting) until TCP gives up, which takes many minutes; Elo's
# transactions never wait on anything but the database, so an idle one this long is a lost one.
STALLED_TRANSACTION_S = 10.0


class Backend(StrEnum):
    """The database engines Elo runs on."""

    SQLITE = "sqlite"
    POSTGRESQL = "postgresql"


class DatabaseUrlError(ValueError):
    """A database URL Elo cannot use; the message names what is wrong, never the password."""


@dataclass(frozen=True)
class DatabaseUrl:
    """A parsed database location.

    Attributes:
        backend: The engine.
        path: The SQLite file (SQLite only).
        dsn: The connection string for asyncpg (PostgreSQL only).
    """

    backend: Backend
    path: Path | None = None
    dsn: str | None = None

    @classmethod
    def parse(cls, text: str | Path) -> DatabaseUrl:
        """Read ``sqlite:///path``, ``postgresql://...`` or a bare path (SQLite).

        Raises:
            DatabaseUrlError: An unknown scheme, or a URL without a database name or path.
        """
        if isinstance(text, Path):
            return cls(Backend.SQLITE, path=text)
        value = text.strip()
        scheme, sep, rest = value.partition("://")
        if not sep:
            if not value:
                raise DatabaseUrlError("empty database location")
            return cls(Backend.SQLITE, path=Path(value))
        scheme = scheme.lower()
        if scheme == "sqlite":
            # sqlite:///relative/elo.db and sqlite:////abs/elo.db (SQLAlchemy) both work; so does
            # sqlite:///abs when the path is clearly absolute after the third slash.
            path = rest[1:] if rest.startswith("/") else rest
            if not path:
                raise DatabaseUrlError("sqlite URL without a file: write sqlite:///path/elo.db")
            return cls(Backend.SQLITE, path=Path(path))
        if scheme in {"postgresql", "postgres"}:
            parts = urlsplit(value)
            if not parts.hostname and "host=" not in (parts.query or ""):
                raise DatabaseUrlError(
                    "postgresql URL without a host: write postgresql://user@host:5432/elo"
                )
            if not parts.path.strip("/"):
                raise DatabaseUrlError(
                    "postgresql URL without a database name: write postgresql://user@host/elo"
                )
            return cls(Backend.POSTGRESQL, dsn=urlunsplit(parts._replace(scheme="postgresql")))
        raise DatabaseUrlError(
            f"unknown database scheme {scheme!r}: use sqlite:///path or postgresql://..."
        )

    def display(self) -> str:
        """The location for people and logs: the path, or the URL with its password masked."""
        if self.backend is Backend.SQLITE:
            return str(self.path)
        parts = urlsplit(self.dsn or "")
        if parts.password is not None:
            user = parts.username or ""
            host = parts.hostname or ""
            port = f":{parts.port}" if parts.port else ""
            parts = parts._replace(netloc=f"{user}:***@{host}{port}")
        return urlunsplit(parts)
