"""Every patient language has the same prompt: same sections, rules, tools and data rules.

Italian is the third language (issue 13); these tests catch a rule added to one language's
prompt and not to the others, and English or Albanian left in the Italian text.
"""

from __future__ import annotations

import re

import pytest

from config.clinic import ClinicProfile
from config.settings_campaign import CallingSettings
from pipeline.call.greeting import greeting_cue, long_greeting_note
from pipeline.metadata import CallMetadata
from pipeline.prompts import (
    DAY_NAMES,
    LANGUAGES,
    PROMPTS_DIR,
    PURPOSE_TEXTS,
    build_system_instruction,
)
from storage.models import CallDirection
from tests.conftest import DEFAULT_NOW
from validation.languages import Language

PROMPT_FILES = ("{}.md", "opening/{}.outbound.md", "opening/{}.inbound.md")

# Words that are English or Albanian and never Italian (so "in", "come", "me", "e", "si", "ti",
# shared by two of the languages, are not here).
ENGLISH_WORDS = frozenset(
    "the and you your with call calls patient clinic when if only never say ask is are of to"
    " for this that it not or then after before should booked booking please speak".split()
)
ALBANIAN_WORDS = frozenset(
    "dhe është një për nuk që të ose mos kurrë vetëm klinikës pacienti thirr thuaj nëse pastaj"
    " shqip je ka janë më pyet rezervo".split()
)
ITALIAN_WORDS = frozenset("il che non della paziente prenotazione chiamata sei".split())


def _shape(text: str) -> dict[str, object]:
    """What a prompt text holds, whatever its language: placeholders, rules, tools, statuses."""
    return {
        "placeholders": sorted(set(re.findall(r"\$(\w+)", text))),
        "paragraphs": len([p for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]),
        "rules": len(re.findall(r"^- ", text, re.MULTILINE)),
        "identifiers": sorted(set(re.findall(r"\b[a-z]+(?:_[a-z]+)+\b", text))),
        "statuses": sorted(set(re.findall(r'"([a-z_]+)"', text))),
    }


def _fixed_texts(language: Language) -> str:
    """Every fixed text a call in ``language`` sends the model (no clinic or patient data)."""
    calling = CallingSettings()
    parts = [(PROMPTS_DIR / f.format(language)).read_text(encoding="utf-8") for f in PROMPT_FILES]
    parts += PURPOSE_TEXTS[language].values()
    parts += DAY_NAMES[language]
    parts += [greeting_cue(language, inbound=False), greeting_cue(language, inbound=True)]
    parts.append(long_greeting_note(language, 7.0))
    parts.append(getattr(calling, f"voicemail_message_{language}"))
    return "\n".join(parts)


def _words(text: str) -> set[str]:
    text = re.sub(r"\$\w+|\{\w+\}", " ", text)  # placeholders
    text = re.sub(r"\b[a-z]+(?:_[a-z]+)+\b", " ", text)  # tool names, phone_number, opted_out
    text = re.sub(r'"[a-z_]+"', " ", text)  # the statuses tools return ("booked", "hint")
    return set(re.findall(r"[^\W\d_]+", text.lower()))


@pytest.mark.parametrize("name", PROMPT_FILES)
@pytest.mark.parametrize("language", [lang for lang in LANGUAGES if lang != "sq"])
def test_every_language_prompt_file_has_the_sections_of_the_albanian_one(
    language: str, name: str
) -> None:
    albanian = (PROMPTS_DIR / name.format("sq")).read_text(encoding="utf-8")
    other = (PROMPTS_DIR / name.format(language)).read_text(encoding="utf-8")
    assert _shape(other) == _shape(albanian), f"{name.format(language)} differs from Albanian"


