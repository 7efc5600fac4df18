"""The retention schedule: purge expired personal data as the settings say, daily.

The purge itself is :meth:`storage.privacy.PrivacyRepository.purge`; this module reads the
periods from the settings and runs it beside a long-running process.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import TYPE_CHECKING

from loguru import logger

from storage.privacy import PurgeCounts
from storage.store import Store

if TYPE_CHECKING:
    from config.settings import AppSettings


async def purge_per_settings(
    store: Store, settings: AppSettings, *, actor: str = "system", dry_run: bool = False
) -> PurgeCounts:
    """One retention purge as the settings say.

    ``ELO_PRIVACY__RETENTION_DAYS`` sets the period; campaign attempts and contacts keep their
    numbers at least as long as the calling rules look back (``ELO_CALLING__ATTEMPTS_WINDOW_DAYS``,
    ``ELO_CALLING__REFUSAL_PAUSE_DAYS``), so the attempt cap and the refusal pause still hold.

    Args:
        store: The open store.
        settings: The application settings.
        actor: Who runs it, for the audit trail.
        dry_run: Only count.

    Returns:
        What was (or would be) purged.
    """
    calling = settings.calling
    return await store.privacy.purge(
        retention_days=settings.privacy.retention_days,
        keep_attempts_days=max(calling.attempts_window_days, calling.refusal_pause_days),
        dry_run=dry_run,
        actor=actor,
    )


async def purge_logged(store: Store, settings: AppSettings) -> PurgeCounts | None:
    """One scheduled purge (:func:`purge_per_settings` as ``system``) that never raises.

    A failure (e.g. a locked database) is logged by type only and the next round tries again:
    it must not stop the process that hosts the schedule.

    Returns:
        What was purged, or None when the purge failed.
    """
    try:
        counts = await purge_per_settings(store, settings)
    except Exception as exc:
        logger.warning("retention purge failed: {}", type(exc).__name__)
        return None
    logger.info("retention purge: {}", counts.as_dict())
    return counts


async def retention_task(
    store: Store,
    settings: AppSettings,
    *,
    every: timedelta = timedelta(days=1),
    purge_now: bool = True,
) -> None:
    """Purge expired data (now, unless ``purge_now`` is false) and then every ``every``.

    Meant to run beside a long-running process (the campaign runner today, ``elo serve``
    later) until cancelled: ``asyncio.create_task(retention_task(store, settings))``. Each
    purge goes through :func:`purge_logged`, so a failed one never stops the host.

    Args:
        store: The open store.
        settings: The application settings.
        every: The pause between purges.
        purge_now: Purge before the first pause (false when the host already purged at start).
    """
    if purge_now:
        await purge_logged(store, settings)
    while True:
        await asyncio.sleep(every.total_seconds())
        await purge_logged(store, settings)
