"""Message texts: every language and kind from its template file, the clinic's facts, no health."""

from __future__ import annotations

from datetime import datetime

import pytest

from config.clinic import ClinicProfile
from messaging.render import render, when_words
from tests.conftest import TIRANE
from validation.languages import LANGUAGES, language_of

KINDS = ("confirmation", "reminder", "moved", "cancelled")
# 9 December 2026, 15:30 in Tirana, given in UTC: the text must show the clinic's local time.
START = datetime.fromisoformat("2026-12-09T14:30:00+00:00")


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", KINDS)
def test_every_template_names_the_clinic_day_time_and_number_and_no_service(
    clinic: ClinicProfile, language: str, kind: str
) -> None:
    text = render(kind, language=language, starts_at=START, clinic=clinic)  # type: ignore[arg-type]
    assert text.subject and text.body and text.summary
    assert "$" not in text.subject + text.body + text.summary
    assert clinic.name in text.body and clinic.phone in text.body
    assert "15:30" in text.body or "3:30" in text.body
    if kind != "cancelled":
        assert clinic.address in text.body
    for service in clinic.services:
        for name in (service.name.sq, service.name.en):
            assert name.lower() not in (text.subject + text.body + text.summary).lower()


def test_day_and_time_are_written_the_languages_way() -> None:
    assert when_words(START, language="sq", tz=TIRANE) == ("e mërkurë, 9 dhjetor 2026", "15:30")
    assert when_words(START, language="en", tz=TIRANE) == (
        "Wednesday, December 9, 2026",
        "3:30\u202fPM",
    )
    assert when_words(START, language="it", tz=TIRANE) == ("mercoledì 9 dicembre 2026", "15:30")


def test_other_languages_get_albanian() -> None:
    assert language_of("de") == "sq"
    assert language_of("it-IT") == "it"
    assert language_of(None) == "sq"
