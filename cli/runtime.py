"""Assembling the runtime from settings: logging, clinic profile, store and tool context."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime

from config.clinic import load_clinic_profile
from config.settings import AppSettings
from storage import Store
from tools.context import ToolContext, ToolMode, build_context, system_clock


@asynccontextmanager
async def open_context(
    settings: AppSettings,
    *,
    mode: ToolMode,
    language: str | None = None,
    clock: Callable[[], datetime] = system_clock,
) -> AsyncIterator[ToolContext]:
    """Load the clinic profile, open the database and yield a tool context; close on exit.

    Raises:
        ConfigError: The clinic profile is missing or invalid.
        StoreError: The database cannot be opened.
    """
    clinic = load_clinic_profile(settings.clinic.profile_path)
    store = await Store.open(
        settings.database.path,
        tz=clinic.tz,
        busy_timeout_ms=settings.database.busy_timeout_ms,
        clock=clock,
    )
    try:
        yield build_context(
            store=store, settings=settings, clinic=clinic, clock=clock, mode=mode, language=language
        )
    finally:
        await store.close()
