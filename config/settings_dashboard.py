"""Settings of the clinic's dashboard (the web pages of ``elo serve``): sign-in and sessions.

Part of the one settings inventory (:class:`config.settings.AppSettings`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from config.settings_groups import SettingsGroup


class DashboardSettings(SettingsGroup):
    """Who may sign in to the dashboard, for how long, and how hard guessing is made."""

    session_idle_minutes: int = Field(
        default=30,
        ge=1,
        le=24 * 60,
        description="A signed-in browser left unused this many minutes must sign in again.",
    )
    session_max_hours: int = Field(
        default=12,
        ge=1,
        le=24 * 30,
        description="Every sign-in ends after this many hours, used or not (absolute expiry).",
    )
    max_failed_logins: int = Field(
        default=5,
        ge=1,
        le=100,
        description=(
            "Failed sign-ins in a row (wrong password or one-time code) that lock a user out"
            " for ELO_DASHBOARD__LOCKOUT_MINUTES."
        ),
    )
    lockout_minutes: int = Field(
        default=15,
        ge=1,
        le=24 * 60,
        description="How long a locked-out user cannot sign in, in minutes.",
    )
    min_password_length: int = Field(
        default=12,
        ge=8,
        le=128,
        description="Shortest password `elo user add|reset` and the Users page accept.",
    )
    behind_tls_proxy: bool = Field(
        default=False,
        description=(
            "The service is reached through a TLS reverse proxy (https), so session cookies are"
            " marked Secure even though the proxy talks plain HTTP to it."
        ),
    )
    default_language: Literal["sq", "en"] = Field(
        default="sq",
        description=(
            "Language of the sign-in page when the browser asks for neither Albanian nor"
            " English (signed-in users see their own language)."
        ),
    )
    max_upload_kib: int = Field(
        default=10240,
        ge=16,
        le=1024 * 1024,
        description=(
            "Largest request the dashboard accepts, in KiB (e.g. a campaign's contacts file);"
            " a larger one is refused with a message before it is read."
        ),
    )
