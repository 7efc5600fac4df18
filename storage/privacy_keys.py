"""The privacy hash key: a keyed hash of a number that blocks it without keeping it.

The keyed hash is HMAC-SHA256 of the E.164 number. Its key comes from
``ELO_PRIVACY__HASH_KEY`` or, when that is empty, from a random key kept in a file next to the
database (``<database>.privacy-key``, mode 0600), created the first time a hash is needed. The key
is never stored in the database, so a copy of the database alone cannot be searched for numbers.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
from pathlib import Path

import aiosqlite

from storage.errors import PrivacyError

KEY_FILE_SUFFIX = ".privacy-key"


def phone_hash(key: bytes, phone: str) -> str:
    """The keyed hash of an E.164 number: HMAC-SHA256, 64 lowercase hex digits."""
    return hmac.new(key, phone.encode(), hashlib.sha256).hexdigest()


def key_file_for(db_path: Path) -> Path:
    """Where the generated hash key of the database at ``db_path`` is kept."""
    return db_path.with_name(db_path.name + KEY_FILE_SUFFIX)


def load_key_file(path: Path, *, create: bool) -> bytes | None:
    """Read the hash key file, creating it (mode 0600, random 256-bit key) if asked.

    Creation is atomic (written to a private temporary file, then hard-linked into place), so
    two processes creating it at once end up with the same key.

    Args:
        path: The key file.
        create: Create the key when the file does not exist.

    Returns:
        The key, or None when the file does not exist and ``create`` is false.
    """
    # Bytes, not text: no codec is looked up (and imported) on this path.
    try:
        return bytes.fromhex(path.read_bytes().decode().strip())
    except FileNotFoundError:
        if not create:
            return None
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(secrets.token_hex(32).encode() + b"\n")
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return bytes.fromhex(path.read_bytes().decode().strip())


HEX_PREFIX = "hex:"


def _key_bytes(key: str) -> bytes:
    """The key's bytes: ``hex:<digits>`` a key file's raw key; any other text, its UTF-8.

    ``hex:`` is how a SQLite clinic's generated key moves to ``ELO_PRIVACY__HASH_KEY`` (see
    ``elo db copy``).

    Raises:
        PrivacyError: ``hex:`` followed by something that is not hexadecimal.
    """
    if key.startswith(HEX_PREFIX):
        try:
            return bytes.fromhex(key[len(HEX_PREFIX) :].strip())
        except ValueError:
            raise PrivacyError("ELO_PRIVACY__HASH_KEY: after hex: only hex digits") from None
    return key.encode("utf-8")


class PrivacyKeys:
    """Where the hash key comes from: ``key`` (a setting) or else ``key_file``.

    Args:
        key: ``ELO_PRIVACY__HASH_KEY``; None or empty: the key file.
        key_file: The key file next to the database; None: no key file (no key then).
    """

    def __init__(self, *, key: str | None, key_file: Path | None) -> None:
        self._key = _key_bytes(key) if key else None
        self._key_file = key_file

    def _hash_key(self, *, create: bool) -> bytes | None:
        if self._key is not None:
            return self._key
        if self._key_file is None:
            return None
        key = load_key_file(self._key_file, create=create)
        if key is not None and create:
            self._key = key
        return key

    def subject_hash(self, phone: str) -> str:
        """The keyed hash of a number, for the do-not-call list and audit subjects.

        Raises:
            PrivacyError: No key is configured and none can be kept next to the database.
        """
        key = self._hash_key(create=True)
        if key is None:
            raise PrivacyError("no privacy hash key: set ELO_PRIVACY__HASH_KEY")
        return phone_hash(key, phone)

    def listed_hash(self, phone: str) -> str:
        """The keyed hash of ``phone`` with the existing key, to match hashed do-not-call entries.

        Never creates a key: a new key would match none of the stored hashes.

        Raises:
            PrivacyError: The key is gone (callers ask only when hashed entries exist, so the
                number could be one of them: fail closed).
        """
        key = self._hash_key(create=False)
        if key is None:
            raise PrivacyError(
                "the do-not-call list holds erased numbers but their hash key is missing:"
                " restore ELO_PRIVACY__HASH_KEY or the .privacy-key file next to the database"
            )
        return phone_hash(key, phone)

    async def hashed_do_not_call(self, conn: aiosqlite.Connection, phone: str) -> bool:
        """Whether an erased person's hashed do-not-call entry blocks ``phone``.

        Costs one indexed look-up while there are no hashed entries (no key is needed then).

        Raises:
            PrivacyError: Hashed entries exist but their key is gone (the number could be one
                of them, so it must not be called: fail closed).
        """
        rows = await conn.execute_fetchall("SELECT EXISTS (SELECT 1 FROM do_not_call_hashed)")
        if not rows[0][0]:
            return False
        key = self._hash_key(create=False)
        if key is None:
            raise PrivacyError(
                "the do-not-call list holds erased numbers but their hash key is missing:"
                " restore ELO_PRIVACY__HASH_KEY or the .privacy-key file next to the database"
            )
        found = await conn.execute_fetchall(
            "SELECT 1 FROM do_not_call_hashed WHERE phone_hash = ?", (phone_hash(key, phone),)
        )
        return bool(found)
