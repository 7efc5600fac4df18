"""The dashboard's users and their server-side web sessions (migration 11).

Only hashes are stored: the argon2id hash of a password (made by the caller) and the SHA-256 of a
session cookie's random token, so neither a password nor a usable cookie can be read back from
the database. Disabling a user or giving them a new password ends every session they have.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

import aiosqlite
from pydantic import BaseModel, ConfigDict, Field

from storage.database import Database
from storage.timefmt import from_db, to_db

Role = Literal["admin", "staff"]
Language = Literal["sq", "en"]


class UserError(Exception):
    """A user change that cannot be made (a taken name, an unknown user); one line for a person."""


class User(BaseModel):
    """A person who signs in to the dashboard. The secrets are left out of ``repr``."""

    model_config = ConfigDict(frozen=True)

    id: int
    name: str
    role: Role
    password_hash: str = Field(repr=False)
    totp_secret: str | None = Field(default=None, repr=False)
    totp_last_step: int | None = None
    language: Language
    disabled: bool
    failed_logins: int
    locked_until: datetime | None
    created_at: datetime
    updated_at: datetime

    @property
    def is_admin(self) -> bool:
        """Whether the user is an admin."""
        return self.role == "admin"

    @property
    def totp_enrolled(self) -> bool:
        """Whether sign-in asks this user for a one-time code too."""
        return self.totp_secret is not None

    def locked_at(self, now: datetime) -> bool:
        """Whether sign-in is refused at ``now`` after too many failures."""
        return self.locked_until is not None and self.locked_until > now


class WebSession(BaseModel):
    """A signed-in browser: found by the hash of its cookie, with the user it belongs to."""

    model_config = ConfigDict(frozen=True)

    token_hash: str = Field(repr=False)
    user: User
    csrf_token: str = Field(repr=False)
    totp_pending: bool
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime


def _user(row: aiosqlite.Row, prefix: str = "") -> User:
    locked = row[f"{prefix}locked_until"]
    return User(
        id=row[f"{prefix}id"],
        name=row[f"{prefix}name"],
        role=row[f"{prefix}role"],
        password_hash=row[f"{prefix}password_hash"],
        totp_secret=row[f"{prefix}totp_secret"],
        totp_last_step=row[f"{prefix}totp_last_step"],
        language=row[f"{prefix}language"],
        disabled=bool(row[f"{prefix}disabled"]),
        failed_logins=row[f"{prefix}failed_logins"],
        locked_until=from_db(locked) if locked else None,
        created_at=from_db(row[f"{prefix}created_at"]),
        updated_at=from_db(row[f"{prefix}updated_at"]),
    )


class UserRepository:
    """The ``users`` and ``web_sessions`` tables.

    Args:
        db: The open database.
    """

    def __init__(self, db: Database) -> None:
        self._db = db

    # ------------------------------------------------------------------------------ users

    async def add(self, *, name: str, role: Role, password_hash: str, language: Language) -> User:
        """Create a user.

        Raises:
            UserError: The name is taken (names compare without case).
        """
        now = to_db(self._db.clock())
        async with self._db.transaction() as conn:
            taken = await conn.execute_fetchall("SELECT 1 FROM users WHERE name = ?", (name,))
            if taken:
                raise UserError(f"a user named {name!r} already exists")
            await conn.execute(
                "INSERT INTO users (name, role, password_hash, language, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (name, role, password_hash, language, now, now),
            )
        return await self._must(name)

    async def get(self, *, name: str) -> User | None:
        """The user of this name (without case), or None."""
        row = await self._db.row("SELECT * FROM users WHERE name = ?", (name,))
        return _user(row) if row else None

    async def get_by_id(self, *, user_id: int) -> User | None:
        """The user with this id, or None."""
        row = await self._db.row("SELECT * FROM users WHERE id = ?", (user_id,))
        return _user(row) if row else None

    async def list(self) -> list[User]:
        """Every user, by name."""
        return [_user(row) for row in await self._db.rows("SELECT * FROM users ORDER BY name")]

    async def count_enabled_admins(self) -> int:
        """How many admins can still sign in (the last one may not be disabled)."""
        return int(
            await self._db.scalar(
                "SELECT count(*) FROM users WHERE role = 'admin' AND disabled = 0"
            )
        )

    async def set_disabled(self, *, name: str, disabled: bool) -> User:
        """Disable (ending every session) or enable a user; enabling also lifts a lock-out.

        Raises:
            UserError: No such user.
        """
        return await self._update(
            name,
            "disabled = ?, failed_logins = 0, locked_until = NULL",
            (int(disabled),),
            end_sessions=disabled,
        )

    async def set_password(self, *, name: str, password_hash: str) -> User:
        """Give a user a new password hash, lift a lock-out and end every session they have.

        Raises:
            UserError: No such user.
        """
        return await self._update(
            name,
            "password_hash = ?, failed_logins = 0, locked_until = NULL",
            (password_hash,),
            end_sessions=True,
        )

    async def set_totp(self, *, name: str, secret: str | None) -> User:
        """Enrol (or, with None, remove) a user's TOTP secret; ends every session they have.

        Raises:
            UserError: No such user.
        """
        return await self._update(
            name, "totp_secret = ?, totp_last_step = NULL", (secret,), end_sessions=True
        )

    async def set_language(self, *, user_id: int, language: Language) -> None:
        """The language the dashboard speaks to this user."""
        async with self._db.transaction() as conn:
            await conn.execute(
                "UPDATE users SET language = ?, updated_at = ? WHERE id = ?",
                (language, to_db(self._db.clock()), user_id),
            )

    async def record_failure(self, *, user_id: int, max_failures: int, lock_for: timedelta) -> User:
        """Count a failed sign-in; the ``max_failures``-th in a row locks the user for a while.

        Returns:
            The user after the change (``locked_until`` set when this failure locked them).
        """
        now = self._db.clock()
        async with self._db.transaction() as conn:
            await conn.execute(
                "UPDATE users SET failed_logins = failed_logins + 1 WHERE id = ?", (user_id,)
            )
            await conn.execute(
                "UPDATE users SET failed_logins = 0, locked_until = ?"
                " WHERE id = ? AND failed_logins >= ?",
                (to_db(now + lock_for), user_id, max_failures),
            )
        user = await self.get_by_id(user_id=user_id)
        assert user is not None
        return user

    async def record_success(self, *, user_id: int) -> None:
        """A sign-in succeeded: the count of failures starts again."""
        async with self._db.transaction() as conn:
            await conn.execute(
                "UPDATE users SET failed_logins = 0, locked_until = NULL WHERE id = ?", (user_id,)
            )

    async def use_totp_step(self, *, user_id: int, step: int) -> bool:
        """Accept the one-time code of time step ``step`` once.

        Returns:
            False if this step (or a later one) was already used.
        """
        async with self._db.transaction() as conn:
            cursor = await conn.execute(
                "UPDATE users SET totp_last_step = ? WHERE id = ?"
                " AND (totp_last_step IS NULL OR totp_last_step < ?)",
                (step, user_id, step),
            )
            return cursor.rowcount == 1

    # --------------------------------------------------------------------------- sessions

    async def create_session(
        self,
        *,
        user_id: int,
        token_hash: str,
        csrf_token: str,
        expires_at: datetime,
        totp_pending: bool = False,
    ) -> None:
        """Store a new session; expired sessions of every user are cleared on the way."""
        now = to_db(self._db.clock())
        async with self._db.transaction() as conn:
            await conn.execute("DELETE FROM web_sessions WHERE expires_at <= ?", (now,))
            await conn.execute(
                "INSERT INTO web_sessions (token_hash, user_id, csrf_token, totp_pending,"
                " created_at, last_seen_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (token_hash, user_id, csrf_token, int(totp_pending), now, now, to_db(expires_at)),
            )

    async def session(self, *, token_hash: str) -> WebSession | None:
        """The session with this token hash and its user, or None (expiry is the caller's rule)."""
        row = await self._db.row(
            "SELECT s.token_hash, s.csrf_token, s.totp_pending, s.created_at AS s_created_at,"
            " s.last_seen_at, s.expires_at, u.* FROM web_sessions s"
            " JOIN users u ON u.id = s.user_id WHERE s.token_hash = ?",
            (token_hash,),
        )
        if row is None:
            return None
        return WebSession(
            token_hash=row["token_hash"],
            user=_user(row),
            csrf_token=row["csrf_token"],
            totp_pending=bool(row["totp_pending"]),
            created_at=from_db(row["s_created_at"]),
            last_seen_at=from_db(row["last_seen_at"]),
            expires_at=from_db(row["expires_at"]),
        )

    async def touch_session(self, *, token_hash: str) -> None:
        """The session was used now (its idle time starts again)."""
        async with self._db.transaction() as conn:
            await conn.execute(
                "UPDATE web_sessions SET last_seen_at = ? WHERE token_hash = ?",
                (to_db(self._db.clock()), token_hash),
            )

    async def end_session(self, *, token_hash: str) -> None:
        """Sign one browser out."""
        async with self._db.transaction() as conn:
            await conn.execute("DELETE FROM web_sessions WHERE token_hash = ?", (token_hash,))

    async def count_sessions(self, *, user_id: int) -> int:
        """How many sessions the user has (signed in or waiting for a one-time code)."""
        return int(
            await self._db.scalar("SELECT count(*) FROM web_sessions WHERE user_id = ?", (user_id,))
        )

    # ---------------------------------------------------------------------------- helpers

    async def _must(self, name: str) -> User:
        user = await self.get(name=name)
        if user is None:
            raise UserError(f"no user named {name!r}")
        return user

    async def _update(
        self, name: str, assignments: str, params: tuple[object, ...], *, end_sessions: bool
    ) -> User:
        async with self._db.transaction() as conn:
            cursor = await conn.execute(
                f"UPDATE users SET {assignments}, updated_at = ? WHERE name = ?",  # noqa: S608 - fixed text
                (*params, to_db(self._db.clock()), name),
            )
            if cursor.rowcount != 1:
                raise UserError(f"no user named {name!r}")
            if end_sessions:
                await conn.execute(
                    "DELETE FROM web_sessions"
                    " WHERE user_id = (SELECT id FROM users WHERE name = ?)",
                    (name,),
                )
        return await self._must(name)
