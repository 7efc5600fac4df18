"""The settings groups of patient messages (issue 13): the outbox, reminders and email (SMTP).

Part of the one settings inventory (:class:`config.settings.AppSettings`). The SMS provider's
group (``ELO_SMS__*``) is its own module.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import NoDecode

from config.settings_groups import SettingsGroup, comma_list

_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


def parse_offset(text: str) -> timedelta:
    """``2d``, ``2h`` or ``30m`` as a duration.

    Raises:
        ValueError: Not a whole positive number followed by d, h or m.
    """
    text = text.strip().lower()
    if len(text) < 2 or text[-1] not in _UNITS or not text[:-1].isdigit() or int(text[:-1]) < 1:
        raise ValueError(f"{text!r} is not an offset like 2d, 2h or 30m")
    return timedelta(**{_UNITS[text[-1]]: int(text[:-1])})


class MessagesSettings(SettingsGroup):
    """What the outbox sends and how the sender retries."""

    reminder_offsets: Annotated[list[str], NoDecode] = Field(
        default=["2d", "2h"],
        max_length=5,
        description=(
            "Reminders before each appointment, comma-separated offsets such as 2d,2h or 30m"
            " (an offset already past at booking time is skipped)."
        ),
    )
    plan_ahead_hours: int = Field(
        default=72,
        ge=1,
        le=24 * 365,
        description=(
            "The sender plans reminders of appointments made without them (before messages"
            " existed, imports) this far ahead of when they are due."
        ),
    )
    max_attempts: int = Field(
        default=6, ge=1, le=50, description="Sending tries of one message before it is dead."
    )
    in_call_tries: int = Field(
        default=2,
        ge=1,
        le=5,
        description="Quick tries of one send in a row (a second apart) before the row waits.",
    )
    retry_base_secs: int = Field(
        default=60,
        ge=1,
        le=86400,
        description="First wait after a failed send; it doubles with each try (capped at 6 h).",
    )
    lease_secs: int = Field(
        default=300,
        ge=1,
        le=86400,
        description=(
            "A message left 'sending' this long is presumed abandoned by a crashed sender and"
            " is checked (SMS) or sent again with the same Message-ID (email)."
        ),
    )
    batch_size: int = Field(default=50, ge=1, le=1000, description="Messages claimed at once.")
    poll_secs: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="How often elo serve's sender looks for due messages.",
    )

    @field_validator("reminder_offsets", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        return comma_list(value) if isinstance(value, str) else value

    @field_validator("reminder_offsets")
    @classmethod
    def _check(cls, value: list[str]) -> list[str]:
        for item in value:
            parse_offset(item)
        return value

    def offsets(self) -> tuple[timedelta, ...]:
        """The reminder offsets, largest first, without duplicates."""
        return tuple(sorted({parse_offset(item) for item in self.reminder_offsets}, reverse=True))


class EmailSettings(SettingsGroup):
    """The clinic's SMTP server for confirmation and reminder emails (off while host is empty)."""

    host: str = Field(default="", description="SMTP server host; empty: no emails are sent.")
    port: int = Field(default=587, ge=1, le=65535, description="SMTP server port.")
    tls: Literal["starttls", "implicit", "plain"] = Field(
        default="starttls",
        description="starttls (port 587), implicit TLS (port 465), or plain (a local relay only).",
    )
    user: str = Field(default="", description="SMTP user name; empty: no login.")
    password: SecretStr = Field(default=SecretStr(""), description="SMTP password.")
    from_address: str = Field(
        default="",
        description="The From address, e.g. Klinika <info@clinic.al>; its domain names UIDs.",
    )
    ca_file: Path | None = Field(
        default=None,
        description="CA bundle (PEM) to trust for the server's certificate; empty: the system's.",
    )
    timeout_secs: float = Field(default=30.0, gt=0, le=600, description="SMTP timeout.")

    @property
    def configured(self) -> bool:
        """Whether emails can be sent (a host and a From address)."""
        return bool(self.host and self.from_address)
