"""Free text: normalised, invisible and markup content removed, bounded length."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from validation.errors import InputError
from validation.text import INVISIBLE_EXTRAS, clean_text, find_invisible, fold, strip_invisible

# Characters a person reading the record cannot see but that can change what it says.
INVISIBLE = (
    "\x00\x07\x1b\x7f\x85\x9f\u200b\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2069\ufeff"
)


def clean(value: str, max_length: int = 50, required: bool = True) -> str:
    return clean_text(value, field="reason", max_length=max_length, required=required)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  dhimbje dhëmbi  ", "dhimbje dhëmbi"),
        ("dhimbje   \t dhëmbi", "dhimbje dhëmbi"),
        ("rreshti 1\n\n   rreshti 2", "rreshti 1\nrreshti 2"),  # newlines kept, blank lines not
        ("dhe\u0308mb", "dhëmb"),  # NFC
        ("dhe\u200b\u0308mb", "dhëmb"),  # NFC even with a zero-width space before the accent
        ("x<b>bold</b>y", "x bold y"),
        ("<script>alert(1)</script>dhimbje", "alert(1) dhimbje"),
        ("<!-- hidden -->ok", "ok"),
        ("< img src=x onerror=alert(1) >ok", "ok"),
        ("a\u202eevil\u202c b", "aevil b"),
        ("a\x00b\x1bc", "abc"),
        ("1 < 2", "1 < 2"),  # a lone comparison is not markup
        ("Robert'); DROP TABLE patients;--", "Robert'); DROP TABLE patients;--"),  # stored as text
    ],
)
def test_cleans(raw: str, expected: str) -> None:
    assert clean(raw) == expected


def test_required_empty_is_an_error_with_the_field() -> None:
    with pytest.raises(InputError) as info:
        clean(" \u200b \n ")
    assert info.value.field == "reason"
    assert info.value.message == "is empty"


def test_optional_empty_is_allowed() -> None:
    assert clean("   ", required=False) == ""


@pytest.mark.parametrize(
    ("raw", "max_length", "ok"),
    [
        ("x" * 10, 10, True),
        ("x" * 11, 10, False),
        ("  " + "x" * 10 + "  ", 10, True),  # measured after trimming
        ("\u200b" * 30 + "x" * 10, 10, True),  # and after removing invisible characters
        ("x" * 41, 10, False),  # over 4x the limit: refused before any work
        ("x" * 10_000, 300, False),
    ],
)
def test_length_limit(raw: str, max_length: int, ok: bool) -> None:
    if ok:
        assert len(clean(raw, max_length=max_length)) <= max_length
    else:
        with pytest.raises(InputError) as info:
            clean(raw, max_length=max_length)
        assert "too long" in info.value.message
        assert str(max_length) in info.value.hint


@given(st.text(max_size=200), st.integers(min_value=1, max_value=100))
def test_output_is_bounded_visible_and_stable(raw: str, max_length: int) -> None:
    try:
        text = clean_text(raw, field="note", max_length=max_length, required=False)
    except InputError as exc:
        assert "too long" in exc.message
        return
    assert len(text) <= max_length
    assert text == text.strip()
    assert not any(ch in INVISIBLE for ch in text)
    assert unicodedata.is_normalized("NFC", text)
    assert clean_text(text, field="note", max_length=max_length, required=False) == text


@given(st.text(alphabet=INVISIBLE + " ab\n", max_size=60))
def test_invisible_characters_never_survive(raw: str) -> None:
    text = clean(raw, max_length=60, required=False)
    assert set(text) <= set(" ab\n")


# Every format character Python's Unicode database knows, and the invisible extras.
ALL_FORMAT = "".join(chr(c) for c in range(0x110000) if unicodedata.category(chr(c)) == "Cf")
EXTRAS = "".join(chr(c) for c in sorted(INVISIBLE_EXTRAS))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Ar\u00adbër", "Arbër"),  # soft hyphen
        ("Ana\U000e0041\U000e0042\U000e007f", "Ana"),  # tag characters (ASCII smuggling)
        ("\U000e0000x\U000e0002", "x"),  # unassigned code points of the tag block too
        ("\u3164Ana", "Ana"),  # Hangul filler (a letter, but blank)
        ("A\u115f\u1160\uffa0na", "Ana"),  # the other Hangul fillers
        ("a\u180eb", "ab"),  # Mongolian vowel separator
        ("a\u061cb\u2061c", "abc"),  # Arabic letter mark, function application
        ("ok\ufe0f\U000e0100\U000e01ef", "ok"),  # variation selectors can hide bytes
        ("a\ufff9b\ufffbc", "abc"),  # interlinear annotation
        ("rreshti 1\u2028rreshti 2\u2029", "rreshti 1\nrreshti 2"),  # line/paragraph separator
        ("a\r\nb\rc", "a\nb\nc"),
        ("a\u00a0b\u2003c", "a b c"),  # no-break and em spaces are spaces
        ("e\u00ad\u0308", "ë"),  # NFC after removing a format character before the accent
    ],
)
def test_every_invisible_kind_is_removed(raw: str, expected: str) -> None:
    assert clean(raw) == expected


def test_every_format_character_and_extra_is_removed() -> None:
    assert len(ALL_FORMAT) > 150
    raw = "a" + ALL_FORMAT + EXTRAS + "b"
    assert clean_text(raw, field="note", max_length=len(raw), required=False) == "ab"
    assert strip_invisible(raw) == "ab"


@given(st.text(alphabet=st.sampled_from(ALL_FORMAT + EXTRAS + "ab \n"), max_size=80))
def test_no_format_character_survives(raw: str) -> None:
    text = clean_text(raw, field="note", max_length=80, required=False)
    assert set(text) <= set("ab \n")


@pytest.mark.parametrize(
    ("raw", "found"),
    [("plain", None), ("tab\tand\nnewline", None), ("x\u200by", "U+200B"), ("\u3164", "U+3164")],
)
def test_find_invisible_names_the_code_point(raw: str, found: str | None) -> None:
    assert find_invisible(raw) == found


@pytest.mark.parametrize(
    ("raw", "folded"),
    [("Nesër", "neser"), ("E HËNË", "e hene"), ("Çela", "cela"), ("ÉCOLE", "ecole")],
)
def test_fold_lowers_and_strips_diacritics(raw: str, folded: str) -> None:
    assert fold(raw) == folded
