"""Message texts from the template files, per language, at send time.

One file per language and kind in ``messaging/templates/{language}/{kind}.txt``: the first line
is the email's subject, the rest (after a blank line) the body, also the SMS. Templates are
:class:`string.Template` (``$clinic``, ``$day``, ``$time``, ``$address``, ``$phone``): plain
substitution, nothing in a template can run code. They name the clinic, the day and time in the
clinic's zone written the language's way, the address and the number to call to reschedule;
never the service or anything about the patient's health.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from string import Template
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_skeleton, format_time

from config.clinic import ClinicProfile
from storage.outbox_plan import Kind
from validation.languages import language_of

TEMPLATES = Path(__file__).resolve().parent / "templates"


@dataclass(frozen=True)
class Rendered:
    """A rendered message.

    Attributes:
        subject: The email's subject.
        body: The text (the SMS, the email's body).
        summary: The calendar event's title.
    """

    subject: str
    body: str
    summary: str


@functools.cache
def _template(language: str, name: str) -> Template:
    return Template((TEMPLATES / language / f"{name}.txt").read_text(encoding="utf-8"))


def when_words(starts_at: datetime, *, language: str, tz: ZoneInfo) -> tuple[str, str]:
    """The day and the time of ``starts_at`` in ``tz``, written the language's way."""
    local = starts_at.astimezone(tz)
    day = format_date(local.date(), format="full", locale=language)
    if language == "en":
        time_text = format_time(local, format="short", locale=language, tzinfo=tz)
    else:
        # Albanian and Italian clinics write a 24-hour clock (Babel's sq short form has "p.d.").
        time_text = format_skeleton("Hm", local, locale=language, tzinfo=tz)
    return day, time_text


def render(
    kind: Kind, *, language: str | None, starts_at: datetime, clinic: ClinicProfile
) -> Rendered:
    """The texts of one message about an appointment starting at ``starts_at``.

    Args:
        kind: confirmation, reminder, moved or cancelled.
        language: The patient's language (sq, en, it; others get Albanian).
        starts_at: The appointment's start (aware).
        clinic: The clinic's name, address, phone and time zone.
    """
    lang = language_of(language)
    day, time_text = when_words(starts_at, language=lang, tz=clinic.tz)
    values = {
        "clinic": clinic.name,
        "day": day,
        "time": time_text,
        "address": clinic.address,
        "phone": clinic.phone,
    }
    subject, _, body = _template(lang, kind).substitute(values).partition("\n")
    summary = _template(lang, "summary").substitute(values).strip()
    return Rendered(subject=subject.strip(), body=body.strip(), summary=summary)
