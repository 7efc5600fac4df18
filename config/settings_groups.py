"""Settings groups of the core: database, security, clinic, validation, search, logs, privacy.

Part of the one settings inventory (:class:`config.settings.AppSettings`).
"""

from __future__ import annotations

import ipaddress
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
)
from pydantic_settings import NoDecode

from config.database_url import DatabaseUrl

_PROJECT_ROOT = Path(__file__).resolve().parent.parent


class SettingsGroup(BaseModel):
    """Base of every settings group: unknown fields are refused, defaults are validated."""

    model_config = ConfigDict(extra="forbid", validate_default=True)


def comma_list(text: str) -> list[str]:
    """The stripped, non-empty parts of a comma-separated setting (as an environment gives it)."""
    return [part.strip() for part in text.split(",") if part.strip()]


def is_ipv6(text: str) -> bool:
    """Whether ``text`` is an IPv6 address."""
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


class DatabaseSettings(SettingsGroup):
    """Where the database lives (SQLite file or PostgreSQL server) and how connections behave."""

    path: Path = Field(
        default=Path("data/elo.db"),
        description="SQLite database file; its folder is created on first use.",
    )
    url: str = Field(
        default="",
        description=(
            "Database URL: sqlite:///path/elo.db or postgresql://user:password@host:5432/elo"
            " (several nodes share one PostgreSQL database); empty: the SQLite file at"
            " ELO_DATABASE__PATH."
        ),
    )
    pool_size: int = Field(
        default=10,
        ge=2,
        le=200,
        description="PostgreSQL only: most connections one process opens to the server.",
    )

    @field_validator("url")
    @classmethod
    def _known_url(cls, value: str) -> str:
        if value.strip():
            DatabaseUrl.parse(value)
        return value.strip()

    def location(self) -> DatabaseUrl:
        """Where the database is: ``url`` when set, else the SQLite file at ``path``."""
        return DatabaseUrl.parse(self.url) if self.url else DatabaseUrl.parse(self.path)

    def target(self) -> str | Path:
        """What :meth:`storage.Store.open` takes: the PostgreSQL URL or the SQLite file."""
        where = self.location()
        return where.dsn or "" if where.path is None else where.path

    busy_timeout_ms: int = Field(
        default=5000,
        ge=100,
        le=60000,
        description="How long a writer waits for another writer's lock, in milliseconds.",
    )


class SecuritySettings(SettingsGroup):
    """What the model may see and do."""

    expose_stats_to_model: bool = Field(
        default=False,
        description=(
            "Offer get_clinic_stats to the model during patient calls. Clinic revenue is"
            " confidential, so this is off by default."
        ),
    )


class ClinicSettings(SettingsGroup):
    """Which clinic profile to load and the booking policy."""

    profile_path: Path = Field(
        default=_PROJECT_ROOT / "config" / "clinic.toml",
        description="TOML file with the clinic's facts, hours, services and FAQ.",
    )
    booking_horizon_days: int = Field(
        default=90, ge=1, le=365, description="How far ahead appointments may be booked, in days."
    )
    min_notice_minutes: int = Field(
        default=60,
        ge=0,
        le=7 * 24 * 60,
        description="Shortest time between now and a bookable appointment, in minutes.",
    )
    max_slots_offered: int = Field(
        default=8,
        ge=1,
        le=50,
        description="Most free slots one check_available_slots answer lists.",
    )


class ValidationSettings(SettingsGroup):
    """Rules for patient input."""

    allowed_phone_regions: Annotated[list[str], NoDecode] = Field(
        default=["AL"],
        min_length=1,
        description="ISO 3166 regions whose phone numbers are accepted (comma-separated list).",
    )
    default_phone_region: str = Field(
        default="AL",
        description="Region assumed for numbers written without a country code.",
    )
    max_name_length: int = Field(
        default=80, ge=10, le=200, description="Longest accepted patient name, in characters."
    )

    @field_validator("allowed_phone_regions", mode="before")
    @classmethod
    def _split_regions(cls, value: Any) -> Any:
        return [part.upper() for part in comma_list(value)] if isinstance(value, str) else value

    @field_validator("allowed_phone_regions")
    @classmethod
    def _check_regions(cls, value: list[str]) -> list[str]:
        import phonenumbers

        known = phonenumbers.SUPPORTED_REGIONS
        bad = [region for region in value if region not in known]
        if bad:
            raise ValueError(f"unknown region code(s) {', '.join(bad)}; use ISO codes like AL, XK")
        return value

    @field_validator("default_phone_region")
    @classmethod
    def _check_default_region(cls, value: str) -> str:
        import phonenumbers

        value = value.strip().upper()
        if value not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError("unknown region code; use an ISO code like AL")
        return value


