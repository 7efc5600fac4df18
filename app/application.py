"""One application object: settings, clinic profile, store, tool registry and clock.

``bot.py``, ``elo`` and the campaign runner each build it once with :func:`open_application`
and derive what a call or a staff command needs from it (a tool context per call), so there is
one place that decides how the parts are made and closed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from app.call_policy import CallPolicy
from app.calling_rules import CampaignRules
from config.clinic import ClinicProfile, load_clinic_profile
from config.clock import Clock, system_clock
from config.settings import AppSettings
from storage import Store
from storage.errors import StoreError
from storage.outbox_plan import Channel, OutboxPlan
from tools.call_port import CallControl
from tools.catalog import default_registry
from tools.context import ToolContext, ToolMode, build_context
from tools.registry import ToolRegistry


@dataclass(frozen=True)
class Application:
    """The parts shared by every call and command of one process.

    Attributes:
        settings: The validated settings.
        clinic: The clinic profile.
        store: The open database.
        registry: The tools the model may call.
        clock: Source of the current aware time.
        http_client_args: Extra model-client arguments (e.g. the SSL context of a private
            endpoint or of the local emulator).
    """

    settings: AppSettings
    clinic: ClinicProfile
    store: Store
    registry: ToolRegistry
    clock: Clock = system_clock
    http_client_args: dict[str, Any] | None = None

    def now(self) -> datetime:
        """The current time in the clinic's time zone."""
        return self.clock().astimezone(self.clinic.tz)

    def call_policy(self, rules: CampaignRules | None = None) -> CallPolicy:
        """The calling rules over this application's database and clock.

        Args:
            rules: A campaign's window and attempt policy; the settings' when None.
        """
        return CallPolicy(
            store=self.store,
            limits=self.settings.limits,
            rules=rules or CampaignRules.from_settings(self.settings.calling),
            clock=self.clock,
        )

    def tool_context(
        self,
        *,
        mode: ToolMode,
        language: str | None = None,
        call_id: str | None = None,
        phone: str | None = None,
        patient_name: str | None = None,
        http: httpx.AsyncClient | None = None,
        call_control: CallControl | None = None,
        purpose: str | None = None,
    ) -> ToolContext:
        """A tool context for one call or one staff command.

        Args:
            mode: Who is acting: the model in a patient call, or staff.
            language: The conversation language, if not the configured one.
            call_id: The call the tools run in, if any.
            phone: The number a call is bound to (set by whoever placed the call).
            patient_name: The validated name of the callee, if known.
            http: HTTP client for search_web; created lazily when None.
            call_control: What the tools may do to the live call, if any.
            purpose: Why a campaign placed the call (its purpose), if one did.
        """
        return build_context(
            store=self.store,
            settings=self.settings,
            clinic=self.clinic,
            clock=self.clock,
            mode=mode,
            language=language,
            call_id=call_id,
            phone=phone,
            patient_name=patient_name,
            http=http,
            call_control=call_control,
            purpose=purpose,
        )


def message_channels(settings: AppSettings) -> frozenset[Channel]:
    """The message channels configured: email with an SMTP host and From, SMS with its provider.

    The SMS provider's group (``settings.sms``, ``ELO_SMS__*``) says whether it is configured
    through its ``configured`` property.
    """
    channels: set[Channel] = set()
    if settings.email.configured:
        channels.add("email")
    if settings.sms.configured:
        channels.add("sms")
    return frozenset(channels)


@asynccontextmanager
async def open_application(
    settings: AppSettings,
    *,
    clock: Clock = system_clock,
    registry: ToolRegistry | None = None,
    allow_damaged: bool = False,
    http_client_args: dict[str, Any] | None = None,
) -> AsyncIterator[Application]:
    """Load the clinic profile, open the database and yield the application; close on exit.

    Args:
        settings: The application settings.
        clock: Source of the current time.
        registry: The tools; the default catalogue when None.
        allow_damaged: Yield even when the database failed its quick integrity check (its
            writes are refused anyway); for ``elo db check`` and exports that rescue the data.
        http_client_args: Extra model-client arguments (see :class:`Application`).

    Raises:
        ConfigError: The clinic profile is missing or invalid.
        StoreError: The database cannot be opened, or failed its integrity check.
    """
    clinic = load_clinic_profile(settings.clinic.profile_path)
    store = await Store.open(
        settings.database.target(),
        tz=clinic.tz,
        busy_timeout_ms=settings.database.busy_timeout_ms,
        clock=clock,
        hash_key=settings.privacy.hash_key.get_secret_value() or None,
        pool_size=settings.database.pool_size,
    )
    # Each booking's transaction plans the messages of the configured channels only.
    store.db.outbox = OutboxPlan(
        offsets=settings.messages.offsets(), channels=message_channels(settings)
    )
    if store.health.problem is not None and not allow_damaged:
        # Reads from damaged pages can be silently wrong: stop before acting on them.
        await store.close()
        raise StoreError(
            f"database {settings.database.location().display()} failed its integrity check:"
            " run `elo db check`, then restore a backup or repair the file"
        )
    try:
        yield Application(
            settings=settings,
            clinic=clinic,
            store=store,
            registry=registry or default_registry(),
            clock=clock,
            http_client_args=http_client_args,
        )
    finally:
        await store.close()
