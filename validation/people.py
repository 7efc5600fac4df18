"""Names and email addresses."""

from __future__ import annotations

import re

from email_validator import EmailNotValidError, validate_email

from validation.errors import InputError
from validation.text import clean_text

# Letters of any script (Albanian ë, ç included), joined by single spaces, hyphens, apostrophes or
# dots, as in "Arbër Çela", "Anna-Maria O'Neil", "Dr. Elira".
_NAME = re.compile(r"^[^\W\d_]+\.?(?:(?: |-|'|’|\. ?)[^\W\d_]+\.?)*$")
_MAX_EMAIL = 254


def normalize_name(raw: str, *, max_length: int = 80, field: str = "patient_name") -> str:
    """Validate a person's name, keeping its letters as written.

    Args:
        raw: The name as given.
        max_length: Longest accepted name.
        field: The argument name, for the error message.

    Returns:
        The trimmed, whitespace-collapsed name.

    Raises:
        InputError: Empty, too long, or containing digits, markup or symbols.
    """
    if "<" in raw or ">" in raw:
        raise InputError(field, "contains markup", "Ask for the patient's name only.")
    name = clean_text(raw, field=field, max_length=max_length)
    name = " ".join(name.split())
    if len(name) < 2:
        raise InputError(field, "is too short", "Ask for the patient's first and last name.")
    # \w (and so the pattern) also admits numerals that \d does not, such as ² or Ⅻ.
    if not _NAME.match(name) or any(ch.isnumeric() for ch in name):
        raise InputError(
            field,
            "may contain only letters, spaces, hyphens and apostrophes",
            "Ask for the patient's name again and spell it with letters only.",
        )
    return name


def normalize_email(raw: str, *, field: str = "email") -> str:
    """Validate an email address's syntax (no DNS look-ups) and normalise it.

    Args:
        raw: The address as given.
        field: The argument name, for the error message.

    Returns:
        The normalised address.

    Raises:
        InputError: The address is not valid.
    """
    text = raw.strip()
    if len(text) > _MAX_EMAIL:
        raise InputError(field, "is too long", "Ask for the email address again.")
    try:
        info = validate_email(text, check_deliverability=False)
    except EmailNotValidError as exc:
        raise InputError(
            field, f"is not a valid email address ({exc})", "Ask for it again."
        ) from None
    return info.normalized


def mask_email(email: str) -> str:
    """Hide the local part and most of the domain, for logs."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@***{domain[-3:] if domain else ''}"
