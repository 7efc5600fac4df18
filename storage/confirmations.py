"""The confirmations campaign: a call per unconfirmed appointment, filled by the service.

One campaign, :data:`CONFIRMATIONS`, purpose ``confirmation``, created ``active`` when a first
contact is added (the settings' calling window applies). :meth:`ConfirmationRepository.fill` adds a
contact for every ``scheduled`` (not yet confirmed) appointment starting in a window that has
no contact yet anywhere (``campaign_contacts.appointment_id``, unique), skipping numbers on the
do-not-call list; it is idempotent, so the service runs it every few minutes. A number already
waiting in the campaign for another appointment is left for the next round (that call can
settle both, through ``my_appointments``). Queued contacts whose appointment no longer needs a
call (confirmed by SMS, cancelled, moved into the past) are closed in the same transaction,
unless a call to them is in progress.
"""

from __future__ import annotations

from datetime import datetime

import aiosqlite
from pydantic import BaseModel, ConfigDict

from storage.database import Database
from storage.do_not_call import is_listed
from storage.models import Campaign
from storage.privacy_keys import PrivacyKeys
from storage.rows import to_campaign
from storage.timefmt import to_db

CONFIRMATIONS = "confirmations"
# The languages calls are held in today; a patient's other language gets an Albanian call.
# (Italian calls, issue 13 section 4, add "it" here: the contacts table already accepts it.)
_LANGUAGES = ("sq", "en")

# Unconfirmed active appointments starting in [start, end) with no contact yet: a range of the
# (status, starts_at) index, each probed in the unique index of contacts by appointment.
CANDIDATES_SQL = """
SELECT a.id, a.patient_id, p.phone, p.name, p.language
FROM appointments a JOIN patients p ON p.id = a.patient_id
WHERE a.status = 'scheduled' AND a.starts_at >= ? AND a.starts_at < ?
    AND NOT EXISTS (SELECT 1 FROM campaign_contacts c WHERE c.appointment_id = a.id)
ORDER BY a.starts_at, a.id
"""

# Queued contacts of the campaign whose appointment needs no call any more, not in a call now.
_CLOSE_SQL = """
UPDATE campaign_contacts SET state = 'done',
    done_reason = CASE (SELECT status FROM appointments a WHERE a.id = appointment_id)
        WHEN 'confirmed' THEN 'confirmed' ELSE 'not_needed' END
WHERE campaign_id = ? AND state = 'queued' AND appointment_id IS NOT NULL
    AND NOT EXISTS (SELECT 1 FROM call_attempts t WHERE t.contact_id = campaign_contacts.id
                    AND t.outcome IS NULL)
    AND EXISTS (SELECT 1 FROM appointments a WHERE a.id = appointment_id
                AND (a.status != 'scheduled' OR a.starts_at < ?))
"""


class ConfirmationFill(BaseModel):
    """What one round of :meth:`ConfirmationRepository.fill` did (counts only).

    Attributes:
        campaign_id: The confirmations campaign, None while it is not needed yet.
        added: New contacts, one per appointment.
        on_do_not_call: Appointments skipped because the number is on the do-not-call list.
        waiting: Appointments left for a later round: their number is already queued.
        closed: Queued contacts closed because their appointment needs no call any more.
    """

    model_config = ConfigDict(frozen=True)

    campaign_id: int | None = None
    added: int = 0
    on_do_not_call: int = 0
    waiting: int = 0
    closed: int = 0


class ConfirmationRepository:
    """The confirmations campaign's rows (``store.confirmations``).

    Args:
        db: The open database.
        keys: The privacy hash key (erased people's numbers stay on the list as hashes).
    """

    def __init__(self, db: Database, keys: PrivacyKeys) -> None:
        self._db = db
        self._keys = keys

    async def campaign(self, *, max_concurrent_calls: int, max_attempts: int) -> Campaign:
        """The confirmations campaign, created ``active`` (for the service) if it is missing.

        An existing campaign is returned as it is: staff may have paused or stopped it.
        """
        async with self._db.transaction() as conn:
            return await self._campaign(conn, max_concurrent_calls, max_attempts)

    async def fill(
        self, *, start: datetime, end: datetime, max_concurrent_calls: int, max_attempts: int
    ) -> ConfirmationFill:
        """Add a contact per unconfirmed appointment starting in ``[start, end)``; idempotent.

        One write transaction: the do-not-call list and the existing contacts are read in the
        snapshot the contacts are written in. The campaign is created (``active``) only when
        a first contact is added; a campaign staff stopped is left alone. A campaign the runner
        had finished (``done``) is opened again (``paused``) when contacts are added, so the
        service runs it.

        Args:
            start: The earliest start (now).
            end: The latest start, exclusive (now + the horizon).
            max_concurrent_calls: Calls at once, for a new campaign.
            max_attempts: Attempts per contact, for a new campaign.
        """
        added = on_dnc = waiting = closed = 0
        now = to_db(self._db.clock())
        async with self._db.transaction() as conn:
            rows = await conn.execute_fetchall(
                "SELECT * FROM campaigns WHERE name = ?", (CONFIRMATIONS,)
            )
            campaign = to_campaign(rows[0]) if rows else None
            if campaign is not None and campaign.service_state == "stopped":
                return ConfirmationFill(campaign_id=campaign.id)
            queued: set[str] = set()
            if campaign is not None:
                closed = (await conn.execute(_CLOSE_SQL, (campaign.id, to_db(start)))).rowcount
                queued = {
                    row["phone"]
                    for row in await conn.execute_fetchall(
                        "SELECT phone FROM campaign_contacts"
                        " WHERE campaign_id = ? AND state = 'queued'",
                        (campaign.id,),
                    )
                }
            for row in await conn.execute_fetchall(CANDIDATES_SQL, (to_db(start), to_db(end))):
                phone = row["phone"]
                if await is_listed(conn, self._keys, phone):
                    on_dnc += 1
                    continue
                if phone in queued:
                    waiting += 1
                    continue
                if campaign is None:
                    campaign = await self._campaign(conn, max_concurrent_calls, max_attempts)
                await conn.execute(
                    "INSERT INTO campaign_contacts (campaign_id, patient_id, phone, name,"
                    " language, created_at, appointment_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        campaign.id,
                        row["patient_id"],
                        phone,
                        row["name"],
                        row["language"] if row["language"] in _LANGUAGES else "sq",
                        now,
                        row["id"],
                    ),
                )
                queued.add(phone)
                added += 1
            if added and campaign is not None:
                await conn.execute(
                    "UPDATE campaigns SET status = 'paused' WHERE id = ? AND status = 'done'",
                    (campaign.id,),
                )
        return ConfirmationFill(
            campaign_id=campaign.id if campaign is not None else None,
            added=added,
            on_do_not_call=on_dnc,
            waiting=waiting,
            closed=max(closed, 0),
        )

    async def _campaign(
        self, conn: aiosqlite.Connection, max_concurrent_calls: int, max_attempts: int
    ) -> Campaign:
        await conn.execute(
            "INSERT INTO campaigns (name, purpose, notes, max_concurrent_calls,"
            " max_attempts, service_state, created_at)"
            " VALUES (?, 'confirmation', '', ?, ?, 'active', ?) ON CONFLICT(name) DO NOTHING",
            (CONFIRMATIONS, max_concurrent_calls, max_attempts, to_db(self._db.clock())),
        )
        (row,) = await conn.execute_fetchall(
            "SELECT * FROM campaigns WHERE name = ?", (CONFIRMATIONS,)
        )
        return to_campaign(row)
