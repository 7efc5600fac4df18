"""The dashboard's two languages: Babel message catalogues, compiled in memory, and formatting.

The catalogues are the ``.po`` files in ``dashboard/locale/{sq,en}/LC_MESSAGES/messages.po``,
shipped as package data and compiled in memory when the dashboard starts (no ``.mo`` build step).
Strings in Python are marked with :func:`N_` and translated where they are shown (templates call
``_()``); ``make messages`` extracts new strings into both catalogues (docs/dashboard.md).

Dates and times are shown in the clinic's time zone (Europe/Tirane), numbers with the language's
separators, money in whole lek.
"""

from __future__ import annotations

import io
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Literal, get_args
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import Translations

Language = Literal["sq", "en"]
LANGUAGES: tuple[Language, ...] = get_args(Language)
LANGUAGE_NAMES: dict[Language, str] = {"sq": "Shqip", "en": "English"}
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "messages"
TIRANE = ZoneInfo("Europe/Tirane")


def N_(message: str) -> str:
    """Mark ``message`` for translation where it is shown (it is returned unchanged)."""
    return message


def catalogue_path(language: Language) -> Path:
    """The ``.po`` file of ``language``."""
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def translations(language: Language) -> Translations:
    """The compiled catalogue of ``language`` (read and compiled once per process)."""
    with catalogue_path(language).open("rb") as po:
        catalog = read_po(po, locale=language, domain=DOMAIN)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer, domain=DOMAIN)


def as_language(value: str | None) -> Language | None:
    """``value`` if it names one of the dashboard's languages (``sq``, ``en``), else None."""
    if value is None:
        return None
    value = value.strip().lower()[:2]
    return value if value in LANGUAGES else None  # type: ignore[return-value]


def from_accept_language(header: str | None) -> Language | None:
    """The browser's most wanted language of ours from an ``Accept-Language`` header, or None."""
    if not header:
        return None
    wanted: list[tuple[float, int, Language]] = []
    for index, part in enumerate(header.split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        language = as_language(tag.split("-")[0])
        if language is None:
            continue
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if quality > 0:
            wanted.append((-quality, index, language))
    return min(wanted)[2] if wanted else None


def format_when(moment: datetime, language: Language) -> str:
    """An instant in the clinic's time zone, e.g. ``3 Dec 2026, 09:30``."""
    return format_datetime(moment, "medium", tzinfo=TIRANE, locale=language)


def format_day(day: date, language: Language) -> str:
    """A calendar day, e.g. ``3 Dec 2026``."""
    return format_date(day, "medium", locale=language)


def format_number(value: int | float, language: Language) -> str:
    """A number with the language's separators."""
    return format_decimal(value, locale=language)


def format_lek(amount: int, language: Language) -> str:
    """Money in whole lek (an integer), e.g. ``12 000 lekë`` / ``12,000 lek``."""
    if not isinstance(amount, int) or isinstance(amount, bool):
        raise TypeError("money is whole lek, an int")
    unit = "lekë" if language == "sq" else "lek"
    return f"{format_decimal(amount, locale=language)} {unit}"
