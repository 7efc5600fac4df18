from datetime import datetime

import pytest
from pydantic import ValidationError

from config.clinic import ClinicProfile
from pipeline.metadata import CallMetadata
from pipeline.prompts import LANGUAGES, PROMPTS_DIR, build_system_instruction, prompt_language
from tests.conftest import DEFAULT_NOW


def test_every_language_has_a_prompt_file():
    assert sorted(p.stem for p in PROMPTS_DIR.glob("*.md")) == sorted(LANGUAGES)


@pytest.mark.parametrize(
    ("tag", "expected"), [("sq-AL", "sq"), ("sq", "sq"), ("en-US", "en"), ("de", "sq")]
)
def test_prompt_language(tag, expected):
    assert prompt_language(tag) == expected


def test_albanian_instruction_names_clinic_patient_reason_and_clinic_date(clinic: ClinicProfile):
    call = CallMetadata(patient_name="Arbër Çela", reason="kontrolli gjashtëmujor", language="sq")
    text = build_system_instruction(clinic, call, now=DEFAULT_NOW)
    assert "asistenti automatik" in text and clinic.name in text
    assert "Arbër Çela" in text and "kontrolli gjashtëmujor" in text
    assert "2026-12-01 (e martë)" in text and "ora 08:00" in text
    assert "check_available_slots" in text and "schedule_appointment" in text
    assert "e diel" not in text  # closed on Sundays, so Sunday is not listed in the hours
    assert "$" not in text


def test_english_instruction_uses_clinic_time_not_utc(clinic: ClinicProfile):
    # 23:30 UTC on 30 November is already 1 December in Tirana.
    utc_now = datetime.fromisoformat("2026-11-30T23:30:00+00:00")
    text = build_system_instruction(clinic, CallMetadata(language="en"), now=utc_now)
    assert "Today is 2026-12-01 (Tuesday), 00:30" in text
    assert "a patient of the clinic" in text and "dental check-up" in text


def test_prompt_text_with_braces_or_dollars_in_profile_is_safe(clinic: ClinicProfile):
    odd = ClinicProfile.model_validate({**clinic.model_dump(), "name": "Klinika {A} $B"})
    text = build_system_instruction(odd, CallMetadata(), now=DEFAULT_NOW)
    assert "Klinika {A} $B" in text


def test_metadata_validates_patient_identity():
    call = CallMetadata(patient_name="  Arbër   Çela ", phone="069 123 4567", reason=" recall ")
    assert (call.patient_name, call.phone, call.reason) == ("Arbër Çela", "+355691234567", "recall")
    assert len(call.call_id) == 32
    with pytest.raises(ValidationError, match="phone: is not a phone number"):
        CallMetadata(phone="not a number")
    with pytest.raises(ValueError, match="language"):
        CallMetadata(language="fr")
    with pytest.raises(ValueError, match="call_id"):
        CallMetadata(call_id="../etc/passwd")