class SearchSettings(SettingsGroup):
    """The optional web search endpoint behind search_web."""

    url: AnyHttpUrl | None = Field(
        default=None,
        description=(
            "SearxNG-style JSON search endpoint (GET ?q=...&format=json). Empty: answer from the"
            " clinic FAQ only."
        ),
    )
    timeout_seconds: float = Field(
        default=3.0, gt=0, le=30, description="Time limit for one search request, in seconds."
    )
    max_results: int = Field(
        default=3, ge=1, le=10, description="Most search results handed to the model."
    )
    max_snippet_chars: int = Field(
        default=300, ge=50, le=2000, description="Longest snippet per search result, in characters."
    )


class LogFormat(StrEnum):
    """Console log styles."""

    TEXT = "text"
    JSON = "json"


class LoggingSettings(SettingsGroup):
    """Where logs go and what they may contain."""

    level: str = Field(
        default="INFO", description="Lowest level logged: TRACE, DEBUG, INFO, WARNING or ERROR."
    )
    file: Path | None = Field(
        default=Path("logs/elo.jsonl"),
        description="JSON-lines log file; 'none' to log to the console only.",
    )
    rotation_mb: int = Field(
        default=10, ge=1, le=1024, description="Size at which the log file rotates, in MB."
    )
    backups: int = Field(default=5, ge=0, le=100, description="Rotated log files kept.")
    console_format: LogFormat = Field(
        default=LogFormat.TEXT, description="Console style: text (readable) or json."
    )
    mask_pii: bool = Field(
        default=True,
        description=(
            "Mask phone numbers, names and emails in logs. Turn off only on a test machine with"
            " no real patients."
        ),
    )

    @field_validator("level")
    @classmethod
    def _check_level(cls, value: str) -> str:
        value = value.strip().upper()
        allowed = ("TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL")
        if value not in allowed:
            raise ValueError(f"must be one of {', '.join(allowed)}")
        return value


class PrivacySettings(SettingsGroup):
    """Storage limitation and the rights of the people Elo calls (GDPR Art. 5(1)(e), 15, 17)."""

    retention_days: int = Field(
        default=90,
        ge=1,
        le=3650,
        description=(
            "Days call transcripts and per-call details are kept; older ones are purged by"
            " `elo privacy purge` and once a day by the campaign runner (daily totals stay)."
            " Log files rotate daily and are deleted once older than this too."
        ),
    )
    hash_key: SecretStr = Field(
        default=SecretStr(""),
        description=(
            "Secret key for the keyed hash (HMAC-SHA256) that keeps an erased person's number"
            " blocked; empty: a random key kept in <database>.privacy-key (mode 0600);"
            " hex:<that file's contents> uses that key (moving to PostgreSQL, see `elo db copy`)."
        ),
    )


class ServerSettings(SettingsGroup):
    """The long-running service (``elo serve``): where it listens and when it is ready."""

    host: str = Field(
        default="127.0.0.1",
        min_length=1,
        description=(
            "Address the service listens on; 127.0.0.1 keeps it on this machine (put a TLS"
            " reverse proxy in front to reach it from elsewhere)."
        ),
    )
    port: int = Field(default=8080, ge=1, le=65535, description="TCP port the service listens on.")
    min_free_disk_mb: int = Field(
        default=512,
        ge=0,
        description=(
            "Below this much free space (MiB) on the database's disk the service reports itself"
            " not ready (/readyz), before SQLite starts failing writes."
        ),
    )
    poll_secs: float = Field(
        default=2.0,
        gt=0,
        le=300,
        description=(
            "How often the service reads which campaigns to run (`elo campaign"
            " start|pause|resume|stop` take effect within this many seconds)."
        ),
    )
    workers: int | None = Field(
        default=None,
        ge=0,
        le=64,
        description=(
            "Worker processes that run the calls' voice pipelines (one event loop is one core);"
            " empty: one per CPU core; 0: calls run in the service's own process."
        ),
    )
    drain_secs: float = Field(
        default=30.0,
        ge=0,
        le=3600,
        description=(
            "After SIGTERM (or Ctrl-C) the service dials no one new and gives the calls in"
            " progress this many seconds to finish, then hangs up the rest (every attempt is"
            " recorded) and exits. Keep the supervisor's stop timeout above it."
        ),
    )
    metrics_dir: Path | None = Field(
        default=None,
        description=(
            "Folder the service's processes share their metrics in (GET /metrics), emptied of"
            " earlier metric files at each start; a folder of its own. Empty: a private"
            " temporary folder per run."
        ),
    )
    metrics_token: SecretStr = Field(
        default=SecretStr(""),
        max_length=200,
        description=(
            "Bearer token Prometheus must send to read GET /metrics (Authorization: Bearer"
            " ...); empty leaves /metrics open to whoever reaches the service."
        ),
    )
