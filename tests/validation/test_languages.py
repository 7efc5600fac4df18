"""One definition of the patient languages: codes, tags and names staff write."""

from __future__ import annotations

import re

import pytest

from storage.models import ContactLanguage
from validation.languages import (
    DEFAULT_LANGUAGE,
    LANGUAGE_NAMES,
    LANGUAGES,
    Language,
    language_of,
    parse_language,
    tag_pattern,
)


def test_the_languages_are_albanian_english_and_italian() -> None:
    assert LANGUAGES == ("sq", "en", "it") and DEFAULT_LANGUAGE == "sq"
    assert LANGUAGE_NAMES == {"sq": "Shqip", "en": "English", "it": "Italiano"}
    assert ContactLanguage is Language  # storage takes the same definition


@pytest.mark.parametrize(
    ("tag", "language"),
    [
        ("it", "it"),
        ("it-IT", "it"),
        ("IT", "it"),
        ("it_CH", "it"),
        ("en-GB", "en"),
        ("sq-AL", "sq"),
        ("de", "sq"),
        ("", "sq"),
        (None, "sq"),
    ],
)
def test_language_of_a_tag(tag: str | None, language: str) -> None:
    assert language_of(tag) == language


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("it", "it"),
        (" It-it ", "it"),
        ("Italiano", "it"),
        ("ITALIAN", "it"),
        ("italisht", "it"),
        ("inglese", "en"),
        ("Anglisht", "en"),
        ("albanese", "sq"),
        ("shqip", "sq"),
        ("de", None),
        ("", None),
        ("it-", None),
        ("it-I1", None),
        ("itx", None),
    ],
)
def test_parse_language(text: str, language: str | None) -> None:
    assert parse_language(text) == language


def test_tag_pattern() -> None:
    pattern = re.compile(tag_pattern())
    assert all(pattern.match(tag) for tag in ("sq", "en-US", "it", "it-IT"))
    assert not any(pattern.match(tag) for tag in ("fr", "it-it", "IT", "it-ITA", ""))
