"""The greeting cue and the long-greeting note exist in every patient language.

The Italian call through the real pipeline (tests/pipeline/test_models_calls.py) shows the cue
reaching the model; these check the texts themselves.
"""

from __future__ import annotations

import pytest

from pipeline.call.greeting import greeting_cue, long_greeting_note
from validation.languages import LANGUAGES, Language


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_language_has_a_greeting_and_an_answer_cue(language: Language) -> None:
    greet = greeting_cue(language, inbound=False)
    answer = greeting_cue(language, inbound=True)
    assert greet and answer and greet != answer
    others = [greeting_cue(lang, inbound=False) for lang in LANGUAGES if lang != language]
    assert greet not in others  # its own text, not another language's


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_language_long_greeting_note_names_the_tool_and_the_seconds(
    language: Language,
) -> None:
    note = long_greeting_note(language, 7.4)
    assert "voicemail_detected" in note and " 7 " in note


def test_the_italian_greeting_cues_are_italian() -> None:
    assert greeting_cue("it", inbound=False) == (
        "Il paziente ha appena risposto al telefono. Salutalo ora, come indicato nelle istruzioni."
    )
    assert greeting_cue("it", inbound=True).startswith("Chi chiama è in linea.")
    assert long_greeting_note("it", 8).startswith("Nota: la prima frase")
