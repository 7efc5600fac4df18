"""Phone numbers: accept what people write, store E.164."""

from __future__ import annotations

import re
from collections.abc import Iterable

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType

from validation.errors import InputError

_ALLOWED_CHARS = re.compile(r"^[0-9+()\-./ \u00a0]+$")
_MAX_RAW = 32


def normalize_phone(
    raw: str,
    *,
    allowed_regions: Iterable[str] = ("AL",),
    default_region: str = "AL",
    field: str = "phone_number",
) -> str:
    """Parse a phone number written any common way and return it in E.164.

    ``+355 69 123 4567``, ``069 123 4567`` and ``00355691234567`` all give ``+355691234567``.

    Args:
        raw: The number as given.
        allowed_regions: ISO regions whose numbers are accepted.
        default_region: Region assumed when the number has no country code.
        field: The argument name, for the error message.

    Returns:
        The number in E.164 form.

    Raises:
        InputError: Not a number, not valid, or from a region that is not allowed.
    """
    allowed = [region.upper() for region in allowed_regions]
    example = "+355 69 123 4567 or 069 123 4567"
    text = raw.strip()
    if not text:
        raise InputError(field, "is empty", f"Ask for the patient's phone number, e.g. {example}.")
    if len(text) > _MAX_RAW or not _ALLOWED_CHARS.match(text):
        raise InputError(
            field,
            "is not a phone number (only digits, spaces, +, -, ( ) are allowed)",
            f"Ask for the number again, e.g. {example}.",
        )
    try:
        number = phonenumbers.parse(text, default_region)
    except NumberParseException:
        raise InputError(
            field, "is not a phone number", f"Ask for the number again, e.g. {example}."
        ) from None
    if not phonenumbers.is_valid_number(number):
        raise InputError(
            field,
            "is not a valid phone number (wrong length or prefix)",
            f"Repeat the number back to the patient and ask again, e.g. {example}.",
        )
    region = phonenumbers.region_code_for_number(number)
    if region not in allowed:
        raise InputError(
            field,
            f"is a number from {region or 'an unknown region'}; only numbers from"
            f" {', '.join(allowed)} are accepted",
            "Ask for a local phone number.",
            {"allowed_regions": allowed},
        )
    if phonenumbers.number_type(number) in (
        PhoneNumberType.PREMIUM_RATE,
        PhoneNumberType.SHARED_COST,
        PhoneNumberType.TOLL_FREE,
        PhoneNumberType.PAGER,
    ):
        raise InputError(
            field, "is a service number, not a personal one", "Ask for a personal number."
        )
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def mask_phone(e164: str) -> str:
    """Hide all but the country code and last two digits, for logs."""
    digits = e164.lstrip("+")
    if len(digits) < 6:
        return "+***"
    return f"+{digits[:3]}{'*' * (len(digits) - 5)}{digits[-2:]}"


_CALLER_ID = re.compile(r"^\+?[0-9]{3,20}$")


def caller_number(raw: str, *, default_region: str = "AL") -> str | None:
    """The E.164 number of a caller as a telephone network reports it, or None if it has none.

    A SIP ``From`` user (LiveKit's ``sip.phoneNumber`` attribute) carries the number the way the
    carrier sends it: ``+355691234567``, ``355691234567``, ``00355691234567`` or the national
    ``0691234567``; a withheld number arrives as ``anonymous`` or empty. Any region is accepted
    (a patient may call from abroad); anything that is not a valid number gives None.

    Args:
        raw: The number as reported.
        default_region: Region assumed for a national number.

    Returns:
        The number in E.164 form, or None (withheld or unusable).
    """
    text = raw.strip()
    if not _CALLER_ID.match(text):
        return None
    candidates = [text]
    if not text.startswith(("+", "0")):
        # International form without the plus, as many trunks send it.
        candidates.append("+" + text)
    for candidate in candidates:
        try:
            return normalize_phone(
                candidate,
                allowed_regions=phonenumbers.SUPPORTED_REGIONS,
                default_region=default_region,
                field="caller",
            )
        except InputError:
            continue
    return None
