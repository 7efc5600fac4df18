"""The clinic profile: facts, hours, services and FAQ loaded from a TOML file and validated.

A clinic edits ``config/clinic.toml`` (or points ``ELO_CLINIC__PROFILE_PATH`` at its own file) to
change what Elo says and books; no code changes are needed.
"""

from __future__ import annotations

import tomllib
from datetime import date, time, timedelta
from functools import cached_property
from itertools import pairwise
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
import phonenumbers
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from config.settings import ConfigError
from validation.languages import language_of
from validation.text import find_invisible, strip_invisible

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _visible(value: str) -> str:
    """Refuse invisible characters in profile text; put the text in NFC with plain spaces.

    The profile becomes the model's instructions and what Elo tells patients, and the clinic
    edits it by hand: an invisible character there is a copy-paste accident or hidden text, so
    the file is refused (naming the field and the code point) rather than silently changed.
    """
    value = value.replace("\r\n", "\n")  # a TOML file saved with Windows line ends
    found = find_invisible(value)
    if found:
        raise ValueError(f"contains an invisible or control character ({found}); remove it")
    return strip_invisible(value)


ShortText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(_visible),
]
LongText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=2000),
    AfterValidator(_visible),
]
ServiceId = Annotated[
    str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{1,39}$", min_length=2, max_length=40)
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Localized(_Model):
    """A text in Albanian and English, and optionally Italian.

    A clinic may leave ``it`` out: an Italian call then reads the English text (Italian
    patients read English better than Albanian). README, "The clinic profile".
    """

    sq: LongText
    en: LongText
    it: LongText | None = None

    def get(self, language: str) -> str:
        """Return the text for a BCP 47 language tag (Albanian for an unknown one).

        Args:
            language: A tag such as ``sq-AL``, ``en``, ``it-IT``.

        Returns:
            The text in that language; English for Italian when the profile has no Italian.
        """
        lang = language_of(language)
        if lang == "it":
            return self.it or self.en
        return self.en if lang == "en" else self.sq

    def texts(self) -> tuple[str, ...]:
        """Every language's text the profile gives (for keyword matching across languages)."""
        return tuple(text for text in (self.sq, self.en, self.it) if text)


class Interval(_Model):
    """One opening interval within a day, in clinic local time."""

    start: time
    end: time

    @model_validator(mode="after")
    def _ordered(self) -> Interval:
        if self.end <= self.start:
            raise ValueError(f"opening interval ends ({self.end}) before it starts ({self.start})")
        return self


class Service(_Model):
    """One entry of the service catalogue: the whitelist of what can be booked."""

    id: ServiceId
    name: Localized
    duration_minutes: int = Field(ge=5, le=480)
    price_lek: int = Field(ge=0, le=10_000_000)
    keywords: tuple[ShortText, ...] = ()
    urgent: bool = False
    description: Localized | None = None


class InstalmentPlan(_Model):
    """A way of paying a larger treatment over several months."""

    months: int = Field(ge=2, le=60)
    min_total_lek: int = Field(ge=0)
    interest_percent: int = Field(ge=0, le=100)
    note: Localized | None = None


class Payment(_Model):
    """Accepted payment methods and instalment plans."""

    methods: tuple[Localized, ...] = Field(min_length=1)
    instalment_plans: tuple[InstalmentPlan, ...] = ()
    notes: Localized | None = None


class FaqEntry(_Model):
    """A question the clinic answers, with the words that point to it."""

    question: Localized
    answer: Localized
    keywords: tuple[ShortText, ...] = ()


class ClinicProfile(_Model):
    """Everything Elo knows about the clinic it calls for."""

    name: ShortText
    address: ShortText
    phone: ShortText
    email: ShortText | None = None
    website: ShortText | None = None
    time_zone: ShortText = "Europe/Tirane"
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] = "AL"
    chairs: int = Field(ge=1, le=50)
    slot_minutes: int = Field(default=30, ge=5, le=120)
    lek_per_euro: int = Field(ge=1, le=10_000, description="Exchange rate for euro equivalents.")
    opening_hours: dict[Weekday, tuple[Interval, ...]]
    closed_dates: tuple[date, ...] = ()
    observe_public_holidays: bool = True
    services: tuple[Service, ...] = Field(min_length=1)
    payment: Payment
    faq: tuple[FaqEntry, ...] = ()

    @field_validator("time_zone")
    @classmethod
    def _check_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            # OSError: a key naming a folder of the zone database, e.g. "America".
            raise ValueError(f"unknown time zone {value!r}; use an IANA name") from None
        return value

    @field_validator("phone")
    @classmethod
    def _check_phone(cls, value: str) -> str:
        try:
            number = phonenumbers.parse(value, "AL")
        except phonenumbers.NumberParseException:
            raise ValueError("clinic phone is not a phone number") from None
        if not phonenumbers.is_valid_number(number):
            raise ValueError("clinic phone is not a valid number")
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)

    @field_validator("opening_hours")
    @classmethod
    def _check_hours(
        cls, value: dict[Weekday, tuple[Interval, ...]]
    ) -> dict[Weekday, tuple[Interval, ...]]:
        full = {day: tuple(sorted(value.get(day, ()), key=lambda i: i.start)) for day in WEEKDAYS}
        for day, intervals in full.items():
            for first, second in pairwise(intervals):
                if second.start < first.end:
                    raise ValueError(f"opening intervals overlap on {day}")
        if not any(full.values()):
            raise ValueError("the clinic is never open")
        return full

    @model_validator(mode="after")
    def _check_country(self) -> ClinicProfile:
        # Otherwise the first tool call fails when the calendar looks the holidays up.
        if self.observe_public_holidays and self.country not in holidays.list_supported_countries():
            raise ValueError(
                f"country {self.country} has no public-holiday calendar;"
                " set observe_public_holidays = false"
            )
        return self

    @model_validator(mode="after")
    def _check_catalogue(self) -> ClinicProfile:
        ids = [service.id for service in self.services]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"duplicate service ids: {', '.join(duplicates)}")
        for service in self.services:
            if service.duration_minutes % self.slot_minutes:
                raise ValueError(
                    f"service {service.id}: duration {service.duration_minutes} min is not a"
                    f" multiple of slot_minutes ({self.slot_minutes})"
                )
        for day, intervals in self.opening_hours.items():
            for interval in intervals:
                for moment in (interval.start, interval.end):
                    if (moment.hour * 60 + moment.minute) % self.slot_minutes or moment.second:
                        raise ValueError(
                            f"opening hours on {day} ({moment}) are not on the"
                            f" {self.slot_minutes}-minute slot grid"
                        )
        return self

    @cached_property
    def tz(self) -> ZoneInfo:
        """The clinic's time zone."""
        return ZoneInfo(self.time_zone)

    @cached_property
    def services_by_id(self) -> dict[str, Service]:
        """The catalogue keyed by service id."""
        return {service.id: service for service in self.services}

    @property
    def service_ids(self) -> list[str]:
        """Service ids in catalogue order."""
        return [service.id for service in self.services]

    @property
    def slot(self) -> timedelta:
        """The booking grid step."""
        return timedelta(minutes=self.slot_minutes)

    def euro_cents(self, lek: int) -> int:
        """Convert an amount in lek to euro cents at the profile's rate (rounded half up)."""
        return (lek * 100 + self.lek_per_euro // 2) // self.lek_per_euro

    def intervals_on(self, day: date) -> tuple[Interval, ...]:
        """Opening intervals of a weekday, before closures are applied."""
        return self.opening_hours[WEEKDAYS[day.weekday()]]


def load_clinic_profile(path: Path) -> ClinicProfile:
    """Read and validate a clinic profile file.

    Args:
        path: The TOML file.

    Returns:
        The validated profile.

    Raises:
        ConfigError: The file is missing, not TOML, or fails validation; one line says where.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"clinic profile {path} not found;"
            " set ELO_CLINIC__PROFILE_PATH to the clinic's TOML file"
        ) from None
    except OSError as exc:
        raise ConfigError(f"clinic profile {path} cannot be read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"clinic profile {path} is not valid TOML: {exc}") from None
    return parse_clinic_profile(text, source=f"clinic profile {path}")


def parse_clinic_profile(text: str, *, source: str = "clinic profile") -> ClinicProfile:
    """Validate a clinic profile's TOML text (what :func:`load_clinic_profile` read).

    Args:
        text: The TOML text.
        source: How the one-line error names it, e.g. ``clinic profile /etc/elo/clinic.toml``.

    Raises:
        ConfigError: Not TOML, or it fails validation; one line says where.
    """
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source} is not valid TOML: {exc}") from None
    try:
        return ClinicProfile.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for item in exc.errors(include_url=False, include_input=False):
            where = ".".join(str(part) for part in item["loc"]) or "(top level)"
            problems.append(f"{where}: {item['msg'].removeprefix('Value error, ')}")
        raise ConfigError(f"{source} is invalid: " + "; ".join(problems)) from None
