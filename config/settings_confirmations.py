"""Settings of the voice confirmation calls the service places by itself (issue 13, section 2).

Part of the one settings inventory (:class:`config.settings.AppSettings`).
"""

from __future__ import annotations

from pydantic import Field

from config.settings_groups import SettingsGroup


class ConfirmationSettings(SettingsGroup):
    """The campaign ``confirmations``: whom the service calls to confirm an appointment."""

    enabled: bool = Field(
        default=True,
        description=(
            "Whether `elo serve` keeps the campaign 'confirmations' filled: a call to every"
            " patient with an unconfirmed appointment within the horizon (inside the calling"
            " window; do-not-call numbers never)."
        ),
    )
    horizon_hours: int = Field(
        default=48,
        ge=1,
        le=336,
        description="Appointments starting within this many hours get a confirmation call.",
    )
    interval_secs: float = Field(
        default=300.0,
        ge=5,
        le=86400,
        description="How often the service looks for appointments to confirm, in seconds.",
    )
