"""Application settings: the single inventory of every environment variable Elo reads.

Variables use the prefix ``ELO_`` and ``__`` between a group and its field, e.g.
``ELO_DATABASE__PATH``. An optional ``.env`` file in the working directory is read too.
``.env.example`` mirrors this module; ``tests/config/test_env_example.py`` keeps them in step.
"""

from __future__ import annotations

import ipaddress
import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ENV_PREFIX = "ELO_"
ENV_NESTED_DELIMITER = "__"

_PROJECT_ROOT = Path(__file__).resolve().parent.parent


class ConfigError(Exception):
    """Raised when configuration cannot be used; the message is one line meant for a person."""


class _Group(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


class DatabaseSettings(_Group):
    """Where the SQLite database lives and how connections behave."""

    path: Path = Field(
        default=Path("data/elo.db"),
        description="SQLite database file; its folder is created on first use.",
    )
    busy_timeout_ms: int = Field(
        default=5000,
        ge=100,
        le=60000,
        description="How long a writer waits for another writer's lock, in milliseconds.",
    )


class SecuritySettings(_Group):
    """What the model may see and do."""

    expose_stats_to_model: bool = Field(
        default=False,
        description=(
            "Offer get_clinic_stats to the model during patient calls. Clinic revenue is"
            " confidential, so this is off by default."
        ),
    )


class ClinicSettings(_Group):
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


class ValidationSettings(_Group):
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
        return [part.upper() for part in _comma_list(value)] if isinstance(value, str) else value

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


class SearchSettings(_Group):
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


class LoggingSettings(_Group):
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


class LiveKitSettings(_Group):
    """The LiveKit server the agent joins."""

    url: Annotated[str, Field(description="LiveKit server URL (wss://... or ws://...).")] = ""
    api_key: SecretStr = Field(default=SecretStr(""), description="LiveKit API key.")
    api_secret: SecretStr = Field(default=SecretStr(""), description="LiveKit API secret.")
    room: str = Field(default="elo", max_length=128, description="Room the agent joins.")
    sip_trunk_id: str = Field(
        default="",
        max_length=128,
        description="Outbound SIP trunk id used to dial patients (a campaign may name its own).",
    )
    sip_caller_id: str = Field(
        default="",
        max_length=32,
        description="Number shown to patients (E.164); empty uses the trunk's own number.",
    )
    ringing_timeout_secs: int = Field(
        default=30,
        ge=5,
        # livekit/livekit pkg/service/sip.go CreateSIPParticipant: a dial that waits for the
        # answer gets 80 s in all, joining the room included; 70 s leaves the join its time.
        le=70,
        description=(
            "How long a dialled phone may ring before the attempt counts as no answer"
            " (at most 70: LiveKit ends a dial after 80 s, room join included)."
        ),
    )

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        value = value.strip()
        if value and not value.startswith(("ws://", "wss://", "http://", "https://")):
            raise ValueError("must start with wss://, ws://, https:// or http://")
        return value


class GoogleSettings(_Group):
    """Gemini Live access."""

    api_key: SecretStr = Field(default=SecretStr(""), description="Gemini API key.")
    # Current Live models (December 2026): gemini-3.8-live is stable with no shutdown date
    # (https://ai.google.dev/gemini-api/docs/deprecations), the default of Pipecat 1.14 too;
    # the 2025 native-audio previews are being shut down (pipeline/models.py has the sources).
    model: str = Field(
        default="models/gemini-3.8-live",
        max_length=200,
        description=(
            "Gemini Live model name. Default: the current stable models/gemini-3.8-live "
            "(https://ai.google.dev/gemini-api/docs/models/gemini-3.8-live); the 2.5 family "
            "works too, e.g. models/gemini-2.5-flash-native-audio-preview-12-2025. A thinking "
            "variant (models/gemini-3.8-live-extended-thinking) runs every tool non-blocking."
        ),
    )
    voice: str = Field(default="Charon", max_length=64, description="Gemini Live voice name.")
    base_url: AnyHttpUrl | None = Field(
        default=None,
        description="Override of the Gemini API endpoint (a private endpoint or local emulator).",
    )


class TransportKind(StrEnum):
    """Where call audio comes from and goes to."""

    LIVEKIT = "livekit"
    WEBRTC = "webrtc"
    FILE = "file"


class VadKind(StrEnum):
    """Local voice-activity detection."""

    SILERO = "silero"
    OFF = "off"


class TurnStopKind(StrEnum):
    """What decides that the caller has finished speaking (bench/turns.py measures both)."""

    VAD = "vad"
    SMART_TURN = "smart_turn"


class LlmKind(StrEnum):
    """The speech-to-speech model service."""

    GEMINI_LIVE = "gemini_live"


class PipelineSettings(_Group):
    """Audio pipeline parameters and which implementation each stage uses."""

    transport: TransportKind = Field(
        default=TransportKind.LIVEKIT, description="Call audio transport: livekit, webrtc or file."
    )
    vad: VadKind = Field(
        default=VadKind.SILERO, description="Local voice detection: silero or off."
    )
    llm: LlmKind = Field(default=LlmKind.GEMINI_LIVE, description="Model service: gemini_live.")
    # VAD defaults chosen with `make bench-turns` (docs/benchmarks.md, "Turn ends"): Pipecat's
    # 0.7 / 0.2 s / 0.6 miss every one-word answer ("Po.", "Jo.", "Yes.") of the corpus.
    vad_confidence: float = Field(
        default=0.6, ge=0.1, le=1.0, description="Silero confidence needed to count as speech."
    )
    vad_start_secs: float = Field(
        default=0.06, ge=0.03, le=2.0, description="Speech needed before a turn starts, in seconds."
    )
    vad_stop_secs: float = Field(
        default=0.4, ge=0.1, le=3.0, description="Silence that ends a turn, in seconds."
    )
    vad_min_volume: float = Field(
        default=0.3,
        ge=0.0,
        le=1.0,
        description="Smoothed loudness (0-1) audio needs, besides confidence, to count as speech.",
    )
    turn_stop: TurnStopKind = Field(
        default=TurnStopKind.VAD,
        description=(
            "What ends the caller's turn: vad (vad_stop_secs of silence) or smart_turn (Pipecat's"
            " Smart Turn model, waiting up to smart_turn_fallback_secs when it judges a turn"
            " unfinished)."
        ),
    )
    smart_turn_fallback_secs: float = Field(
        default=3.0,
        ge=0.2,
        le=10.0,
        description="smart_turn only: silence that ends a turn the model calls unfinished, in s.",
    )
    silence_timeout_secs: float = Field(
        default=20.0, ge=5, le=300, description="Silence from both sides that ends a call, in s."
    )
    max_call_seconds: int = Field(
        default=600, ge=60, le=3600, description="Longest call before Elo wraps up, in seconds."
    )
    first_audio_timeout_secs: float = Field(
        default=15.0,
        ge=3,
        le=120,
        description=(
            "Seconds Elo's first words may take once the callee is there; the model connection"
            " is retried within 60% of it, then the call fails."
        ),
    )
    language: str = Field(
        default="sq-AL", max_length=16, description="Default call language (BCP 47)."
    )
    input_sample_rate: int = Field(
        default=16000, description="Audio input rate in Hz (8000/16000)."
    )
    output_sample_rate: int = Field(default=24000, description="Audio output rate in Hz.")
    webrtc_host: str = Field(
        default="127.0.0.1",
        min_length=1,
        max_length=255,
        description="Interface of the browser page (webrtc transport); 0.0.0.0 listens on all.",
    )
    webrtc_port: int = Field(
        default=7860, ge=1, le=65535, description="Port of the browser page (webrtc transport)."
    )
    webrtc_token: SecretStr = Field(
        default=SecretStr(""),
        max_length=200,
        description=(
            "Secret a browser must present to start a call (open the page as"
            " http://HOST:PORT/#token=...); empty makes a fresh random one at each start and"
            " prints the link."
        ),
    )
    webrtc_allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default=["localhost", "127.0.0.1", "::1"],
        min_length=1,
        description=(
            "Host names the page may be reached by, in the Host and Origin headers (with"
            " webrtc_port); comma separated. Add the machine's name when listening on 0.0.0.0."
        ),
    )
    webrtc_max_calls: int = Field(
        default=2, ge=1, le=50, description="Browser calls in progress at once."
    )
    webrtc_offers_per_minute: int = Field(
        default=10,
        ge=1,
        le=600,
        description="Call attempts (offers) one client address may make per minute.",
    )

    @field_validator("webrtc_allowed_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: Any) -> Any:
        return _comma_list(value) if isinstance(value, str) else value

    @field_validator("webrtc_allowed_hosts")
    @classmethod
    def _check_hosts(cls, value: list[str]) -> list[str]:
        hosts = [host.strip().strip("[]").lower() for host in value]
        for host in hosts:
            # A colon belongs only to an IPv6 address: "localhost:7860" would never match.
            if not re.fullmatch(r"[a-z0-9.:-]{1,253}", host) or (
                ":" in host and not _is_ipv6(host)
            ):
                raise ValueError("each entry must be a host name or IP address, without a port")
        return hosts

    @field_validator("input_sample_rate")
    @classmethod
    def _check_in_rate(cls, value: int) -> int:
        if value not in (8000, 16000):
            raise ValueError("must be 8000 or 16000 (Silero VAD accepts only these)")
        return value

    @field_validator("output_sample_rate")
    @classmethod
    def _check_out_rate(cls, value: int) -> int:
        if value not in (8000, 16000, 24000, 48000):
            raise ValueError("must be 8000, 16000, 24000 or 48000")
        return value


def _comma_list(text: str) -> list[str]:
    """The stripped, non-empty parts of a comma-separated setting (as an environment gives it)."""
    return [part.strip() for part in text.split(",") if part.strip()]


def _is_ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


class LimitsSettings(_Group):
    """Caps that protect patients and the clinic from runaway calls (OWASP LLM10)."""

    tool_calls_per_minute: int = Field(
        default=20, ge=1, le=600, description="Tool calls one call may make per minute."
    )
    bookings_per_call: int = Field(
        default=2, ge=1, le=20, description="Appointments one call may book."
    )
    calls_per_number_per_hour: int = Field(
        default=3, ge=1, le=100, description="Calls one phone number may take part in per hour."
    )
    follow_ups_per_call: int = Field(
        default=2, ge=1, le=20, description="Callbacks (schedule_follow_up) one call may arrange."
    )
    search_web_per_call: int = Field(
        default=5, ge=0, le=100, description="search_web calls one call may make (0: none)."
    )
    tool_calls_per_call: int = Field(
        default=60, ge=1, le=1000, description="Tool calls of any kind one call may make in all."
    )
    bookings_per_number_per_day: int = Field(
        default=2,
        ge=1,
        le=100,
        description=(
            "Appointments Elo may book for one phone number in any 24 hours, across calls"
            " (counted in the database)."
        ),
    )
    follow_ups_per_number_per_day: int = Field(
        default=2,
        ge=1,
        le=100,
        description=(
            "Callbacks Elo may arrange for one phone number in any 24 hours, across calls"
            " (counted in the database)."
        ),
    )
    unbound_writes_per_hour: int = Field(
        default=10,
        ge=0,
        le=1000,
        description=(
            "Bookings plus callbacks that all calls without a bound number (browser, file) may"
            " make together in any hour (counted in the database; 0: none)."
        ),
    )


VoicemailAction = Literal["leave_message", "hang_up"]


class CampaignSettings(_Group):
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


class CallingSettings(_Group):
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
            "Përshëndetje, ju telefonon asistenti automatik i {clinic}. Ju lutemi na telefononi"
            " në {phone} kur t'ju përshtatet. Faleminderit!"
        ),
        max_length=500,
        description="Albanian voicemail message; {clinic} and {phone} are filled in.",
    )
    voicemail_message_en: str = Field(
        default=(
            "Hello, this is the automated assistant of {clinic}. Please call us back at {phone}"
            " when it suits you. Thank you!"
        ),
        max_length=500,
        description="English voicemail message; {clinic} and {phone} are filled in.",
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
        return _comma_list(value) if isinstance(value, str) else value

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


class PrivacySettings(_Group):
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
            " blocked; empty: a random key kept in <database>.privacy-key (mode 0600)."
        ),
    )


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
