"""Every string of the dashboard is translated in both catalogues; formatting in Europe/Tirane."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from dashboard.i18n import (
    LANGUAGES,
    N_,
    catalogue_path,
    format_lek,
    format_when,
    from_accept_language,
    translations,
)

DASHBOARD = Path(__file__).resolve().parents[2] / "dashboard"
METHODS = [("**.py", "python"), ("templates/**.html", "jinja2")]
OPTIONS = {"templates/**.html": {"extensions": "jinja2.ext.i18n"}}


def used_msgids() -> set[str]:
    """Every msgid in the dashboard's Python and templates, as `make messages` extracts them."""
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(DASHBOARD), METHODS, options_map=OPTIONS
    ):
        found.update([message] if isinstance(message, str) else [m for m in message if m])
    return found


def test_the_extraction_finds_python_and_template_strings() -> None:
    used = used_msgids()
    assert "Wrong name or password, or too many failed attempts. Try again later." in used  # .py
    assert "Skip to content" in used  # base.html
    assert "Audit log" in used and len(used) > 50


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_string_has_a_translation(language: str) -> None:
    with catalogue_path(language).open("rb") as po:
        catalogue = read_po(po, locale=language)
    translated = {m.id: m.string for m in catalogue if m.id}
    missing = sorted(m for m in used_msgids() if not translated.get(m))
    assert missing == [], f"{language}: add these to {catalogue_path(language)} (make messages)"
    fuzzy = sorted(m.id for m in catalogue if m.id and m.fuzzy)
    assert fuzzy == []


def _msgids(text: str) -> list[str]:
    """Every msgid of a .po text in order, repeats included (multi-line ones joined)."""
    ids: list[str] = []
    current: list[str] | None = None
    for line in text.splitlines():
        if line.startswith("msgid "):
            current = [line[len("msgid ") :]]
        elif current is not None and line.startswith('"'):
            current.append(line)
        elif current is not None:
            ids.append("".join(part.strip()[1:-1] for part in current))
            current = None
    return [i for i in ids if i]


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_string_is_in_a_catalogue_twice(language: str) -> None:
    # Babel keeps one of two entries silently: the other translation would be dead text.
    ids = _msgids(catalogue_path(language).read_text(encoding="utf-8"))
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    assert repeated == [], f"{language}: remove the second entry of each"
    with catalogue_path(language).open("rb") as po:
        assert len(ids) == len([m for m in read_po(po, locale=language) if m.id])


def test_albanian_is_albanian_and_placeholders_survive() -> None:
    sq = translations("sq")
    assert sq.gettext("Sign in") == "Hyr"
    assert sq.gettext(N_("Users")) == "Përdoruesit"
    with catalogue_path("sq").open("rb") as po:
        for message in read_po(po, locale="sq"):
            if message.id and "%(" in message.id:
                assert set(_placeholders(message.id)) == set(_placeholders(message.string))


def _placeholders(text: str) -> list[str]:
    import re

    return re.findall(r"%\((\w+)\)s", text)


def test_dates_are_in_tirana_and_money_in_whole_lek() -> None:
    winter = datetime(2026, 12, 3, 8, 30, tzinfo=UTC)  # 09:30 in Tirana (CET)
    assert "9:30" in format_when(winter, "en") and "2026" in format_when(winter, "en")
    summer = datetime(2026, 7, 3, 8, 30, tzinfo=UTC)  # 10:30 in Tirana (CEST)
    assert "10:30" in format_when(summer, "sq")
    assert format_lek(12000, "en") == "12,000 lek"
    assert format_lek(12000, "sq") == "12\N{NO-BREAK SPACE}000 lekë"
    with pytest.raises(TypeError):
        format_lek(12.5, "en")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("sq-AL,sq;q=0.9,en;q=0.8", "sq"),
        ("de-DE,en;q=0.5,sq;q=0.4", "en"),
        ("en;q=0.2, sq;q=0.9", "sq"),
        ("de, fr", None),
        ("sq;q=0, en", "en"),
        ("", None),
    ],
)
def test_the_browser_language(header: str, expected: str | None) -> None:
    assert from_accept_language(header) == expected
