"""Free-text cleaning shared by every string that enters Elo from outside.

Text from the model, staff files (contact CSV, legacy import), the clinic profile and web search
results can carry characters nobody sees but that change what the text says or how it is matched:
format characters (Unicode category Cf: zero-width spaces and joiners, bidi overrides and isolates,
the soft hyphen, tag characters U+E0000-U+E007F), controls, and a few letters and marks that
render as nothing (Hangul fillers, variation selectors, which can smuggle bytes). The set is
derived from ``unicodedata`` categories plus :data:`INVISIBLE_EXTRAS`, not kept as a hand list.
"""

from __future__ import annotations

import re
import unicodedata

from validation.errors import InputError

# Letters and marks that are not category Cf but render as nothing (or as blank space that is
# not a space): Hangul fillers, the Mongolian vowel separator, the combining grapheme joiner,
# Khmer inherent vowels, the Braille blank, and the variation selectors (which can encode
# arbitrary hidden bytes after any visible character).
INVISIBLE_EXTRAS = frozenset(
    [
        *(0x115F, 0x1160, 0x3164, 0xFFA0, 0x180E, 0x034F, 0x17B4, 0x17B5, 0x2800),
        *range(0xFE00, 0xFE10),
        *range(0xE0100, 0xE01F0),
        # The whole tag block, including the code points that are still unassigned.
        *range(0xE0000, 0xE0080),
    ]
)
# Controls and separators that mean "new line"; every other control is removed.
_LINE_BREAKS = frozenset([0x0A, 0x0B, 0x0C, 0x0D, 0x1C, 0x1D, 0x1E, 0x85, 0x2028, 0x2029])
_REMOVED_CATEGORIES = frozenset(["Cf", "Cc", "Cs"])
_CACHE_LIMIT = 65_536


def is_invisible(char: str) -> bool:
    """Whether ``char`` is a control, format or other invisible character (tab and newline not).

    Args:
        char: One character.

    Returns:
        True for characters :func:`strip_invisible` removes or turns into a line break.
    """
    code = ord(char)
    if code in (0x09, 0x0A):
        return False
    return (
        code in INVISIBLE_EXTRAS
        or code in _LINE_BREAKS
        or unicodedata.category(char) in _REMOVED_CATEGORIES
    )


class _Translation(dict[int, int | str | None]):
    """``str.translate`` table computed per code point on first sight (C speed afterwards)."""

    def __missing__(self, code: int) -> int | str | None:
        char = chr(code)
        if code in _LINE_BREAKS:
            value: int | str | None = "\n"
        elif is_invisible(char):
            value = None
        elif unicodedata.category(char) == "Zs":
            # No-break and other-width spaces are spaces (one kind, so matching and trimming work).
            value = " "
        else:
            value = code
        if len(self) < _CACHE_LIMIT:
            self[code] = value
        return value


_TABLE = _Translation()


def strip_invisible(text: str) -> str:
    """Remove invisible characters, turn line separators into newlines, and normalise to NFC.

    The characters go before normalisation: a zero-width character between a letter and its
    accent would otherwise block composition and leave a decomposed result. CR LF becomes one
    newline. Nothing else (markup, length, spacing) is touched: see :func:`clean_text`.

    Args:
        text: Any text.

    Returns:
        The visible text in NFC.
    """
    text = text.replace("\r\n", "\n").translate(_TABLE)
    return unicodedata.normalize("NFC", text)


def find_invisible(text: str) -> str | None:
    """The first invisible character in ``text`` as ``U+XXXX``, or None (for messages).

    Args:
        text: Any text.

    Returns:
        The code point of the first character :func:`is_invisible` flags, if any.
    """
    for char in text:
        if is_invisible(char):
            return f"U+{ord(char):04X}"
    return None


_MARKUP = re.compile(r"<\s*/?\s*[a-zA-Z!][^>]*>")


def clean_text(value: str, *, field: str, max_length: int, required: bool = True) -> str:
    """Normalise free text: NFC, trimmed, invisible characters and markup removed, bounded.

    Args:
        value: The raw text.
        field: The argument name, for the error message.
        max_length: Longest accepted result.
        required: Whether an empty result is an error.

    Returns:
        The cleaned text.

    Raises:
        InputError: The text is too long or empty when required.
    """
    if len(value) > max_length * 4:
        # Refuse before doing any work on oversized input.
        raise InputError(field, f"is too long ({len(value)} characters)", _shorter(max_length))
    text = strip_invisible(value)
    text = _MARKUP.sub(" ", text)
    text = re.sub(r"[ \t]+", " ", text)
    text = re.sub(r"\s*\n\s*", "\n", text).strip()
    if len(text) > max_length:
        raise InputError(field, f"is too long ({len(text)} characters)", _shorter(max_length))
    if required and not text:
        raise InputError(field, "is empty", f"Give a value for {field}.")
    return text


def _shorter(max_length: int) -> str:
    return f"Keep it under {max_length} characters."


def fold(text: str) -> str:
    """Lower-case and strip diacritics (ë -> e, ç -> c) for keyword matching only."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))
