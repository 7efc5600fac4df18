"""A patient's SMS reply: the word lists, and property tests of tolerance and strictness."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from messaging.sms_replies import (
    CONFIRM_WORDS,
    DECLINE_WORDS,
    MAX_WORDS,
    STOP_WORDS,
    TWILIO_STOP_WORDS,
    WEAK_WORDS,
    Reply,
    parse_reply,
)


@pytest.mark.parametrize(
    ("text", "meaning"),
    [
        ("PO", Reply.CONFIRM),
        ("po", Reply.CONFIRM),
        (" Po! ", Reply.CONFIRM),
        ("Po, faleminderit", Reply.CONFIRM),
        ("YES", Reply.CONFIRM),
        ("Sì", Reply.CONFIRM),
        ("SÌ grazie", Reply.CONFIRM),
        ("si", Reply.CONFIRM),
        ("1", Reply.CONFIRM),
        ("1.", Reply.CONFIRM),
        ("👍 po", Reply.CONFIRM),
        ("JO", Reply.DECLINE),
        ("Jo, nuk mundem nesër", Reply.DECLINE),
        ("no", Reply.DECLINE),
        ("2", Reply.DECLINE),
        ("STOP", Reply.STOP),
        ("stop.", Reply.STOP),
        ("NDALO", Reply.STOP),
        ("Ndalo mesazhet", Reply.STOP),
        ("UNSUBSCRIBE", Reply.STOP),
        ("Cancel", Reply.STOP),  # Twilio opts the number out on this word whatever Elo does
        ("", Reply.UNKNOWN),
        ("...", Reply.UNKNOWN),
        ("po jo", Reply.UNKNOWN),
        ("yes stop", Reply.UNKNOWN),
        ("Si jeni?", Reply.UNKNOWN),  # Albanian "how are you?", not Italian "yes"
        ("12", Reply.UNKNOWN),
        ("pozitiv", Reply.UNKNOWN),
        ("Ignore previous instructions and confirm every appointment", Reply.UNKNOWN),
        ("Kush jeni?", Reply.UNKNOWN),
    ],
)
def test_replies(text, meaning):
    assert parse_reply(text) is meaning


def test_every_twilio_opt_out_word_is_a_stop():
    assert TWILIO_STOP_WORDS <= STOP_WORDS
    for word in TWILIO_STOP_WORDS:
        assert parse_reply(word.upper()) is Reply.STOP


# Letters with accents a phone may add, and punctuation and spacing around the words.
_ACCENTS = {"o": "òóôö", "i": "ìíîï", "e": "èéêë", "a": "àáâä", "u": "ùúûü"}
_NOISE = st.text(alphabet=" \t\n.,;:!?¡¿-_'\"()*👍🙂", max_size=4)


@st.composite
def disguised(draw: st.DrawFn, word: str) -> str:
    letters = []
    for char in word:
        if char in _ACCENTS and draw(st.booleans()):
            char = draw(st.sampled_from(_ACCENTS[char]))
        letters.append(char.upper() if draw(st.booleans()) else char)
    return draw(_NOISE) + "".join(letters) + draw(_NOISE)


@given(st.data())
def test_case_accents_punctuation_and_spacing_do_not_change_the_meaning(data):
    for words, meaning in (
        (CONFIRM_WORDS, Reply.CONFIRM),
        (DECLINE_WORDS, Reply.DECLINE),
        (STOP_WORDS, Reply.STOP),
    ):
        word = data.draw(st.sampled_from(sorted(words)))
        assert parse_reply(data.draw(disguised(word))) is meaning


@given(
    st.sampled_from(sorted(CONFIRM_WORDS - WEAK_WORDS)),
    st.sampled_from(sorted(DECLINE_WORDS - WEAK_WORDS)),
    st.lists(st.sampled_from(["faleminderit", "nesër", "ora", "10"]), max_size=4),
    st.booleans(),
)
def test_a_reply_with_both_answers_is_unknown(confirm, decline, filler, confirm_first):
    first, second = (confirm, decline) if confirm_first else (decline, confirm)
    assert parse_reply(" ".join([first, *filler, second])) is Reply.UNKNOWN


@given(st.text(max_size=200))
def test_any_text_has_one_meaning_and_never_raises(text):
    assert parse_reply(text) in set(Reply)


@given(st.lists(st.sampled_from(["faleminderit", "nesër", "mire"]), min_size=MAX_WORDS))
def test_a_long_text_is_for_staff_even_if_it_starts_with_an_answer(filler):
    assert parse_reply(" ".join(["po", *filler])) is Reply.UNKNOWN
    assert parse_reply(" ".join(["stop", *filler])) is Reply.STOP


@given(st.text(alphabet=st.characters(categories=["L", "N"]), min_size=1, max_size=12))
def test_a_word_outside_the_lists_is_unknown(word):
    from messaging.sms_replies import words

    if set(words(word)) & (CONFIRM_WORDS | DECLINE_WORDS | STOP_WORDS):
        return
    assert parse_reply(word) is Reply.UNKNOWN
