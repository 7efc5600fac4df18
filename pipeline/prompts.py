"""System instructions for a call, from prompt files, the clinic profile and the call's metadata.

The prompts live in ``pipeline/prompts/<language>.md`` (Albanian and English) so a clinic can
reword them without touching code. Placeholders use ``$name`` (string.Template), so braces in the
text are safe.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from string import Template

from config.clinic import WEEKDAYS, ClinicProfile
from pipeline.metadata import CallMetadata

PROMPTS_DIR = Path(__file__).resolve().parent / "prompts"
LANGUAGES = ("sq", "en")

_PURPOSE = {
    "sq": {
        "with_reason": "Po telefonon $patient për këtë arsye: $reason.",
        "without_reason": "Po telefonon $patient për të ofruar një kontroll dentar.",
        "patient_known": "pacientin/en $name",
        "patient_unknown": "një pacient të klinikës",
    },
    "en": {
        "with_reason": "You are calling $patient for this reason: $reason.",
        "without_reason": "You are calling $patient to offer a dental check-up.",
        "patient_known": "the patient $name",
        "patient_unknown": "a patient of the clinic",
    },
}


_DAY_NAMES = {
    "sq": ("e hënë", "e martë", "e mërkurë", "e enjte", "e premte", "e shtunë", "e diel"),
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
}


def prompt_language(language: str) -> str:
    """Map a BCP 47 tag (``sq-AL``, ``en``) to a prompt language, defaulting to Albanian."""
    primary = language.split("-")[0].lower()
    return primary if primary in LANGUAGES else "sq"


def build_system_instruction(clinic: ClinicProfile, call: CallMetadata, *, now: datetime) -> str:
    """The system instruction for one call.

    Args:
        clinic: The clinic profile.
        call: Who is called and why, and in which language.
        now: The current time (any zone; shown in the clinic's).

    Returns:
        The instruction text in the call's language.
    """
    language = prompt_language(call.language)
    template = Template((PROMPTS_DIR / f"{language}.md").read_text(encoding="utf-8"))
    local = now.astimezone(clinic.tz)
    texts = _PURPOSE[language]
    patient = (
        Template(texts["patient_known"]).substitute(name=call.patient_name)
        if call.patient_name
        else texts["patient_unknown"]
    )
    purpose = (
        Template(texts["with_reason"]).substitute(patient=patient, reason=call.reason)
        if call.reason
        else Template(texts["without_reason"]).substitute(patient=patient)
    )
    names = _DAY_NAMES[language]
    hours = "; ".join(
        names[n] + " " + ", ".join(f"{i.start:%H:%M}-{i.end:%H:%M}" for i in intervals)
        for n, day in enumerate(WEEKDAYS)
        if (intervals := clinic.opening_hours[day])
    )
    services = "; ".join(
        f"{s.name.get(language)} ({s.duration_minutes} min, {s.price_lek} lek)"
        for s in clinic.services
    )
    return template.substitute(
        clinic_name=clinic.name,
        clinic_city=_city(clinic.address),
        clinic_address=clinic.address,
        clinic_phone=clinic.phone,
        time_zone=clinic.time_zone,
        today=local.date().isoformat(),
        weekday=names[local.weekday()],
        time=local.strftime("%H:%M"),
        call_purpose=purpose,
        opening_hours=hours,
        services=services,
    )


def _city(address: str) -> str:
    # The sample address ends "..., 1001 Tiranë, Shqipëri": the city is the second-to-last part.
    parts = [p.strip() for p in address.split(",")]
    city = parts[-2] if len(parts) >= 2 else parts[0]
    return " ".join(word for word in city.split() if not word.isdigit())
