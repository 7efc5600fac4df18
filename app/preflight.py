"""One configuration preflight: what must be set before Elo may place a call.

Used by ``bot.py`` (one call over the configured transport), ``elo campaign run`` (outbound
SIP calls) and ``elo serve``, so that they refuse the same missing settings with the
same words.
"""

from __future__ import annotations

from enum import StrEnum

from config.settings import AppSettings
from config.settings_call import LiveKitSettings, TransportKind


def missing_livekit_settings(livekit: LiveKitSettings) -> list[str]:
    """The LiveKit variables still to be set before the agent can join a room."""
    values = {
        "ELO_LIVEKIT__URL": livekit.url,
        "ELO_LIVEKIT__API_KEY": livekit.api_key.get_secret_value(),
        "ELO_LIVEKIT__API_SECRET": livekit.api_secret.get_secret_value(),
    }
    return [name for name, value in values.items() if not value]


class Purpose(StrEnum):
    """What the process is about to do."""

    CALL = "call"
    """One call over the configured transport (``bot.py``)."""
    CAMPAIGN = "campaign"
    """Outbound calls through a LiveKit SIP trunk (``elo campaign run``)."""
    SERVICE = "service"
    """The long-running service (``elo serve``): LiveKit and Gemini; a campaign may bring its
    own SIP trunk, and inbound calls need none."""


def missing_settings(
    settings: AppSettings, *, purpose: Purpose, trunk_id: str | None = None
) -> list[str]:
    """The variables (or options) still missing before calls can start.

    Args:
        settings: The application settings.
        purpose: What the process is about to do.
        trunk_id: The campaign's own SIP trunk, which stands in for the configured one.

    Returns:
        The names of the missing variables, in the order staff should set them; empty when
        ready.
    """
    missing = missing_database_settings(settings)
    if (
        purpose in (Purpose.CAMPAIGN, Purpose.SERVICE)
        or settings.pipeline.transport is TransportKind.LIVEKIT
    ):
        missing += missing_livekit_settings(settings.livekit)
    if purpose is Purpose.CAMPAIGN and not (trunk_id or settings.livekit.sip_trunk_id):
        missing.append("ELO_LIVEKIT__SIP_TRUNK_ID")
    # A model endpoint of one's own (the local emulator, a proxy) may need no Google key.
    if not settings.google.api_key.get_secret_value() and settings.google.base_url is None:
        missing.append("ELO_GOOGLE__API_KEY")
    # The service sends the outbox: an SMS provider chosen but not set up would fail every text.
    if purpose is Purpose.SERVICE:
        missing += settings.sms.missing()
    return missing


def missing_database_settings(settings: AppSettings) -> list[str]:
    """What the database needs before it opens: PostgreSQL needs ELO_PRIVACY__HASH_KEY.

    Every node must hash erased numbers with one key, and no key file next to a database is
    shared by the nodes (see :meth:`storage.Store.open`).
    """
    postgres = settings.database.location().path is None
    if postgres and not settings.privacy.hash_key.get_secret_value():
        return ["ELO_PRIVACY__HASH_KEY"]
    return []
