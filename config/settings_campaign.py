"""The settings groups of campaigns: the campaign runner and the lawful calling rules.

Part of the one settings inventory (:class:`config.settings.AppSettings`).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    field_validator,
)
from pydantic_settings import NoDecode

from config.settings_groups import SettingsGroup, comma_list

VoicemailAction = Literal["leave_message", "hang_up"]


class CampaignSettings(SettingsGroup):
    """How the campaign runner dials (per-campaign values, where set, win)."""

    max_concurrent_calls: int = Field(
        default=4,
        ge=1,
        le=200,
        description="Calls in progress at once across all campaigns (each has its own cap too).",
    )
    poll_secs: float = Field(
        default=15.0,
        gt=0,
        le=3600,
        description="How often an idle runner looks for contacts that have become due.",
    )
    lease_secs: int = Field(
        default=60,
        ge=5,
        le=3600,
        description=(
            "A runner that has not checked in for this long is presumed dead and its campaign"
            " may be taken over."
        ),
    )
    retry_no_answer_minutes: int = Field(
        default=240, ge=1, le=43200, description="Wait before calling again after no answer."
    )
    retry_busy_minutes: int = Field(
        default=60, ge=1, le=43200, description="Wait before calling again after a busy line."
    )
    retry_voicemail_minutes: int = Field(
        default=1440,
        ge=1,
        le=43200,
        description="Wait before calling again after reaching voicemail.",
    )
    retry_failed_minutes: int = Field(
        default=120,
        ge=1,
        le=43200,
        description="Wait before calling again after a technical failure.",
    )
    fault_breaker_dials: int = Field(
        default=5,
        ge=1,
        le=1000,
        description=(
            "Fault breaker: pause the campaign when at least this many dials within the window"
            " ended, mostly for a reason of the trunk, the credentials or LiveKit."
        ),
    )
    fault_breaker_ratio: float = Field(
        default=0.5,
        gt=0.0,
        le=1.0,
        description="Fault breaker: the share of those dials that must be system faults.",
    )
    fault_breaker_window_secs: int = Field(
        default=180,
        ge=10,
        le=86400,
        description="Fault breaker: how far back (seconds) the dials are counted.",
    )


WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_INTERVAL = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")


def parse_intervals(text: str) -> tuple[tuple[int, int], ...]:
    """Parse daily time intervals such as ``"10:00-13:00,14:00-20:00"``.

    Each interval includes its start and excludes its end; ``24:00`` may end the last one.

    Args:
        text: Comma-separated ``HH:MM-HH:MM`` intervals in increasing order.

    Returns:
        ``(start, end)`` pairs in minutes after midnight, sorted and non-overlapping.

    Raises:
        ValueError: The text is malformed, an interval is empty or intervals overlap.
    """
    intervals: list[tuple[int, int]] = []
    for part in (piece.strip() for piece in text.split(",")):
        match = _INTERVAL.match(part)
        if not match:
            raise ValueError(f"{part!r} is not an interval like 10:00-13:00")
        start_h, start_m, end_h, end_m = (int(group) for group in match.groups())
        if start_h > 23 or end_h > 24 or start_m > 59 or end_m > 59 or (end_h == 24 and end_m):
            raise ValueError(f"{part!r} has an invalid time")
        start, end = start_h * 60 + start_m, end_h * 60 + end_m
        if start >= end:
            raise ValueError(f"{part!r} ends before it starts")
        if intervals and start < intervals[-1][1]:
            raise ValueError(f"{part!r} overlaps or precedes the interval before it")
        intervals.append((start, end))
    return tuple(intervals)


class CallingSettings(SettingsGroup):
    """When outbound calls may happen (defaults: the strict French rule of 2022)."""

    window_days: Annotated[list[str], NoDecode] = Field(
        default=["mon", "tue", "wed", "thu", "fri"],
        min_length=1,
        description="Weekdays calls may happen on, in the contact's time zone (e.g. mon,tue,wed).",
    )
    window_intervals: str = Field(
        default="10:00-13:00,14:00-20:00",
        description=(
            "Times of day calls may happen, in the contact's time zone (HH:MM-HH:MM, comma"
            " separated; start included, end excluded)."
        ),
    )
    skip_public_holidays: bool = Field(
        default=True, description="Never call on a public holiday of the contact's country."
    )
    max_attempts: int = Field(
        default=4,
        ge=1,
        le=100,
        description="Most call attempts per patient within attempts_window_days.",
    )
    attempts_window_days: int = Field(
        default=30,
        ge=1,
        le=365,
        description="Length of the rolling window for max_attempts, in days.",
    )
    refusal_pause_days: int = Field(
        default=60,
        ge=0,
        le=3650,
        description="Days without any call after a patient declines a call.",
    )

    transfer_to: str = Field(
        default="",
        max_length=200,
        description=(
            "Where transfer_to_human sends a call (tel:+355... or sip:...); empty uses the"
            " clinic's phone from the clinic profile."
        ),
    )
    voicemail_action: VoicemailAction = Field(
        default="leave_message",
        description="What Elo does on reaching an answering machine: leave_message or hang_up.",
    )
    voicemail_message_sq: str = Field(
        default=(
            "Përshëndetje, ju telefonon asistenti automatik i {clinic}{why}. Ju lutemi na"
            " telefononi në {phone} kur t'ju përshtatet. Faleminderit!"
        ),
        max_length=500,
        description=(
            "Albanian voicemail message; {clinic}, {why} (why a campaign called, e.g. ', për"
            " takimin tuaj të ardhshëm'; never a health detail) and {phone} are filled in."
        ),
    )
    voicemail_message_en: str = Field(
        default=(
            "Hello, this is the automated assistant of {clinic}{why}. Please call us back at"
            " {phone} when it suits you. Thank you!"
        ),
        max_length=500,
        description=(
            "English voicemail message; {clinic}, {why} (why a campaign called, e.g. ', about"
            " your upcoming appointment'; never a health detail) and {phone} are filled in."
        ),
    )
    voicemail_message_it: str = Field(
        default=(
            "Buongiorno, la chiama l'assistente automatico di {clinic}{why}. La preghiamo di"
            " richiamarci al numero {phone} quando le è più comodo. Grazie!"
        ),
        max_length=500,
        description=(
            "Italian voicemail message; {clinic}, {why} (why a campaign called, e.g. ', per il"
            " Suo prossimo appuntamento'; never a health detail) and {phone} are filled in."
        ),
    )
    voicemail_min_greeting_secs: float = Field(
        default=6.0,
        ge=0,
        le=60,
        description=(
            "A first utterance from the callee at least this long hints at an answering machine"
            " (0 turns the hint off)."
        ),
    )

    @field_validator("window_days", mode="before")
    @classmethod
    def _split_days(cls, value: Any) -> Any:
        return comma_list(value) if isinstance(value, str) else value

    @field_validator("window_days")
    @classmethod
    def _check_days(cls, value: list[str]) -> list[str]:
        days = {day.strip().lower()[:3] for day in value}
        bad = sorted(days - set(WEEKDAY_NAMES))
        if bad:
            raise ValueError(f"unknown day(s) {', '.join(bad)}; use mon, tue, ..., sun")
        # Canonical order, so the same set of days always compares equal.
        return [day for day in WEEKDAY_NAMES if day in days]

    @field_validator("window_intervals")
    @classmethod
    def _check_intervals(cls, value: str) -> str:
        intervals = parse_intervals(value)
        return ",".join(f"{_hhmm(start)}-{_hhmm(end)}" for start, end in intervals)


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"
