"""The service keeps the confirmations campaign filled (issue 13, section 2).

Every ``ELO_CONFIRMATIONS__INTERVAL_SECS`` it makes sure the campaign ``confirmations`` exists
(created ``active`` the first time, with the settings' calling window) and adds a contact for
each unconfirmed appointment starting within ``ELO_CONFIRMATIONS__HORIZON_HOURS``
(:meth:`storage.confirmations.ConfirmationRepository.fill`, idempotent). The campaign
supervisor runs it like any active campaign: windows, caps, retries and the lease hold as for
every campaign. A campaign staff stopped is left alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

from loguru import logger

from app.application import Application
from storage.confirmations import ConfirmationFill


class ConfirmationFiller:
    """Fills the confirmations campaign now and then.

    Args:
        app: The open application.
        on_added: Called when a round added contacts (the supervisor wakes to run them).
    """

    def __init__(self, app: Application, *, on_added: Callable[[], None] | None = None) -> None:
        self._app = app
        self._on_added = on_added
        self.last_error: str | None = None

    async def fill_once(self) -> ConfirmationFill | None:
        """One round; None when turned off (a campaign staff stopped is left alone)."""
        settings = self._app.settings
        if not settings.confirmations.enabled:
            return None
        now = self._app.clock()
        fill = await self._app.store.confirmations.fill(
            start=now,
            end=now + timedelta(hours=settings.confirmations.horizon_hours),
            max_concurrent_calls=min(2, settings.campaign.max_concurrent_calls),
            max_attempts=3,
        )
        if fill.added or fill.closed or fill.on_do_not_call:
            # Counts only: no number, name or appointment time.
            logger.info(
                "confirmations: {} added, {} closed, {} on the do-not-call list, {} waiting",
                fill.added,
                fill.closed,
                fill.on_do_not_call,
                fill.waiting,
            )
        if fill.added and self._on_added is not None:
            self._on_added()
        return fill

    async def run(self) -> None:
        """Fill every interval until cancelled; a failed round (a busy database) is retried."""
        while True:
            try:
                await self.fill_once()
                self.last_error = None
            except Exception as exc:
                self.last_error = type(exc).__name__
                logger.warning("confirmations: round failed: {}", self.last_error)
            await asyncio.sleep(self._app.settings.confirmations.interval_secs)
