"""Validation of patient input: phone numbers, names, emails, free text and times.

Every function returns a clean value or raises :class:`InputError` with a message and a hint that a
person or the model can act on.
"""

from validation.errors import InputError
from validation.people import normalize_email, normalize_name
from validation.phone import caller_number, normalize_phone
from validation.text import clean_text

__all__ = [
    "InputError",
    "caller_number",
    "clean_text",
    "normalize_email",
    "normalize_name",
    "normalize_phone",
]