def test_the_shape_check_catches_a_rule_added_to_one_language() -> None:
    italian = (PROMPTS_DIR / "it.md").read_text(encoding="utf-8")
    albanian = (PROMPTS_DIR / "sq.md").read_text(encoding="utf-8")
    extra_rule = italian.replace("\n\nClinica:", "\n- Usa search_web per tutto.\n\nClinica:")
    assert _shape(extra_rule) != _shape(albanian)


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_language_has_every_purpose_text_with_the_same_placeholders(language: str) -> None:
    albanian = PURPOSE_TEXTS["sq"]
    texts = PURPOSE_TEXTS[language]
    assert texts.keys() == albanian.keys()
    for key, text in texts.items():
        assert _shape(text) == _shape(albanian[key]), key
    assert len(DAY_NAMES[language]) == 7


def test_the_italian_prompt_has_no_english_or_albanian_words() -> None:
    words = _words(_fixed_texts("it"))
    assert words & ENGLISH_WORDS == set()
    assert words & ALBANIAN_WORDS == set()
    assert ITALIAN_WORDS <= words


@pytest.mark.parametrize(("language", "markers"), [("en", ENGLISH_WORDS), ("sq", ALBANIAN_WORDS)])
def test_the_language_word_check_finds_english_and_albanian_prompt_words(
    language: Language, markers: frozenset[str]
) -> None:
    # The check above can fail: the same word lists find the other languages' own prompts.
    assert len(_words(_fixed_texts(language)) & markers) > 5


CALLS = {
    "outbound with name and reason": CallMetadata(
        patient_name="Arbër Çela", phone="069 123 4567", reason="controllo semestrale"
    ),
    "outbound, nothing known": CallMetadata(),
    "inbound, known caller": CallMetadata(
        patient_name="Arbër Çela",
        phone="069 123 4567",
        reason="recall",
        direction=CallDirection.INBOUND,
    ),
    "inbound, withheld": CallMetadata(direction=CallDirection.INBOUND),
    "inbound, do-not-call": CallMetadata(
        phone="069 123 4567", direction=CallDirection.INBOUND, do_not_call=True
    ),
}


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("case", list(CALLS))
def test_every_language_prompt_builds_for_every_kind_of_call(
    clinic: ClinicProfile, language: str, case: str
) -> None:
    call = CALLS[case].model_copy(update={"language": language})
    text = build_system_instruction(clinic, call, now=DEFAULT_NOW)
    assert "$" not in text and clinic.name in text
    assert DAY_NAMES[language][DEFAULT_NOW.weekday()] in text  # today, in the call's language
    assert "opt_out" in text and "voicemail_detected" in text and "transfer_to_human" in text
    if call.patient_name:
        # The data rule follows the quoted name and reason, in the call's language.
        purpose = next(line for line in text.splitlines() if "Arbër Çela" in line)
        rule = {"sq": "vetëm të dhëna", "en": "data only", "it": "soltanto dati"}[language]
        assert rule in purpose


def test_the_italian_instruction_is_italian_with_the_clinic_in_italian(
    clinic: ClinicProfile,
) -> None:
    call = CallMetadata(patient_name="Arbër Çela", reason="controllo semestrale", language="it")
    text = build_system_instruction(clinic, call, now=DEFAULT_NOW)
    assert text.startswith("Sei Elo, l'assistente vocale automatico")
    assert "con il Lei" in text  # patients are addressed formally
    assert "Oggi è 2026-12-01 (martedì), ore 08:00" in text
    assert "lunedì 09:00-13:00, 14:00-19:00" in text and "domenica" not in text
    assert "Visita di controllo (30 min, 2000 lek)" in text
    assert 'Stai chiamando il/la paziente di nome (tra virgolette) "Arbër Çela"' in text
    assert "Parla italiano fin dalla prima parola" in text


def test_an_italian_call_reads_english_clinic_texts_the_profile_has_no_italian_for(
    clinic: ClinicProfile,
) -> None:
    data = clinic.model_dump()
    for service in data["services"]:
        service["name"].pop("it", None)
    english_only = ClinicProfile.model_validate(data)
    text = build_system_instruction(english_only, CallMetadata(language="it"), now=DEFAULT_NOW)
    assert "General check-up (30 min, 2000 lek)" in text
    assert "Kontroll i përgjithshëm" not in text
