"""Phone numbers: what people write becomes E.164; anything else is refused with a reason."""

from __future__ import annotations

import re

import phonenumbers
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneNumberType

from validation.errors import InputError
from validation.phone import mask_phone, normalize_phone

E164 = re.compile(r"^\+[1-9]\d{6,14}$")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+355 69 123 4567", "+355691234567"),
        ("069 123 4567", "+355691234567"),
        ("00355691234567", "+355691234567"),
        ("+355691234567", "+355691234567"),
        ("0691234567", "+355691234567"),
        ("069-123-4567", "+355691234567"),
        ("(069) 123 4567", "+355691234567"),
        ("+355 (69) 123-4567", "+355691234567"),
        ("069.123.4567", "+355691234567"),
        ("069\u00a0123\u00a04567", "+355691234567"),  # no-break spaces from a copied document
        ("  069 123 4567  ", "+355691234567"),
        ("067 212 3456", "+355672123456"),
        ("068 212 3456", "+355682123456"),
        ("+355 4 222 3344", "+35542223344"),  # Tirana landline (the sample clinic)
        ("04 222 3344", "+35542223344"),
        ("(04) 222-3344", "+35542223344"),
    ],
)
def test_accepts_common_albanian_spellings(raw: str, expected: str) -> None:
    assert normalize_phone(raw) == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "is empty"),
        ("   ", "is empty"),
        ("abc", "only digits"),
        ("069 ABC 4567", "only digits"),
        ("1' OR '1'='1", "only digits"),
        ("069; DROP TABLE patients;--", "only digits"),
        ("<script>alert(1)</script>", "only digits"),
        ("9" * 10_000, "only digits"),  # refused before any parsing work
        ("069 123 4567 ext. 12", "only digits"),
        ("\uff0b355 69 123 4567", "only digits"),  # full-width plus
        ("069\n123 4567", "only digits"),
        ("+", "is not a phone number"),
        ("0", "is not a phone number"),
        ("069 123", "wrong length or prefix"),
        ("12345", "wrong length or prefix"),
        ("+355 69 123 4567 89", "wrong length or prefix"),
        ("067 012 3456", "wrong length or prefix"),  # 0670 is not an allocated mobile range
    ],
)
def test_rejects_with_a_reason(raw: str, reason: str) -> None:
    with pytest.raises(InputError) as info:
        normalize_phone(raw)
    assert info.value.field == "phone_number"
    assert reason in info.value.message
    assert info.value.hint  # always something the model can act on


def test_error_names_the_field_it_was_given() -> None:
    with pytest.raises(InputError) as info:
        normalize_phone("abc", field="callback_number")
    assert info.value.field == "callback_number"
    assert info.value.to_result()["error"].startswith("callback_number:")


@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [
        ("+383 43 201 234", "XK", "+38343201234"),  # Kosovo mobile
        ("00383 43 201 234", "XK", "+38343201234"),
        ("+44 7400 123456", "GB", "+447400123456"),
    ],
)
def test_foreign_numbers_need_their_region_allowed(raw: str, region: str, e164: str) -> None:
    with pytest.raises(InputError) as info:
        normalize_phone(raw)
    assert f"from {region}" in info.value.message
    assert info.value.details == {"allowed_regions": ["AL"]}
    assert normalize_phone(raw, allowed_regions=("AL", region.lower())) == e164


def test_allowing_kosovo_keeps_albania_and_still_refuses_the_uk() -> None:
    regions = ("AL", "XK")
    assert normalize_phone("069 123 4567", allowed_regions=regions) == "+355691234567"
    with pytest.raises(InputError, match="from GB"):
        normalize_phone("+44 7400 123456", allowed_regions=regions)


def test_default_region_reads_national_numbers() -> None:
    # Without a country code the same digits are a Kosovo mobile or an Albanian landline.
    assert (
        normalize_phone("043 201 234", allowed_regions=("XK",), default_region="XK")
        == "+38343201234"
    )
    assert normalize_phone("043 201 234") == "+35543201234"


