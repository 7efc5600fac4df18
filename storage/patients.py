"""Patients: found by their E.164 number, created on first booking or callback."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime

import aiosqlite

from storage.database import Database
from storage.models import Patient
from storage.rows import to_patient
from storage.timefmt import to_db
from validation.text import fold

# The anonymous patient that erased people's appointments point to. +999 is a country code the
# ITU keeps unassigned, so no real number (and no validated input) can ever equal it.
ANONYMOUS_PHONE = "+999"
ANONYMOUS_NAME = "-"
# The words of a name, for name_words.
_NAME_PARTS = re.compile(r"[^\W\d_]+")


async def upsert_patient(
    conn: aiosqlite.Connection,
    *,
    now: datetime,
    phone: str,
    name: str,
    email: str | None = None,
    language: str = "sq",
) -> tuple[Patient, bool]:
    """Find the patient by phone or create them, inside the caller's transaction.

    An existing patient keeps their recorded name: a caller cannot rename someone else. A
    missing email is filled in.

    Args:
        conn: The connection of an open write transaction.
        now: The current time (the row's created or updated time).
        phone: The E.164 number.
        name: The validated name, used only for a new patient.
        email: The email, stored when the patient has none yet.
        language: The language, for a new patient.

    Returns:
        The patient and whether they were created now.
    """
    stamp = to_db(now)
    # One atomic statement: two bookings for a new number at once (PostgreSQL runs them side by
    # side) both reach here, one inserts and the other waits for it and then finds the row.
    rows = await conn.execute_fetchall(
        "INSERT INTO patients (phone, name, email, language, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(phone) DO NOTHING RETURNING *",
        (phone, name, email, language, stamp, stamp),
    )
    if rows:
        return to_patient(rows[0]), True
    (row,) = await conn.execute_fetchall("SELECT * FROM patients WHERE phone = ?", (phone,))
    if email and not row["email"]:
        (row,) = await conn.execute_fetchall(
            "UPDATE patients SET email = ?, updated_at = ? WHERE id = ? RETURNING *",
            (email, stamp, row["id"]),
        )
    return to_patient(row), False


async def count_patients(db: Database) -> int:
    """How many patients are on file (not the anonymous placeholder of erased people)."""
    return await db.scalar("SELECT count(*) FROM patients WHERE phone != ?", (ANONYMOUS_PHONE,))


class PatientRepository:
    """The ``patients`` table.

    Args:
        db: The open database.
    """

    def __init__(self, db: Database) -> None:
        self._db = db
        # Folded words of stored patients' names, and the last (id, updated_at) read into them.
        self._name_words: set[str] = set()
        self._name_words_seen: tuple[int, str] = (0, "")

    async def get(self, *, phone: str) -> Patient | None:
        """The patient with this E.164 number, if known."""
        row = await self._db.row("SELECT * FROM patients WHERE phone = ?", (phone,))
        return to_patient(row) if row else None

    async def upsert(
        self, *, phone: str, name: str, email: str | None = None, language: str = "sq"
    ) -> tuple[Patient, bool]:
        """Find the patient by phone or create them (see :func:`upsert_patient`).

        Returns:
            The patient and whether they were created now.
        """
        async with self._db.transaction() as conn:
            return await upsert_patient(
                conn, now=self._db.clock(), phone=phone, name=name, email=email, language=language
            )

    async def name_words(self, words: Iterable[str]) -> set[str]:
        """Which of ``words`` are a word of some stored patient's name, ignoring case and accents.

        The folded words of every patient's name are kept in memory; each call reads only the
        patients added (higher id) or updated (later ``updated_at``) since the last one, by any
        connection, so a look-up after the first costs one small query (2 ms for 20,000
        patients; the first reads them all, about 0.1 s). A name that is later erased stays
        known, which can only make callers more careful.

        Args:
            words: Candidate words (letters only; others are ignored).

        Returns:
            The matching words, folded (lower case, accents removed, as
            :func:`validation.text.fold` gives them).
        """
        wanted = {fold(word) for word in words if word.isalpha()}
        if not wanted:
            return set()
        rows = await self._db.rows(
            "SELECT id, name, updated_at FROM patients WHERE id > ? OR updated_at > ?",
            (self._name_words_seen[0], self._name_words_seen[1]),
        )
        last_id, last_update = self._name_words_seen
        for row in rows:
            self._name_words.update(fold(part) for part in _NAME_PARTS.findall(row["name"]))
            last_id = max(last_id, row["id"])
            last_update = max(last_update, row["updated_at"])
        self._name_words_seen = (last_id, last_update)
        return wanted & self._name_words

    async def count(self) -> int:
        """How many patients are on file."""
        return await count_patients(self._db)
