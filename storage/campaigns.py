"""Outbound campaigns and their contacts.

A mixin of :class:`storage.store.Store`, like :mod:`storage.dnc`; the methods appear on ``Store``
itself, so callers see one flat API.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any

import aiosqlite

from storage.models import (
    Campaign,
    CampaignContact,
    CampaignPurpose,
    ImportCounts,
    NewContact,
)
from storage.timefmt import from_db, to_db


class CampaignMixin:
    """Campaign methods; the host class provides the connection, clock and transactions."""

    _conn: aiosqlite.Connection
    _clock: Callable[[], datetime]
    _transaction: Callable[[], AbstractAsyncContextManager[aiosqlite.Connection]]

    async def create_campaign(
        self,
        *,
        name: str,
        purpose: CampaignPurpose,
        notes: str = "",
        max_concurrent_calls: int = 2,
        max_attempts: int = 4,
    ) -> Campaign:
        """Create a campaign in status ``draft``.

        Args:
            name: Unique name staff use on the command line.
            purpose: Why the clinic calls (recall, check_up, unfinished_treatment, follow_up).
            notes: Notes for the model about this campaign.
            max_concurrent_calls: Calls this campaign may have in progress at once.
            max_attempts: Attempts per contact before giving up.

        Returns:
            The stored campaign.

        Raises:
            sqlite3.IntegrityError: The name is taken, or a value breaks a CHECK.
        """
        async with self._transaction() as conn:
            rows = await conn.execute_fetchall(
                "INSERT INTO campaigns"
                " (name, purpose, notes, max_concurrent_calls, max_attempts, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?) RETURNING *",
                (name, purpose, notes, max_concurrent_calls, max_attempts, to_db(self._clock())),
            )
        return _campaign(rows[0])

    async def get_campaign(self, *, name: str) -> Campaign | None:
        """The campaign called ``name``, if any."""
        rows = await self._conn.execute_fetchall("SELECT * FROM campaigns WHERE name = ?", (name,))
        return _campaign(rows[0]) if rows else None

    async def add_contacts(self, *, campaign_id: int, contacts: list[NewContact]) -> ImportCounts:
        """Add contacts to a campaign in one transaction.

        A number already in the campaign (or earlier in ``contacts``) is merged: the first entry
        is kept. A number on the do-not-call list is skipped, checked inside the same
        transaction so an opt-out recorded concurrently is never overtaken by an import.
        Contacts whose number belongs to a known patient are linked to that patient.

        Args:
            campaign_id: The campaign.
            contacts: Validated contacts, phones in E.164.

        Returns:
            How many were imported, merged and skipped for the do-not-call list.

        Raises:
            sqlite3.IntegrityError: The campaign does not exist or a value breaks a CHECK.
        """
        imported = merged = on_dnc = 0
        now = to_db(self._clock())
        async with self._transaction() as conn:
            if not await conn.execute_fetchall(
                "SELECT 1 FROM campaigns WHERE id = ?", (campaign_id,)
            ):
                raise sqlite3.IntegrityError(f"no campaign with id {campaign_id}")
            for contact in contacts:
                if await conn.execute_fetchall(
                    "SELECT 1 FROM do_not_call WHERE phone = ?", (contact.phone,)
                ):
                    on_dnc += 1
                    continue
                rows = await conn.execute_fetchall(
                    "INSERT INTO campaign_contacts (campaign_id, patient_id, phone, name,"
                    " time_zone, country, language, priority, created_at)"
                    " VALUES (?, (SELECT id FROM patients WHERE phone = ?), ?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT(campaign_id, phone) DO NOTHING RETURNING id",
                    (
                        campaign_id,
                        contact.phone,
                        contact.phone,
                        contact.name,
                        contact.time_zone,
                        contact.country,
                        contact.language,
                        contact.priority,
                        now,
                    ),
                )
                if rows:
                    imported += 1
                else:
                    merged += 1
        return ImportCounts(imported=imported, merged=merged, on_do_not_call=on_dnc)

    async def list_contacts(self, *, campaign_id: int) -> list[CampaignContact]:
        """The campaign's contacts, highest priority first, then in import order."""
        rows = await self._conn.execute_fetchall(
            "SELECT * FROM campaign_contacts WHERE campaign_id = ? ORDER BY priority DESC, id",
            (campaign_id,),
        )
        return [_contact(row) for row in rows]


def _campaign(row: sqlite3.Row) -> Campaign:
    data: dict[str, Any] = dict(row)
    data["created_at"] = from_db(data["created_at"])
    return Campaign.model_validate(data)


def _contact(row: sqlite3.Row) -> CampaignContact:
    data: dict[str, Any] = dict(row)
    data["created_at"] = from_db(data["created_at"])
    return CampaignContact.model_validate(data)