@pytest.mark.parametrize(
    "kind",
    [PhoneNumberType.PREMIUM_RATE, PhoneNumberType.TOLL_FREE, PhoneNumberType.SHARED_COST],
)
def test_rejects_albanian_service_numbers(kind: int) -> None:
    number = phonenumbers.example_number_for_type("AL", kind)
    if number is None:  # pragma: no cover - depends on the metadata release
        pytest.skip(f"phonenumbers has no Albanian example for type {kind}")
    raw = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    with pytest.raises(InputError, match="service number"):
        normalize_phone(raw)


@pytest.mark.parametrize("kind", [PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE])
def test_accepts_albanian_example_numbers(kind: int) -> None:
    number = phonenumbers.example_number_for_type("AL", kind)
    assert number is not None
    raw = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    expected = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    assert normalize_phone(raw) == expected


# --- properties ----------------------------------------------------------------------------

# Albanian mobiles as libphonenumber allocates them: 067/068 followed by 2-9, and all of 069.
_mobile = st.from_regex(r"\A6(?:[78][2-9]|9[0-9])[0-9]{6}\Z")
_separator = st.sampled_from(["", "", " ", "-", "."])


@st.composite
def _written_mobile(draw: st.DrawFn) -> tuple[str, str]:
    national = draw(_mobile)
    prefix = draw(st.sampled_from(["+355", "00355", "0"]))
    digits = prefix.lstrip("+") + national
    gaps = draw(st.lists(_separator, min_size=len(digits) - 1, max_size=len(digits) - 1))
    body = digits[0] + "".join(sep + d for sep, d in zip(gaps, digits[1:], strict=True))
    padding = draw(st.sampled_from(["", " ", "  "]))
    return national, padding + ("+" if prefix.startswith("+") else "") + body + padding


@given(_written_mobile())
@example(("691234567", "+355 69 123 4567"))
@example(("691234567", "00355-69-123-4567"))
def test_every_spelling_of_a_mobile_gives_the_same_e164(written: tuple[str, str]) -> None:
    national, raw = written
    assert normalize_phone(raw) == "+355" + national


_phoneish = st.text(alphabet="0123456789+-(). ", max_size=24)
_regions = st.sampled_from([("AL",), ("AL", "XK"), tuple(sorted(phonenumbers.SUPPORTED_REGIONS))])


@settings(max_examples=300)
@given(raw=st.one_of(st.text(), _phoneish), regions=_regions)
@example(raw="+355 69 123 4567", regions=("AL",))
@example(raw="+1 202 555 0143", regions=("US",))
def test_only_input_errors_and_valid_idempotent_e164(raw: str, regions: tuple[str, ...]) -> None:
    try:
        result = normalize_phone(raw, allowed_regions=regions)
    except InputError:
        return
    assert E164.match(result), result
    assert normalize_phone(result, allowed_regions=regions) == result


# --- masking -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("e164", "masked"),
    [
        ("+355691234567", "+355*******67"),
        ("+35542223344", "+355******44"),
        ("+447400123456", "+447*******56"),
        ("+12345", "+***"),
    ],
)
def test_mask_phone_hides_the_middle(e164: str, masked: str) -> None:
    assert mask_phone(e164) == masked


@given(_mobile)
def test_mask_phone_never_shows_the_subscriber_number(national: str) -> None:
    masked = mask_phone("+355" + national)
    assert national[:7] not in masked
    assert masked.startswith("+355") and masked.endswith(national[-2:])
    assert len(masked) == len("+355" + national)


@pytest.mark.parametrize(
    ("reported", "expected"),
    [
        ("+355691234567", "+355691234567"),
        ("355691234567", "+355691234567"),  # international without the plus
        ("00355691234567", "+355691234567"),
        ("0691234567", "+355691234567"),  # national, the default region's
        ("+393471234567", "+393471234567"),  # a patient calling from abroad
        ("anonymous", None),
        ("", None),
        ("+355 69 123 4567", None),  # a SIP user part has no spaces
        ("12345", None),
        ("+355691234567; drop", None),
    ],
)
def test_a_callers_number_as_the_network_reports_it(reported: str, expected: str | None) -> None:
    from validation import caller_number

    assert caller_number(reported, default_region="AL") == expected
