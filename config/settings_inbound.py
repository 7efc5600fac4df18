"""Settings of calls patients place to the clinic (LiveKit SIP inbound).

Part of the one settings inventory (:class:`config.settings.AppSettings`).
"""

from __future__ import annotations

import phonenumbers
from pydantic import Field, field_validator

from config.settings_groups import SettingsGroup
from validation import InputError, normalize_phone

# The rooms Elo creates for its own calls (campaign/runner.py names them elo-<call id>): an
# inbound prefix that could match them would turn a campaign's callee into a caller.
OUTBOUND_ROOM_PREFIX = "elo-"


class InboundSettings(SettingsGroup):
    """Calls patients place to the clinic's number: which LiveKit rooms, and forwarding."""

    room_prefix: str = Field(
        default="call-",
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_-]+$",
        description=(
            "Room prefix of the LiveKit SIP dispatch rule that puts each caller in a room of"
            " their own (dispatchRuleIndividual roomPrefix): a SIP caller joining a room named"
            " so starts an inbound call. Must not overlap Elo's own rooms (elo-...)."
        ),
    )
    forward_to: str = Field(
        default="",
        max_length=32,
        description=(
            "Clinic phone (E.164, e.g. +35542223344) that inbound calls are forwarded to at once"
            " during the clinic profile's opening hours; empty: Elo answers every inbound call."
            " Outside opening hours, or when forwarding fails, Elo answers."
        ),
    )
    recent_call_days: int = Field(
        default=30,
        ge=1,
        le=365,
        description=(
            "A campaign call to the caller's number within this many days is the reason Elo"
            " names when the patient calls back (e.g. 'about your check-up')."
        ),
    )

    @field_validator("room_prefix")
    @classmethod
    def _apart_from_outbound(cls, value: str) -> str:
        if value.startswith(OUTBOUND_ROOM_PREFIX) or OUTBOUND_ROOM_PREFIX.startswith(value):
            raise ValueError(
                f"must not overlap Elo's own rooms ({OUTBOUND_ROOM_PREFIX}...), e.g. call-"
            )
        return value

    @field_validator("forward_to")
    @classmethod
    def _e164(cls, value: str) -> str:
        if not value.strip():
            return ""
        try:
            return normalize_phone(
                value, allowed_regions=phonenumbers.SUPPORTED_REGIONS, field="forward_to"
            )
        except InputError:
            raise ValueError("must be a phone number in E.164 form, e.g. +35542223344") from None
