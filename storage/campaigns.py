"""Outbound campaigns: the campaign rows, their contacts and attempts, and their status.

Every read of a campaign (by name, by id, the list, the status) is here; the calling queue
(leases, due contacts, claiming and completing attempts) is :mod:`storage.campaign_queue`.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any, get_args

import aiosqlite

from storage.database import Database
from storage.dialect import json_object_of
from storage.do_not_call import is_listed
from storage.errors import NotFoundError
from storage.models import (
    AttemptOutcome,
    CallAttempt,
    Campaign,
    CampaignContact,
    CampaignPurpose,
    CampaignStatus,
    CampaignSummary,
    ImportCounts,
    NewContact,
    ServiceState,
)
from storage.notify import CAMPAIGNS_CHANNEL, campaign_channel
from storage.privacy_keys import PrivacyKeys
from storage.rows import to_attempt, to_campaign, to_contact
from storage.timefmt import from_db, to_db

OUTCOMES: tuple[AttemptOutcome, ...] = get_args(AttemptOutcome)
# Outcomes in which a person (not a machine, a busy line or silence) answered; spelled out
# again in _STATUS_SQL below (tests check the two agree).
REACHED: tuple[AttemptOutcome, ...] = (
    "booked",
    "follow_up",
    "declined",
    "opted_out",
    "transferred",
)

_STATUS_SQL = """
WITH contacts AS (SELECT id, phone FROM campaign_contacts WHERE campaign_id = ?),
attempts AS (SELECT a.contact_id, a.outcome, a.call_id FROM call_attempts a
    JOIN contacts c ON c.id = a.contact_id)
SELECT
    (SELECT count(*) FROM contacts) AS total,
    (SELECT count(DISTINCT contact_id) FROM attempts) AS attempted,
    (SELECT count(*) FROM attempts) AS attempts,
    (SELECT count(*) FROM attempts WHERE outcome IS NULL) AS in_progress,
    (SELECT count(DISTINCT contact_id) FROM attempts
        WHERE outcome IN ('booked', 'follow_up', 'declined', 'opted_out', 'transferred'))
        AS reached,
    (SELECT count(DISTINCT contact_id) FROM attempts WHERE outcome = 'booked') AS booked,
    (SELECT coalesce(sum(price_lek), 0) FROM appointments
        WHERE call_id IN (SELECT call_id FROM attempts WHERE call_id IS NOT NULL)
        AND status NOT IN ('cancelled', 'no_show')) AS revenue,
    (SELECT count(*) FROM contacts c
        WHERE NOT EXISTS (SELECT 1 FROM call_attempts a WHERE a.contact_id = c.id)
        AND NOT EXISTS (SELECT 1 FROM do_not_call d WHERE d.phone = c.phone)) AS remaining,
    (SELECT count(*) FROM campaign_contacts WHERE campaign_id = ? AND state = 'queued') AS queued,
    (SELECT {outcomes} FROM
        (SELECT outcome, count(*) AS n FROM attempts WHERE outcome IS NOT NULL GROUP BY outcome)
        AS per_outcome) AS outcomes
