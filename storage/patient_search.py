"""The Patients page: find patients by name or by number (masked), and reveal one number."""

from __future__ import annotations

import re
from typing import Any

from storage.cursors import decode, encode, page_size
from storage.dashboard_models import PatientItem, PatientPage, RevealedNumber
from storage.database import Database
from storage.patients import ANONYMOUS_PHONE
from storage.timefmt import from_db
from validation.errors import InputError
from validation.phone import mask_phone, normalize_phone
from validation.text import fold

_NON_DIGIT = re.compile(r"\D")
_LETTER = re.compile(r"[^\W\d_]")
_DIGIT = re.compile(r"\d")
_MIN_DIGITS = 3
_MAX_QUERY = 100


def _like(word: str) -> str:
    """A LIKE pattern for ``word`` anywhere, its own % and _ taken literally."""
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def number_digits(query: str) -> str:
    """The digits to look for in stored numbers: a leading 00 or national 0 dropped.

    ``069 123`` gives ``69123`` (stored as +35569123...), ``00355 69`` gives ``35569``.
    """
    digits = _NON_DIGIT.sub("", query)
    if digits.startswith("00"):
        return digits[2:]
    return digits[1:] if digits.startswith("0") else digits


class PatientSearch:
    """Patients as staff look them up. Lists mask numbers; :meth:`reveal` shows one.

    Args:
        db: The open database.
    """

    def __init__(self, db: Database) -> None:
        self._db = db

    async def search(
        self, *, query: str, cursor: str | None = None, limit: int = 50
    ) -> PatientPage:
        """Patients whose name or number matches ``query``.

        A query with a letter (or without any digit) searches names: every word must appear in
        the name, ignoring case and accents (ë = e, ç = c ...), results by name. Digits search
        numbers:
        a whole valid number matches exactly; any 3 or more digits typed (spaces, +, a leading
        0 or 00 allowed) match numbers containing them, results by number. An empty query
        lists every patient by name. The placeholder of erased people is never listed.

        Args:
            query: What staff typed (at most 100 characters).
            cursor: ``next_cursor`` of the previous page of the same query; None: first.
            limit: Rows per page, 1 to 200.

        Raises:
            ValueError: Too long, fewer than 3 digits, or a bad limit.
            CursorError: A cursor this list did not make.
        """
        limit = page_size(limit)
        text = query.strip()
        if len(text) > _MAX_QUERY:
            raise ValueError(f"a search is at most {_MAX_QUERY} characters")
        if _LETTER.search(text) or not _DIGIT.search(text):
            return await self._by_name(text, cursor, limit)
        return await self._by_number(text, cursor, limit)

    async def _by_name(self, text: str, cursor: str | None, limit: int) -> PatientPage:
        words = fold(text).split()
        where = ["p.phone != ?"]
        params: list[Any] = [ANONYMOUS_PHONE]
        for word in words:
            where.append("n.folded LIKE ? ESCAPE '\\'")
            params.append(_like(word))
        if cursor is not None:
            where.append("(n.folded, n.patient_id) > (?, ?)")
            params += list(decode(cursor, "patients:name", (str, int)))
        rows = await self._db.rows(
            "SELECT p.id, p.name, p.phone, p.language, p.created_at, n.folded"  # noqa: S608
            " FROM patient_names n JOIN patients p ON p.id = n.patient_id"
            f" WHERE {' AND '.join(where)} ORDER BY n.folded, n.patient_id LIMIT ?",
            [*params, limit + 1],
        )
        return self._page(rows, limit, lambda r: encode("patients:name", (r["folded"], r["id"])))

    async def _by_number(self, text: str, cursor: str | None, limit: int) -> PatientPage:
        try:
            exact: str | None = normalize_phone(text)
        except InputError:
            exact = None
        where = ["p.phone != ?"]
        params: list[Any] = [ANONYMOUS_PHONE]
        if exact is not None:
            where.append("p.phone = ?")
            params.append(exact)
        else:
            digits = number_digits(text)
            if len(digits) < _MIN_DIGITS:
                raise ValueError(f"type at least {_MIN_DIGITS} digits of the number")
            where.append("p.phone LIKE ?")
            params.append(f"%{digits}%")
        if cursor is not None:
            where.append("p.phone > ?")
            params += list(decode(cursor, "patients:number", (str,)))
        rows = await self._db.rows(
            "SELECT p.id, p.name, p.phone, p.language, p.created_at FROM patients p"  # noqa: S608
            f" WHERE {' AND '.join(where)} ORDER BY p.phone LIMIT ?",
            [*params, limit + 1],
        )
        return self._page(rows, limit, lambda r: encode("patients:number", (r["phone"],)))

    @staticmethod
    def _page(rows: list[Any], limit: int, key: Any) -> PatientPage:
        items = [
            PatientItem(
                id=row["id"],
                name=row["name"],
                phone_masked=mask_phone(row["phone"]),
                language=row["language"],
                created_at=from_db(row["created_at"]),
            )
            for row in rows[:limit]
        ]
        return PatientPage(
            items=items, next_cursor=key(rows[limit - 1]) if len(rows) > limit else None
        )

    async def reveal(self, *, patient_id: int) -> RevealedNumber | None:
        """One patient's full number, for staff who asked to see it; the caller audits it.

        Returns:
            The number, or None when there is no such patient (or it is the placeholder).
        """
        phone = await self._db.scalar(
            "SELECT phone FROM patients WHERE id = ? AND phone != ?", (patient_id, ANONYMOUS_PHONE)
        )
        return RevealedNumber(patient_id=patient_id, phone=phone) if phone else None
