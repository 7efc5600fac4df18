"""The languages Elo speaks with patients: one definition for calls, contacts and messages.

Albanian (``sq``, the default), English (``en``) and Italian (``it``, the clinic's dental
tourists). Every layer takes the set from here: the prompts and greetings of a call, a
campaign contact's language (``storage.models.ContactLanguage``), the CSV import, the clinic
profile's texts. The dashboard's own interface languages (staff's, ``dashboard.i18n``) are a
separate set.

Adding a language: extend :data:`Language` and :data:`LANGUAGE_NAMES`, then the prompt files and
texts the tests name (``tests/pipeline/test_prompt_languages.py`` fails for any language
without them), and widen the CHECK on ``campaign_contacts.language`` with a migration.
"""

from __future__ import annotations

from typing import Literal, get_args

from validation.text import fold

Language = Literal["sq", "en", "it"]
LANGUAGES: tuple[Language, ...] = get_args(Language)
DEFAULT_LANGUAGE: Language = "sq"

# Each language's own name, as a patient or staff member reads it.
LANGUAGE_NAMES: dict[Language, str] = {"sq": "Shqip", "en": "English", "it": "Italiano"}

# Names staff type in a spreadsheet's language column (folded: lower case, no accents), in the
# three languages, besides the codes and BCP 47 tags.
_NAMES: dict[str, Language] = {
    "shqip": "sq",
    "albanian": "sq",
    "albanese": "sq",
    "anglisht": "en",
    "english": "en",
    "inglese": "en",
    "italisht": "it",
    "italian": "it",
    "italiano": "it",
}


def language_of(tag: str | None) -> Language:
    """The patient language of a BCP 47 tag (``it-IT`` -> ``it``); Albanian for any other.

    Args:
        tag: A tag such as ``sq-AL``, ``en``, ``it-IT``; None or empty for the default.

    Returns:
        One of :data:`LANGUAGES`.
    """
    primary = (tag or "").strip().split("-")[0].split("_")[0].lower()
    return primary if primary in LANGUAGES else DEFAULT_LANGUAGE  # type: ignore[return-value]


def parse_language(value: str) -> Language | None:
    """A language staff wrote: a code, a BCP 47 tag or its name; None when it is none of them.

    ``it``, ``IT``, ``it-IT``, ``it_IT``, ``Italiano``, ``italian`` and ``italisht`` are all
    Italian. An unknown language is None, never the default: a typo must not make Elo call an
    Italian patient in Albanian.

    Args:
        value: The text (already stripped of invisible characters).

    Returns:
        One of :data:`LANGUAGES`, or None.
    """
    text = fold(value.strip())
    if text in _NAMES:
        return _NAMES[text]
    primary, dash, region = text.replace("_", "-").partition("-")
    if primary in LANGUAGES and (not dash or (region.isalpha() and len(region) == 2)):
        return primary  # type: ignore[return-value]
    return None


def tag_pattern() -> str:
    """A regular expression for a call's language tag: a code, optionally with a region."""
    return rf"^({'|'.join(LANGUAGES)})(-[A-Z]{{2}})?$"
