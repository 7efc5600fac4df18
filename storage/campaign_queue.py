"""The campaign queue: which contacts are due, claiming one for a call, and finishing it.

Claiming a contact and finishing its attempt each run in
one exclusive write transaction (SQLite's ``BEGIN IMMEDIATE``, PostgreSQL's one-writer advisory
lock shared by every node), so several runners (on one host or several, or a runner restarted
after a crash) can never put one number into two calls at once nor exceed a cap: the unique index
on open attempts per number is the backstop, the checks inside the transaction give the reason.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import aiosqlite

from storage.database import Database
from storage.dialect import queued_zones_sql, skip_locked
from storage.do_not_call import is_listed
from storage.errors import NotFoundError
from storage.models import AttemptOutcome, CallAttempt, CampaignContact
from storage.notify import CAMPAIGNS_CHANNEL, Waiter, campaign_channel
from storage.privacy_keys import PrivacyKeys
from storage.rows import to_attempt, to_contact
from storage.timefmt import from_db, to_db

# The SIP status of an attempt that failed before anything was dialled (the pipeline did not
# start, LiveKit refused the room): the patient's phone never rang, so it is no call attempt
# under the calling rules and does not count against any attempt cap.
NOT_DIALLED = "not_dialled"

# Decides when a number may be called again from its recent attempts and refusals (see
# app.call_policy.CallPolicy.next_attempt_allowed); returns None when it may be called now.
PolicyCheck = Callable[[Sequence[datetime], Sequence[datetime]], datetime | None]

# Erased people's hashed do-not-call entries need the key, so they are not checked here:
# erasure closes the number's contacts, and claim_contact re-checks both kinds anyway.
_DUE_SQL = """
SELECT c.* FROM campaign_contacts c
WHERE c.campaign_id = ? AND c.state = 'queued'
  AND (c.next_call_at IS NULL OR c.next_call_at <= ?)
  AND NOT EXISTS (SELECT 1 FROM do_not_call d WHERE d.phone = c.phone)
  AND NOT EXISTS (SELECT 1 FROM call_attempts a WHERE a.phone = c.phone AND a.outcome IS NULL)
