"""Assembling the runtime from settings: logging, clinic profile, store and tool context."""

from __future__ import annotations

import getpass
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime

from cli.failures import UsageError
from config.clinic import load_clinic_profile
from config.settings import AppSettings
from storage import Store
from storage.errors import StoreError
from tools.context import ToolContext, ToolMode, build_context, system_clock


@asynccontextmanager
async def open_context(
    settings: AppSettings,
    *,
    mode: ToolMode,
    language: str | None = None,
    clock: Callable[[], datetime] = system_clock,
    allow_damaged: bool = False,
) -> AsyncIterator[ToolContext]:
    """Load the clinic profile, open the database and yield a tool context; close on exit.

    Args:
        settings: The application settings.
        mode: Who is acting (a call or staff).
        language: The conversation language, if not the default.
        clock: Source of the current time.
        allow_damaged: Yield even when the database failed its quick integrity check (its
            writes are refused anyway); for ``elo db check`` and exports that rescue the data.

    Raises:
        ConfigError: The clinic profile is missing or invalid.
        StoreError: The database cannot be opened, or failed its integrity check.
    """
    clinic = load_clinic_profile(settings.clinic.profile_path)
    store = await Store.open(
        settings.database.path,
        tz=clinic.tz,
        busy_timeout_ms=settings.database.busy_timeout_ms,
        clock=clock,
        hash_key=settings.privacy.hash_key.get_secret_value() or None,
    )
    if store.health.problem is not None and not allow_damaged:
        # Reads from damaged pages can be silently wrong: stop before acting on them.
        await store.close()
        raise StoreError(
            f"database {settings.database.path} failed its integrity check:"
            " run `elo db check`, then restore a backup or repair the file"
        )
    try:
        yield build_context(
            store=store, settings=settings, clinic=clinic, clock=clock, mode=mode, language=language
        )
    finally:
        await store.close()


def audit_actor() -> str:
    """The operating-system user running the command, as the audit trail names them."""
    try:
        return getpass.getuser() or "unknown"
    except (OSError, KeyError):  # no login name and no passwd entry (some containers)
        return "unknown"


def parse_phone(raw: str, settings: AppSettings, *, field: str = "phone") -> str:
    """A phone number given at the command line, in E.164.

    Args:
        raw: The number as typed (``069 123 4567``, ``+355691234567``).
        settings: For the allowed and default regions.
        field: The option or argument named in the error.

    Raises:
        UsageError: Not a valid number of an allowed region (one line, exit 2).
    """
    from validation import InputError, normalize_phone

    try:
        return normalize_phone(
            raw,
            allowed_regions=settings.validation.allowed_phone_regions,
            default_region=settings.validation.default_phone_region,
            field=field,
        )
    except InputError as exc:
        # The validator's hint speaks to the model about a patient; staff need only the problem.
        raise UsageError(str(exc)) from None
