"""The clinic profile's texts in Elo's three patient languages; Italian may be left out."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from config.clinic import ClinicProfile, Localized, load_clinic_profile
from config.settings import ConfigError
from tests.config.test_clinic import MINIMAL, edited, write


def _every_text(profile: ClinicProfile) -> list[Localized]:
    texts = [s.name for s in profile.services]
    texts += [s.description for s in profile.services if s.description]
    texts += list(profile.payment.methods)
    texts += [p.note for p in profile.payment.instalment_plans if p.note]
    texts += [profile.payment.notes] if profile.payment.notes else []
    texts += [t for f in profile.faq for t in (f.question, f.answer)]
    return texts


def test_italian_falls_back_to_english_when_the_profile_has_none() -> None:
    text = Localized(sq="Kontroll", en="Check-up")
    assert text.it is None
    assert [text.get(tag) for tag in ("it", "it-IT", "IT")] == ["Check-up"] * 3
    assert (text.get("sq-AL"), text.get("en"), text.get("de")) == (
        "Kontroll",
        "Check-up",
        "Kontroll",
    )
    assert text.texts() == ("Kontroll", "Check-up")


def test_italian_text_is_used_when_given() -> None:
    text = Localized(sq="Kontroll", en="Check-up", it="Visita di controllo")
    assert text.get("it-IT") == "Visita di controllo"
    assert text.get("en-US") == "Check-up" and text.get("sq") == "Kontroll"
    assert text.texts() == ("Kontroll", "Check-up", "Visita di controllo")


def test_italian_text_follows_the_rules_of_the_others() -> None:
    with pytest.raises(ValidationError):
        Localized(sq="Kontroll", en="Check-up", it="")
    with pytest.raises(ValidationError, match="invisible"):
        Localized(sq="Kontroll", en="Check-up", it="Visita\u200b di controllo")
    with pytest.raises(ValidationError):
        Localized(sq="Kontroll", en="Check-up", de="Kontrolle")  # no other language


def test_a_profile_without_italian_loads_and_reads_english(tmp_path: Path) -> None:
    profile = load_clinic_profile(write(tmp_path, MINIMAL))
    assert profile.services[0].name.get("it") == "Check-up"
    assert profile.payment.methods[0].get("it") == "Cash"


def test_a_profile_with_italian_loads_it(tmp_path: Path) -> None:
    text = edited(
        'name = { sq = "Kontroll", en = "Check-up" }',
        'name = { sq = "Kontroll", en = "Check-up", it = "Controllo" }',
    )
    profile = load_clinic_profile(write(tmp_path, text))
    assert profile.services[0].name.get("it") == "Controllo"


def test_a_bad_italian_text_names_its_field(tmp_path: Path) -> None:
    text = edited(
        'name = { sq = "Kontroll", en = "Check-up" }',
        'name = { sq = "Kontroll", en = "Check-up", it = "" }',
    )
    with pytest.raises(ConfigError, match=r"services.*name.*it"):
        load_clinic_profile(write(tmp_path, text))


def test_the_sample_profile_speaks_italian_everywhere(clinic: ClinicProfile) -> None:
    texts = _every_text(clinic)
    assert len(texts) > 20
    missing = [t.en for t in texts if t.it is None]
    assert missing == []
    assert clinic.services_by_id["checkup"].name.get("it") == "Visita di controllo"