ORDER BY c.priority DESC, c.next_call_at, c.id
"""


@dataclass(frozen=True)
class Claim:
    """What claiming a contact did: exactly one of the fields is set.

    Attributes:
        attempt: The open attempt; the contact is now being called.
        deferred_until: The calling rules allow no call before this time; the contact's
            ``next_call_at`` was moved there.
        skipped: Why the contact cannot be called now: ``do_not_call``, ``exhausted`` (the
            campaign's attempts are used up; the contact is done), ``in_call`` (the number is in
            another call), ``not_queued``, ``not_due``, ``locked`` (another runner is claiming
            it right now), ``campaign_cap``, ``global_cap`` or ``runner_lost`` (the claiming
            runner is no longer registered: another took it for dead).
    """

    attempt: CallAttempt | None = None
    deferred_until: datetime | None = None
    skipped: str | None = None


class CampaignQueue:
    """The calling queue of every campaign: due contacts and attempts.

    Args:
        db: The open database.
        keys: The privacy hash key (a claim re-checks erased people's hashed numbers).
    """

    def __init__(self, db: Database, keys: PrivacyKeys) -> None:
        self._db = db
        self._keys = keys

    async def zones(self, *, campaign_id: int) -> list[tuple[str, str]]:
        """The distinct (time zone, country) pairs of a campaign's queued contacts."""
        rows = await self._db.rows(*queued_zones_sql(self._db.conn, campaign_id))
        return [(row["time_zone"], row["country"]) for row in rows]

    async def due_contacts(
        self,
        *,
        campaign_id: int,
        now: datetime,
        zones: Sequence[tuple[str, str]] | None,
        limit: int,
    ) -> list[CampaignContact]:
        """Queued contacts due by ``now``, best first (priority, then longest waiting).

        Excludes numbers on the do-not-call list and numbers in a call right now. The calling
        window is applied by zone: pass the (time zone, country) pairs in which calling is
        allowed now; None applies no zone filter.

        Args:
            campaign_id: The campaign.
            now: The current time.
            zones: Allowed (time zone, country) pairs, or None.
            limit: Most contacts to return.

        Returns:
            The contacts, in calling order.
        """
        if zones is not None and not zones:
            return []
        sql, params = _DUE_SQL, [campaign_id, to_db(now)]
        if zones is not None:
            pairs = " OR ".join("(c.time_zone = ? AND c.country = ?)" for _ in zones)
            sql = sql.replace("ORDER BY", f"AND ({pairs})\nORDER BY")
            params += [value for pair in zones for value in pair]
        rows = await self._db.rows(sql + " LIMIT ?", (*params, limit))
        return [to_contact(row) for row in rows]

    async def due_by_zone(
        self, *, campaign_id: int, now: datetime
    ) -> list[tuple[str, str, datetime]]:
        """Per (time zone, country): when its first contact not in a call is due.

        A contact due at once counts as due ``now``. Numbers on the do-not-call list need no
        check: listing a number closes its queued contacts.

        Returns:
            ``(time zone, country, due)`` triples.
        """
        # Per pair, the first entry of the zones index in due order that is not in a call:
        # a few index steps each, whatever the size of the list. NULL (due at once) sorts first.
        result = []
        for tz, country in await self.zones(campaign_id=campaign_id):
            rows = await self._db.rows(
                "SELECT next_call_at FROM campaign_contacts"
                " WHERE campaign_id = ? AND state = 'queued' AND time_zone = ? AND country = ?"
                # coalesce: a NULL in a NOT IN list would hide every row; and the open
                # attempts come from their partial index, not a scan of all attempts.
                " AND phone NOT IN (SELECT coalesce(phone, '') FROM call_attempts"
                "   WHERE outcome IS NULL)"
                " ORDER BY next_call_at LIMIT 1",
                (campaign_id, tz, country),
            )
            if rows:
                due = rows[0]["next_call_at"]
                result.append((tz, country, from_db(due) if due else now))
        return result

    async def count_queued(self, *, campaign_id: int) -> int:
        """Contacts still queued (not done), including those in a call."""
        rows = await self._db.rows(
            "SELECT count(*) AS n FROM campaign_contacts"
            " WHERE campaign_id = ? AND state = 'queued'",
            (campaign_id,),
        )
        return int(rows[0]["n"])

    async def claim_contact(
        self,
        *,
        contact_id: int,
        room: str,
        call_id: str,
        campaign_cap: int,
        global_cap: int,
        max_attempts: int,
        policy: PolicyCheck,
        history_since: datetime,
        inbound_since: datetime | None = None,
        runner_token: str | None = None,
    ) -> Claim:
        """Open an attempt for a contact if every rule allows a call now.

        Everything is re-checked inside one write transaction: the contact is queued, the
        number is not on the do-not-call list and not in another call, the campaign and the
        global caps have room, the campaign's attempts are not used up, and the attempt policy
        (given every attempt to the number since ``history_since``, in any campaign) allows
        a call now. Attempts that never dialled (:data:`NOT_DIALLED`) and attempts the system
        failed (``system_fault``: trunk, credentials, LiveKit) count for neither.

        Args:
            contact_id: The contact.
            room: The LiveKit room the call will use.
            call_id: The call's id.
            campaign_cap: Most open attempts in this campaign.
            global_cap: Most open attempts in all campaigns.
            max_attempts: The campaign's attempts per contact.
            policy: The attempt policy check (attempt times, refusal times) -> not before.
            history_since: How far back attempts and refusals matter to the policy.
            inbound_since: An unended inbound call from the number started since then keeps it
                from being dialled (older ones were left unended by a crash).
            runner_token: The claiming runner (it holds the attempt until it ends).

        Returns:
            The claim.
        """
        async with self._db.transaction() as conn:
            # The rules' "now", read once the write lock is held (the attempt's own start time
            # is read again after the counts, below).
            now = self._db.clock()
            # A runner taken for dead (cut off past its lease; its attempts adopted) claims
            # nothing more: its row is gone.
            if runner_token is not None and not await conn.execute_fetchall(
                "SELECT 1 FROM campaign_runners WHERE token = ?", (runner_token,)
            ):
                return Claim(skipped="runner_lost")
            # PostgreSQL: a row another runner's claim holds is skipped, not waited for.
            rows = await conn.execute_fetchall(
                "SELECT * FROM campaign_contacts WHERE id = ?"  # noqa: S608 (a fixed fragment)
                + skip_locked(conn),
                (contact_id,),
            )
            if not rows:
                # Missing, or (PostgreSQL) locked by another runner's claim right now.
                held = skip_locked(conn) and await conn.execute_fetchall(
                    "SELECT 1 FROM campaign_contacts WHERE id = ?", (contact_id,)
                )
                return Claim(skipped="locked" if held else "not_queued")
            if rows[0]["state"] != "queued":
                return Claim(skipped="not_queued")
            contact = to_contact(rows[0])
            # The planner's read may predate a call that just ended (reads on the shared
            # connection can see another task's transaction half done): re-check here.
            if contact.next_call_at is not None and contact.next_call_at > now:
                return Claim(skipped="not_due")
            # Also an erased person's entry, kept as a keyed hash (storage.privacy).
            if await is_listed(conn, self._keys, contact.phone):
                await _close(conn, contact.id, "do_not_call")
                return Claim(skipped="do_not_call")
            if await conn.execute_fetchall(
                "SELECT 1 FROM call_attempts WHERE phone = ? AND outcome IS NULL", (contact.phone,)
            ):
                return Claim(skipped="in_call")
            if inbound_since is not None and await conn.execute_fetchall(
                "SELECT 1 FROM calls WHERE phone = ? AND started_at >= ?"
                " AND direction = 'inbound' AND ended_at IS NULL",
                (contact.phone, to_db(inbound_since)),
            ):
                return Claim(skipped="in_call")
            (counts,) = await conn.execute_fetchall(
                "SELECT count(*) AS total,"
                " coalesce(sum(CASE WHEN campaign_id = ? THEN 1 ELSE 0 END), 0) AS mine"
                " FROM call_attempts"
                " WHERE outcome IS NULL",
                (contact.campaign_id,),
            )
            if counts["mine"] >= campaign_cap:
                return Claim(skipped="campaign_cap")
            if counts["total"] >= global_cap:
                return Claim(skipped="global_cap")
            (used,) = await conn.execute_fetchall(
                "SELECT count(*) AS n FROM call_attempts"
                " WHERE contact_id = ? AND (sip_status IS NULL OR sip_status != ?)"
                " AND system_fault IS NULL",
                (contact.id, NOT_DIALLED),
            )
            if used["n"] >= max_attempts:
                await _close(conn, contact.id, "exhausted")
                return Claim(skipped="exhausted")
            history = await conn.execute_fetchall(
                "SELECT started_at, outcome FROM call_attempts"
                " WHERE phone = ? AND started_at >= ? AND (sip_status IS NULL OR sip_status != ?)"
                " AND system_fault IS NULL",
                (contact.phone, to_db(history_since), NOT_DIALLED),
            )
            attempts = [from_db(row["started_at"]) for row in history]
            refusals = [
                from_db(row["started_at"]) for row in history if row["outcome"] == "declined"
            ]
            not_before = policy(attempts, refusals)
            if not_before is not None and not_before > now:
                await conn.execute(
                    "UPDATE campaign_contacts SET next_call_at = ? WHERE id = ?",
                    (to_db(not_before), contact.id),
                )
                await self._db.notify(conn, campaign_channel(contact.campaign_id))
                return Claim(deferred_until=not_before)
            # Stamped after every read: an attempt this claim saw ended was stamped before its
            # commit, so before this, and the stored times never show more open calls than the
            # caps allowed (or one number in two calls).
            started = self._db.clock()
            try:
                inserted = await conn.execute_fetchall(
                    "INSERT INTO call_attempts"
                    " (contact_id, started_at, call_id, phone, campaign_id, room, runner_token)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING *",
                    (
                        contact.id,
                        to_db(started),
                        call_id,
                        contact.phone,
                        contact.campaign_id,
                        room,
                        runner_token,
                    ),
                )
            except sqlite3.IntegrityError:
                # The unique index on open attempts per number: another writer got there first.
                return Claim(skipped="in_call")
        return Claim(attempt=to_attempt(inserted[0]))

    async def complete_attempt(
        self,
        *,
        attempt_id: int,
        outcome: AttemptOutcome,
        sip_status: str | None,
        duration_s: int | None,
        next_call_at: datetime | None,
        done_reason: str | None,
        system_fault: str | None = None,
        runner_token: str | None = None,
    ) -> CallAttempt:
        """Finish an attempt and reschedule or close its contact, in one transaction.

        A second completion of the same attempt changes nothing (the first result stands), nor
        does one by a runner that no longer holds it (see ``runner_token``).

        Args:
            attempt_id: The open attempt.
            outcome: How it ended.
            sip_status: The SIP status, if any.
            duration_s: Whole seconds the call lasted, if answered.
            next_call_at: When the contact may be called again; ignored when ``done_reason``
                is set.
            done_reason: Set to close the contact (e.g. ``booked``, ``opted_out``).
            system_fault: One line when the trunk, the credentials or LiveKit failed rather
                than the patient's phone: the attempt then counts against no patient cap.
            runner_token: The runner recording it. Once another runner has adopted the
                attempt (this one was taken for dead), the adopter alone records it; the
                returned attempt then names the adopter. None: whoever holds it.

        Returns:
            The attempt as stored.
        """
        # No one-writer lock: the guarded UPDATE ends the attempt once, and an ending only frees
        # capacity, so a claim counting open attempts meanwhile stays within the caps.
        async with self._db.transaction(exclusive=False) as conn:
            cursor = await conn.execute(
                "UPDATE call_attempts SET ended_at = ?, outcome = ?, sip_status = ?,"
                " duration_s = ?, system_fault = ? WHERE id = ? AND outcome IS NULL"
                # Only while the given runner holds it (None: whoever does).
                " AND coalesce(?, runner_token, '') = coalesce(runner_token, '')",
                (
                    to_db(self._db.clock()),
                    outcome,
                    sip_status,
                    duration_s,
                    system_fault[:300] if system_fault else None,
                    attempt_id,
                    runner_token,
                ),
            )
            rows = await conn.execute_fetchall(
                "SELECT * FROM call_attempts WHERE id = ?", (attempt_id,)
            )
            if not rows:
                raise NotFoundError(f"no call attempt {attempt_id}")
            if cursor.rowcount == 1:
                # Capacity is free again (and the number): wake the campaign's runners.
                await self._db.notify(conn, campaign_channel(rows[0]["campaign_id"]))
                contact_id = rows[0]["contact_id"]
                if done_reason is not None:
                    await _close(conn, contact_id, done_reason)
                else:
                    await conn.execute(
                        "UPDATE campaign_contacts SET next_call_at = ? WHERE id = ?",
                        (to_db(next_call_at) if next_call_at else None, contact_id),
                    )
        return to_attempt(rows[0])

    async def waiter(self, *, campaign_id: int | None = None) -> Waiter:
        """Wakes a runner of the campaign when work may be there (close it when done).

        Without ``campaign_id``: wakes when any campaign is started, resumed, paused or stopped.
        """
        if campaign_id is None:
            return await self._db.waiter(CAMPAIGNS_CHANNEL)
        return await self._db.waiter(campaign_channel(campaign_id))

    async def open_attempts(self, *, campaign_id: int) -> list[CallAttempt]:
        """The campaign's attempts without an outcome (calls in progress, or left by a crash)."""
        rows = await self._db.rows(
            "SELECT * FROM call_attempts WHERE campaign_id = ? AND outcome IS NULL ORDER BY id",
            (campaign_id,),
        )
        return [to_attempt(row) for row in rows]


async def _close(conn: aiosqlite.Connection, contact_id: int, reason: str) -> None:
    await conn.execute(
        "UPDATE campaign_contacts SET state = 'done', done_reason = ?, next_call_at = NULL"
        " WHERE id = ?",
        (reason, contact_id),
    )
