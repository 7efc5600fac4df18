"""Application settings: the single inventory of every environment variable Elo reads.

Variables use the prefix ``ELO_`` and ``__`` between a group and its field, e.g.
``ELO_DATABASE__PATH``. An optional ``.env`` file in the working directory is read too.
The groups are defined in ``config/settings_groups.py`` (core), ``config/settings_call.py``
(a call), ``config/settings_campaign.py`` (campaigns) and ``config/settings_inbound.py`` (calls
patients place), ``config/settings_sms.py`` (text messages); :class:`AppSettings` gathers them.
``.env.example`` mirrors them; ``tests/config/test_env_example.py`` keeps them in step.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import (
    Field,
    ValidationError,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from config.settings_call import GoogleSettings, LimitsSettings, LiveKitSettings, PipelineSettings
from config.settings_campaign import CallingSettings, CampaignSettings
from config.settings_confirmations import ConfirmationSettings
from config.settings_dashboard import DashboardSettings
from config.settings_groups import (
    ClinicSettings,
    DatabaseSettings,
    LoggingSettings,
    PrivacySettings,
    SearchSettings,
    SecuritySettings,
    ServerSettings,
    ValidationSettings,
)
from config.settings_inbound import InboundSettings
from config.settings_messages import EmailSettings, MessagesSettings
from config.settings_sms import SmsSettings

ENV_PREFIX = "ELO_"
ENV_NESTED_DELIMITER = "__"


class ConfigError(Exception):
    """Raised when configuration cannot be used; the message is one line meant for a person."""


class AppSettings(BaseSettings):
    """Every setting Elo reads, grouped. Build with :func:`load_settings`."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=ENV_NESTED_DELIMITER,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        validate_default=True,
        # An empty line copied from .env.example means "use the default".
        env_ignore_empty=True,
        env_parse_none_str="none",
    )

    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    security: SecuritySettings = Field(default_factory=SecuritySettings)
    clinic: ClinicSettings = Field(default_factory=ClinicSettings)
    validation: ValidationSettings = Field(default_factory=ValidationSettings)
    search: SearchSettings = Field(default_factory=SearchSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    livekit: LiveKitSettings = Field(default_factory=LiveKitSettings)
    google: GoogleSettings = Field(default_factory=GoogleSettings)
    pipeline: PipelineSettings = Field(default_factory=PipelineSettings)
    limits: LimitsSettings = Field(default_factory=LimitsSettings)
    calling: CallingSettings = Field(default_factory=CallingSettings)
    campaign: CampaignSettings = Field(default_factory=CampaignSettings)
    privacy: PrivacySettings = Field(default_factory=PrivacySettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    inbound: InboundSettings = Field(default_factory=InboundSettings)
    dashboard: DashboardSettings = Field(default_factory=DashboardSettings)
    sms: SmsSettings = Field(default_factory=SmsSettings)
    messages: MessagesSettings = Field(default_factory=MessagesSettings)
    email: EmailSettings = Field(default_factory=EmailSettings)
    confirmations: ConfirmationSettings = Field(default_factory=ConfirmationSettings)


def env_name(loc: tuple[int | str, ...]) -> str:
    """Turn a validation error location into the environment variable a person sets.

    Args:
        loc: The pydantic error location, e.g. ``("database", "busy_timeout_ms")``.

    Returns:
        The variable name, e.g. ``ELO_DATABASE__BUSY_TIMEOUT_MS``.
    """
    parts = [str(part) for part in loc if not isinstance(part, int)]
    return ENV_PREFIX + ENV_NESTED_DELIMITER.join(parts).upper()


def describe_validation_error(error: ValidationError) -> str:
    """Summarise a settings validation error on one line without echoing secret values.

    Args:
        error: The error raised while building :class:`AppSettings`.

    Returns:
        A line such as ``ELO_DATABASE__BUSY_TIMEOUT_MS: Input should be greater than or equal to
        100``.
    """
    problems = []
    for item in error.errors(include_url=False, include_input=False):
        message = item["msg"].removeprefix("Value error, ")
        problems.append(f"{env_name(item['loc'])}: {message}")
    return "invalid configuration: " + "; ".join(problems)


def load_settings(*, env_file: Path | str | None = ".env", **overrides: Any) -> AppSettings:
    """Build settings from the environment (and ``env_file``), turning errors into one line.

    Args:
        env_file: The dotenv file to read, or None to read only the environment.
        **overrides: Explicit group values that win over the environment (used by tests and
            command-line flags).

    Returns:
        The validated settings.

    Raises:
        ConfigError: A value is unusable; the message names the variable and what is allowed.
    """
    try:
        return AppSettings(_env_file=env_file, **overrides)  # type: ignore[call-arg]
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc)) from None
    except (ValueError, UnicodeDecodeError) as exc:
        # pydantic-settings raises a bare ValueError for unparsable JSON in complex variables.
        field = re.search(r'for field "(\w+)"', str(exc))
        if field:
            name = env_name((field[1],))
            raise ConfigError(
                f"invalid configuration: {name}: is not a valid JSON object;"
                f" set {name}{ENV_NESTED_DELIMITER}<FIELD> variables instead"
            ) from None
        raise ConfigError(f"invalid configuration: {str(exc).splitlines()[0]}") from None
