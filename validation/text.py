"""Free-text cleaning shared by every string argument."""

from __future__ import annotations

import re
import unicodedata

from validation.errors import InputError

# C0/C1 controls except tab and newline, plus bidi overrides and zero-width characters that can
# hide text from a person reading the record.
_CONTROL = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]"
)
_MARKUP = re.compile(r"<\s*/?\s*[a-zA-Z!][^>]*>")


def clean_text(value: str, *, field: str, max_length: int, required: bool = True) -> str:
    """Normalise free text: NFC, trimmed, controls and markup removed, bounded length.

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
    # Controls go first: a zero-width character between a letter and its accent would otherwise
    # block composition and leave a decomposed, non-NFC result.
    text = _CONTROL.sub("", value)
    text = unicodedata.normalize("NFC", text)
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
