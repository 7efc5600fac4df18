"""Settings of text messages to patients: the SMS provider (Twilio's Messaging API first).

Part of the one settings inventory (:class:`config.settings.AppSettings`).
"""

from __future__ import annotations

import re
from typing import Literal

import phonenumbers
from pydantic import Field, SecretStr, field_validator

from config.settings_groups import SettingsGroup
from validation import InputError, normalize_phone

# Twilio's SIDs are two letters and 32 hex digits: AC (account), SK (API key), MG (Messaging
# Service) (https://www.twilio.com/docs/glossary/what-is-a-sid).
_SID = {"AC": re.compile(r"^AC[0-9a-fA-F]{32}$"), "SK": re.compile(r"^SK[0-9a-fA-F]{32}$")}
_SID["MG"] = re.compile(r"^MG[0-9a-fA-F]{32}$")


class SmsSettings(SettingsGroup):
    """Text messages: the provider, its account and sender, and its webhooks' public address."""

    provider: Literal["none", "twilio"] = Field(
        default="none",
        description="SMS provider: none (no text messages are sent) or twilio.",
    )
    account_sid: str = Field(
        default="",
        max_length=34,
        description="Twilio Account SID (AC followed by 32 hex digits).",
    )
    auth_token: SecretStr = Field(
        default=SecretStr(""),
        description=(
            "Twilio Auth Token of the account. Always needed: Twilio signs its webhooks with it;"
            " it also authenticates API requests unless an API key is set."
        ),
    )
    api_key_sid: str = Field(
        default="",
        max_length=34,
        description=(
            "Optional Twilio API key SID (SK...) used instead of the Account SID to authenticate"
            " API requests (with ELO_SMS__API_KEY_SECRET)."
        ),
    )
    api_key_secret: SecretStr = Field(
        default=SecretStr(""), description="Secret of the Twilio API key ELO_SMS__API_KEY_SID."
    )
    from_number: str = Field(
        default="",
        max_length=32,
        description=(
            "The clinic's Twilio number messages are sent from (E.164, e.g. +35542223344);"
            " or set ELO_SMS__MESSAGING_SERVICE_SID instead."
        ),
    )
    messaging_service_sid: str = Field(
        default="",
        max_length=34,
        description=(
            "Twilio Messaging Service SID (MG...) that picks the sender; used instead of"
            " ELO_SMS__FROM_NUMBER when set."
        ),
    )
    api_base_url: str = Field(
        default="https://api.twilio.com",
        max_length=200,
        description="Twilio REST API base URL (tests point it at the local fake).",
    )
    public_base_url: str = Field(
        default="",
        max_length=200,
        description=(
            "The address Twilio calls elo serve at (e.g. https://elo.clinic.al), behind the"
            " reverse proxy: webhook signatures are computed over this URL. Empty: the URL the"
            " request arrived at."
        ),
    )
    status_callbacks: bool = Field(
        default=True,
        description=(
            "Ask Twilio to report each message's delivery (POST /webhooks/twilio/status);"
            " needs ELO_SMS__PUBLIC_BASE_URL."
        ),
    )
    timeout_secs: float = Field(
        default=10.0,
        gt=0,
        le=60,
        description="Timeout of one request to the SMS provider, in seconds.",
    )

    @field_validator("provider", mode="before")
    @classmethod
    def _none_is_a_provider(cls, value: object) -> object:
        # The settings read the text "none" as None (env_parse_none_str): here it names the
        # choice "no provider".
        return "none" if value is None else value

    @field_validator("account_sid", "api_key_sid", "messaging_service_sid")
    @classmethod
    def _sid(cls, value: str, info: object) -> str:
        value = value.strip()
        prefix = {"account_sid": "AC", "api_key_sid": "SK", "messaging_service_sid": "MG"}[
            info.field_name  # type: ignore[attr-defined]
        ]
        if value and not _SID[prefix].match(value):
            raise ValueError(f"must be {prefix} followed by 32 hex digits")
        return value

    @field_validator("from_number")
    @classmethod
    def _e164(cls, value: str) -> str:
        if not value.strip():
            return ""
        try:
            return normalize_phone(
                value, allowed_regions=phonenumbers.SUPPORTED_REGIONS, field="from_number"
            )
        except InputError:
            raise ValueError("must be a phone number in E.164 form, e.g. +35542223344") from None

    @field_validator("api_base_url", "public_base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if value and not re.match(r"^https?://[^/\s]+(/\S*)?$", value):
            raise ValueError("must be an http:// or https:// URL")
        return value

    @property
    def configured(self) -> bool:
        """Whether a provider is chosen (its missing settings are then an error, named)."""
        return self.provider != "none"

    def missing(self) -> list[str]:
        """The variables still to set for the chosen provider (empty when it can send)."""
        if self.provider == "none":
            return []
        names = []
        if not self.account_sid:
            names.append("ELO_SMS__ACCOUNT_SID")
        if not self.auth_token.get_secret_value():
            names.append("ELO_SMS__AUTH_TOKEN")
        if self.api_key_sid and not self.api_key_secret.get_secret_value():
            names.append("ELO_SMS__API_KEY_SECRET")
        if not self.from_number and not self.messaging_service_sid:
            names.append("ELO_SMS__FROM_NUMBER")
        return names