"""


async def insert_campaign(
    conn: aiosqlite.Connection, *, created_at: str, **fields: Any
) -> Campaign:
    """Insert a campaign row in the caller's transaction (see :meth:`CampaignRepository.create`).

    One INSERT for every way a campaign is made, so a recall (:mod:`storage.recalls`) can write
    its campaign and its contacts in one transaction.

    Raises:
        sqlite3.IntegrityError: The name is taken, or a value breaks a CHECK.
    """
    rows = await conn.execute_fetchall(
        "INSERT INTO campaigns (name, purpose, notes, max_concurrent_calls, max_attempts,"
        " window_days, window_intervals, retry_delays, sip_trunk_id, caller_id,"
        " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *",
        (
            fields["name"],
            fields["purpose"],
            fields.get("notes", ""),
            fields.get("max_concurrent_calls", 2),
            fields.get("max_attempts", 4),
            fields.get("window_days"),
            fields.get("window_intervals"),
            json.dumps(fields.get("retry_delays") or {}, sort_keys=True),
            fields.get("sip_trunk_id"),
            fields.get("caller_id"),
            created_at,
        ),
    )
    return to_campaign(next(iter(rows)))


class CampaignRepository:
    """The ``campaigns`` table with its contacts and their attempts.

    Args:
        db: The open database.
        keys: The privacy hash key (an import skips erased people's hashed numbers).
    """

    def __init__(self, db: Database, keys: PrivacyKeys) -> None:
        self._db = db
        self._keys = keys

    async def create(
        self,
        *,
        name: str,
        purpose: CampaignPurpose,
        notes: str = "",
        max_concurrent_calls: int = 2,
        max_attempts: int = 4,
        window_days: str | None = None,
        window_intervals: str | None = None,
        retry_delays: dict[str, int] | None = None,
        sip_trunk_id: str | None = None,
        caller_id: str | None = None,
    ) -> Campaign:
        """Create a campaign in status ``draft``.

        Args:
            name: Unique name staff use on the command line.
            purpose: Why the clinic calls (recall, check_up, unfinished_treatment, follow_up).
            notes: Notes for the model about this campaign.
            max_concurrent_calls: Calls this campaign may have in progress at once.
            max_attempts: Attempts per contact before giving up.
            window_days: Calling days (e.g. "mon,tue"); None uses the settings.
            window_intervals: Calling times of day (e.g. "10:00-13:00"); None uses the settings.
            retry_delays: Minutes to wait after an outcome (no_answer, busy, voicemail, failed);
                missing outcomes use the settings.
            sip_trunk_id: Outbound SIP trunk; None uses the settings.
            caller_id: Number shown to patients (E.164); None uses the settings.

        Returns:
            The stored campaign.

        Raises:
            sqlite3.IntegrityError: The name is taken, or a value breaks a CHECK.
        """
        async with self._db.transaction() as conn:
            return await insert_campaign(
                conn,
                name=name,
                purpose=purpose,
                notes=notes,
                max_concurrent_calls=max_concurrent_calls,
                max_attempts=max_attempts,
                window_days=window_days,
                window_intervals=window_intervals,
                retry_delays=retry_delays,
                sip_trunk_id=sip_trunk_id,
                caller_id=caller_id,
                created_at=to_db(self._db.clock()),
            )

    async def get(self, *, name: str) -> Campaign | None:
        """The campaign called ``name``, if any."""
        rows = await self._db.rows("SELECT * FROM campaigns WHERE name = ?", (name,))
        return to_campaign(rows[0]) if rows else None

    async def get_by_id(self, *, campaign_id: int) -> Campaign | None:
        """The campaign with this id, if any."""
        rows = await self._db.rows("SELECT * FROM campaigns WHERE id = ?", (campaign_id,))
        return to_campaign(rows[0]) if rows else None

    async def list(self) -> list[CampaignSummary]:
        """Every campaign, newest first, with its contact counts (no patient data)."""
        rows = await self._db.rows(
            "SELECT c.id, c.name, c.purpose, c.status, c.service_state, c.created_at,"
            " (SELECT count(*) FROM campaign_contacts k WHERE k.campaign_id = c.id) AS contacts,"
            " (SELECT count(*) FROM campaign_contacts k"
            "   WHERE k.campaign_id = c.id AND k.state = 'queued') AS queued,"
            " EXISTS (SELECT 1 FROM campaign_runners r WHERE r.campaign_id = c.id) AS running_now"
            " FROM campaigns c ORDER BY c.id DESC"
        )
        return [
            CampaignSummary.model_validate(
                {
                    **dict(row),
                    "created_at": from_db(row["created_at"]),
                    "running_now": bool(row["running_now"]),
                }
            )
            for row in rows
        ]

    async def for_service(self) -> list[Campaign]:
        """The campaigns the service should run: ``active`` and not done, oldest first."""
        rows = await self._db.rows(
            "SELECT * FROM campaigns WHERE service_state = 'active' AND status != 'done'"
            " ORDER BY id"
        )
        return [to_campaign(row) for row in rows]

    async def set_service_state(
        self,
        *,
        campaign_id: int,
        to: ServiceState,
        allowed_from: frozenset[ServiceState],
        pause_reason: str | None = None,
    ) -> Campaign | None:
        """Change what the service does with a campaign, if it is in one of ``allowed_from``.

        A compare-and-set in one statement, so two staff (or staff and the fault breaker)
        changing the same campaign at once cannot interleave.

        Args:
            campaign_id: The campaign.
            to: The new state.
            allowed_from: The states this change may start from.
            pause_reason: Why it is paused, for staff (kept only with ``to="paused"``).

        Returns:
            The changed campaign, or None when it does not exist, is done, or is in another
            state (read it again to say which).
        """
        marks = ", ".join("?" * len(allowed_from))  # placeholders only: the values are bound
        reason = pause_reason[:500] if pause_reason and to == "paused" else None
        async with self._db.transaction() as conn:
            rows = await conn.execute_fetchall(
                "UPDATE campaigns SET service_state = ?, pause_reason = ? WHERE id = ?"  # noqa: S608
                f" AND status != 'done' AND service_state IN ({marks}) RETURNING *",
                (to, reason, campaign_id, *sorted(allowed_from)),
            )
            await self._db.notify(conn, campaign_channel(campaign_id))  # started or resumed
            await self._db.notify(conn, CAMPAIGNS_CHANNEL)
        return to_campaign(rows[0]) if rows else None

    async def queue_depths(self) -> dict[int, int]:
        """Contacts still queued, by campaign id, for every campaign not done (for metrics).

        One read over the ``campaign_contacts_due`` index (campaign, state, ...).
        """
        rows = await self._db.rows(
            "SELECT c.id, (SELECT count(*) FROM campaign_contacts k"
            "   WHERE k.campaign_id = c.id AND k.state = 'queued') AS queued"
            " FROM campaigns c WHERE c.status != 'done'"
        )
        return {int(row["id"]): int(row["queued"]) for row in rows}

    async def settle_number(self, *, phone: str, reason: str) -> int:
        """Close every queued contact with this number, in every campaign not done.

        A patient who booked when they called the clinic back must not be called about it
        again (issue 11); the attempts already made are kept.

        Args:
            phone: The number (E.164).
            reason: Why, as a contact's ``done_reason`` (e.g. ``booked``).

        Returns:
            How many contacts were closed.
        """
        async with self._db.transaction() as conn:
            cursor = await conn.execute(
                "UPDATE campaign_contacts SET state = 'done', done_reason = ?, next_call_at = NULL"
                " WHERE phone = ? AND state = 'queued'",
                (reason, phone),
            )
            return cursor.rowcount

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
        now = to_db(self._db.clock())
        async with self._db.transaction() as conn:
            if not await conn.execute_fetchall(
                "SELECT 1 FROM campaigns WHERE id = ?", (campaign_id,)
            ):
                raise sqlite3.IntegrityError(f"no campaign with id {campaign_id}")
            for contact in contacts:
                # Also an erased person's entry, kept as a keyed hash (storage.privacy).
                if await is_listed(conn, self._keys, contact.phone):
                    on_dnc += 1
                    continue
                rows = await conn.execute_fetchall(
                    "INSERT INTO campaign_contacts (campaign_id, patient_id, phone, name,"
                    " time_zone, country, language, priority, created_at)"
                    " VALUES (?, (SELECT id FROM patients WHERE phone = ?), ?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT(campaign_id, phone) WHERE appointment_id IS NULL DO NOTHING"
                    " RETURNING id",
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
            await self._db.notify(conn, campaign_channel(campaign_id))
        return ImportCounts(imported=imported, merged=merged, on_do_not_call=on_dnc)

    async def contacts(self, *, campaign_id: int) -> list[CampaignContact]:
        """The campaign's contacts, highest priority first, then in import order."""
        rows = await self._db.rows(
            "SELECT * FROM campaign_contacts WHERE campaign_id = ? ORDER BY priority DESC, id",
            (campaign_id,),
        )
        return [to_contact(row) for row in rows]

    async def attempts(self, *, contact_id: int) -> list[CallAttempt]:
        """A contact's attempts, oldest first."""
        rows = await self._db.rows(
            "SELECT * FROM call_attempts WHERE contact_id = ? ORDER BY started_at, id",
            (contact_id,),
        )
        return [to_attempt(row) for row in rows]

    async def status(self, *, campaign_id: int) -> CampaignStatus:
        """Counts, rates and revenue for a campaign.

        Rates are per contact, not per attempt, so retries do not dilute them: the contact
        rate is contacts a person answered for (booked, follow_up, declined, opted_out,
        transferred) over contacts attempted; the booking rate is contacts with a booked
        attempt over contacts attempted. Revenue is the price of every appointment made in
        one of the campaign's calls (matched by call id). Remaining contacts were never
        attempted and are not on the do-not-call list; queued contacts are not finished yet
        (never attempted, or waiting for a retry or a callback), as the runner's progress shows.

        Raises:
            NotFoundError: No such campaign.
        """
        campaigns = await self._db.rows(
            "SELECT name, status, service_state, pause_reason FROM campaigns WHERE id = ?",
            (campaign_id,),
        )
        if not campaigns:
            raise NotFoundError(f"no campaign {campaign_id}")
        # One statement (one snapshot). Each contact's attempt columns come from one covering
        # index (migration 12's call_attempts_contact_outcome), no attempt row is read.
        sql = _STATUS_SQL.format(outcomes=json_object_of(self._db.conn, "outcome", "n"))
        (row,) = await self._db.rows(sql, (campaign_id, campaign_id))
        counts = json.loads(row["outcomes"])
        attempted = row["attempted"]
        (faults,) = await self._db.rows(
            "SELECT count(*) AS n FROM call_attempts"
            " WHERE campaign_id = ? AND system_fault IS NOT NULL",
            (campaign_id,),
        )
        return CampaignStatus(
            campaign_id=campaign_id,
            name=campaigns[0]["name"],
            status=campaigns[0]["status"],
            contacts_total=row["total"],
            contacts_attempted=attempted,
            attempts=row["attempts"],
            in_progress=row["in_progress"],
            outcomes={outcome: counts.get(outcome, 0) for outcome in OUTCOMES},
            contact_rate=_rate(row["reached"], attempted),
            booking_rate=_rate(row["booked"], attempted),
            revenue_booked_lek=row["revenue"],
            remaining_contacts=row["remaining"],
            queued_contacts=row["queued"],
            system_faults=faults["n"],
            pause_reason=campaigns[0]["pause_reason"],
            service_state=campaigns[0]["service_state"],
            contacts_reached=row["reached"],
            contacts_booked=row["booked"],
        )


def _rate(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0
