"""The settings groups of a call: LiveKit, Google (Gemini Live), the pipeline, per-call limits.

Part of the one settings inventory (:class:`config.settings.AppSettings`).
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AnyHttpUrl,
    Field,
    SecretStr,
    field_validator,
)
from pydantic_settings import NoDecode

from config.settings_groups import SettingsGroup, comma_list, is_ipv6


class LiveKitSettings(SettingsGroup):
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


class GoogleSettings(SettingsGroup):
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


class PipelineSettings(SettingsGroup):
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
        default="sq-AL",
        max_length=16,
        description=(
            "Default call language (BCP 47): sq-AL, en or it-IT; a contact's own language wins."
        ),
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
        return comma_list(value) if isinstance(value, str) else value

    @field_validator("webrtc_allowed_hosts")
    @classmethod
    def _check_hosts(cls, value: list[str]) -> list[str]:
        hosts = [host.strip().strip("[]").lower() for host in value]
        for host in hosts:
            # A colon belongs only to an IPv6 address: "localhost:7860" would never match.
            if not re.fullmatch(r"[a-z0-9.:-]{1,253}", host) or (":" in host and not is_ipv6(host)):
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


class LimitsSettings(SettingsGroup):
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
