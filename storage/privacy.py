"""Privacy rights in the database: retention, a person's export and erasure, hashed do-not-call.

What is kept and what goes:

* **Retention** (GDPR Art. 5(1)(e)): :meth:`PrivacyRepository.purge` scrubs calls older than
  the retention period (transcript, counters, end reason, number and patient link go; start,
  end, outcome, turns, tool calls, bookings and revenue stay, so the daily ``call_analytics``
  totals and ``elo db check``'s recount of them are unchanged), deletes done or cancelled
  follow-ups, takes the number and room off finished campaign attempts and anonymises finished
  campaign contacts. Attempts and contacts are kept at least as long as the calling rules look
  back (attempt cap window, refusal pause), so purging never lets a number be called sooner.
  Pending follow-ups, open attempts, queued contacts, patients, appointments, the do-not-call
  list and the audit trail are not touched.
* **Access** (Art. 15): :meth:`PrivacyRepository.export_person` gathers every row bound to a number.
* **Erasure** (Art. 17): :meth:`PrivacyRepository.erase_person` deletes the patient and their
  follow-ups, scrubs their calls, anonymises their campaign contacts and attempts (kept as
  anonymous rows so campaign statistics stay correct), cancels their upcoming appointments and
  moves all their appointments to one anonymous placeholder patient (kept for revenue), and
  turns their do-not-call entry into a keyed hash that still blocks the number.

The keyed hash and its key are :mod:`storage.privacy_keys`; the daily purge is
:mod:`storage.retention`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any

import aiosqlite

from storage.audit import AuditTrail
from storage.database import Database
from storage.dialect import is_postgres
from storage.errors import PrivacyError
from storage.patients import ANONYMOUS_NAME, ANONYMOUS_PHONE
from storage.privacy_keys import PrivacyKeys
from storage.timefmt import to_db

# Anonymised campaign contacts get +999 followed by their own id: unique per campaign (the
# table's UNIQUE (campaign_id, phone)), E.164-shaped (its CHECK), never a real number.
_ANON_CONTACT_PHONE = "'+999' || {padded_id}"
# An unfinished call younger than this may still be live (calls are capped far below it).
_LIVE_CALL_HORIZON = timedelta(hours=6)
# What goes from a call row: everything that says who or what was said. What stays (times,
# outcome, turns, tool calls, bookings, revenue) is what call_analytics rolls up.
_SCRUB_CALL = (
    "transcript = '[]', counters = '{}', outcome_reason = NULL, phone = NULL, patient_id = NULL"
)


@dataclass(frozen=True)
class PurgeCounts:
    """What a retention purge changed (or would change).

    Attributes:
        calls: Calls whose transcript and details were scrubbed.
        follow_ups: Done or cancelled follow-ups deleted.
        attempts: Finished campaign attempts whose number and room were removed.
        contacts: Finished campaign contacts anonymised.
        messages: Finished messages (sent, dead, skipped) deleted from the outbox.
    """

    calls: int = 0
    follow_ups: int = 0
    attempts: int = 0
    contacts: int = 0
    messages: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counts by name."""
        return asdict(self)


class PrivacyRepository:
    """Retention, a person's export and erasure, across every table that holds personal data.

    Args:
        db: The open database.
        keys: The privacy hash key (audit subjects, hashed do-not-call entries).
        audit: The audit trail; each action is recorded in the transaction that does it.
    """

    def __init__(self, db: Database, keys: PrivacyKeys, audit: AuditTrail) -> None:
        self._db = db
        self._keys = keys
        self._audit = audit

    def subject_hash(self, phone: str) -> str:
        """The keyed hash of a number, as audit subjects and hashed entries carry it.

        Raises:
            PrivacyError: No key is configured and none can be kept next to the database.
        """
        return self._keys.subject_hash(phone)

    # --- retention ------------------------------------------------------------------------

    async def purge(
        self,
        *,
        retention_days: int,
        keep_attempts_days: int = 0,
        dry_run: bool = False,
        actor: str = "system",
    ) -> PurgeCounts:
        """Remove per-call details older than the retention period (see the module docstring).

        Args:
            retention_days: Calls and follow-ups older than this many days are purged.
            keep_attempts_days: Campaign attempts and contacts keep their numbers at least this
                long (the calling rules' look-back), even if longer than ``retention_days``.
            dry_run: Only count.
            actor: Who runs the purge, for the audit record (``system`` for the scheduler).

        Returns:
            What was (or would be) purged.
        """
        now = self._db.clock()
        cutoff = to_db(now - timedelta(days=retention_days))
        attempt_cutoff = to_db(now - timedelta(days=max(retention_days, keep_attempts_days)))
        where_calls = (
            "started_at < ? AND (transcript != '[]' OR counters != '{}' OR phone IS NOT NULL"
            " OR patient_id IS NOT NULL OR outcome_reason IS NOT NULL)"
        )
        where_follow_ups = "status IN ('done', 'cancelled') AND due_at < ? AND created_at < ?"
        where_attempts = (
            "outcome IS NOT NULL AND started_at < ? AND (phone IS NOT NULL OR room IS NOT NULL)"
        )
        # A finished contact with no attempt (or open attempt) inside the kept period.
        where_contacts = (
            "state = 'done' AND phone NOT LIKE '+999%' AND created_at < ?"
            " AND NOT EXISTS (SELECT 1 FROM call_attempts a"
            "   WHERE a.contact_id = campaign_contacts.id"
            "   AND (a.outcome IS NULL OR a.started_at >= ?))"
        )
        # A finished message row says when the patient had an appointment: it goes with calls.
        where_messages = "status IN ('sent', 'dead', 'skipped') AND created_at < ?"
        plan = (
            ("calls", where_calls, (cutoff,)),
            ("follow_ups", where_follow_ups, (cutoff, cutoff)),
            ("call_attempts", where_attempts, (attempt_cutoff,)),
            ("campaign_contacts", where_contacts, (attempt_cutoff, attempt_cutoff)),
            ("messages", where_messages, (cutoff,)),
        )
        if dry_run:
            counts = [
                await self._db.scalar(f"SELECT count(*) FROM {t} WHERE {w}", p)  # noqa: S608
                for t, w, p in plan
            ]
            return PurgeCounts(*counts)
        async with self._db.transaction() as conn:
            calls = await conn.execute(
                f"UPDATE calls SET {_SCRUB_CALL} WHERE {where_calls}",  # noqa: S608
                (cutoff,),
            )
            follow_ups = await conn.execute(
                f"DELETE FROM follow_ups WHERE {where_follow_ups}",  # noqa: S608
                (cutoff, cutoff),
            )
            attempts = await conn.execute(
                f"UPDATE call_attempts SET phone = NULL, room = NULL WHERE {where_attempts}",  # noqa: S608
                (attempt_cutoff,),
            )
            contacts = await conn.execute(
                f"UPDATE campaign_contacts SET phone = {_anon_contact_phone(conn)},"  # noqa: S608
                f" name = '{ANONYMOUS_NAME}', patient_id = NULL WHERE {where_contacts}",
                (attempt_cutoff, attempt_cutoff),
            )
            messages = await conn.execute(
                f"DELETE FROM messages WHERE {where_messages}",  # noqa: S608
                (cutoff,),
            )
            counts = PurgeCounts(
                messages=messages.rowcount,
                calls=calls.rowcount,
                follow_ups=follow_ups.rowcount,
                attempts=attempts.rowcount,
                contacts=contacts.rowcount,
            )
            await self._audit.record(
                actor=actor,
                action="privacy.purge",
                detail={**counts.as_dict(), "retention_days": retention_days},
                conn=conn,
            )
        return counts

    # --- access ---------------------------------------------------------------------------

    async def export_person(self, *, phone: str, actor: str) -> dict[str, Any]:
        """Everything stored about the person with this E.164 number, JSON-ready (Art. 15).

        The export is recorded in the audit trail (keyed hash and counts, no personal data).

        Args:
            phone: The number, E.164.
            actor: Who asked (the operating-system user).

        Returns:
            ``patient``, ``appointments``, ``follow_ups``, ``calls`` (with transcripts),
            ``campaign_contacts``, ``call_attempts``, ``do_not_call``, ``messages`` and
            ``message_opt_outs``, as stored (times in UTC).
        """
        rows = await self._person_rows(self._db.conn, phone)
        export: dict[str, Any] = {"phone": phone, **rows}
        export["patient"] = rows["patient"][0] if rows["patient"] else None
        entry = rows["do_not_call"]
        if entry:
            export["do_not_call"] = entry[0]
        elif await self._keys.hashed_do_not_call(self._db.conn, phone):
            export["do_not_call"] = {"stored_as": "keyed hash (the number itself is not kept)"}
        else:
            export["do_not_call"] = None
        await self._audit.record(
            actor=actor,
            action="privacy.export",
            subject=self._keys.subject_hash(phone),
            detail=_counts(rows),
        )
        return export

    async def _person_rows(
        self, conn: aiosqlite.Connection, phone: str
    ) -> dict[str, list[dict[str, Any]]]:
        queries = {
            "patient": ("SELECT * FROM patients WHERE phone = ?", (phone,)),
            "appointments": (
                "SELECT a.* FROM appointments a JOIN patients p ON p.id = a.patient_id"
                " WHERE p.phone = ? ORDER BY a.starts_at",
                (phone,),
            ),
            "follow_ups": (
                "SELECT f.* FROM follow_ups f JOIN patients p ON p.id = f.patient_id"
                " WHERE p.phone = ? ORDER BY f.due_at",
                (phone,),
            ),
            "calls": (
                "SELECT * FROM calls WHERE phone = ?"
                " OR patient_id = (SELECT id FROM patients WHERE phone = ?) ORDER BY started_at",
                (phone, phone),
            ),
            "campaign_contacts": (
                "SELECT k.*, c.name AS campaign FROM campaign_contacts k"
                " JOIN campaigns c ON c.id = k.campaign_id WHERE k.phone = ?"
                " OR k.patient_id = (SELECT id FROM patients WHERE phone = ?) ORDER BY k.id",
                (phone, phone),
            ),
            "call_attempts": (
                "SELECT * FROM call_attempts WHERE phone = ? OR contact_id IN"
                " (SELECT id FROM campaign_contacts WHERE phone = ?) ORDER BY started_at",
                (phone, phone),
            ),
            "do_not_call": ("SELECT * FROM do_not_call WHERE phone = ?", (phone,)),
            # The outbox holds no text: what was sent when, on which channel, and how it went.
            "messages": (
                "SELECT m.* FROM messages m JOIN patients p ON p.id = m.patient_id"
                " WHERE p.phone = ? ORDER BY m.id",
                (phone,),
            ),
            "message_opt_outs": (
                "SELECT x.* FROM message_opt_outs x JOIN patients p ON p.id = x.patient_id"
                " WHERE p.phone = ?",
                (phone,),
            ),
        }
        result: dict[str, list[dict[str, Any]]] = {}
        for name, (sql, params) in queries.items():
            rows = [dict(row) for row in await conn.execute_fetchall(sql, params)]
            for row in rows:
                for column in ("transcript", "counters", "retry_delays"):
                    if isinstance(row.get(column), str):
                        row[column] = json.loads(row[column])
            result[name] = rows
        return result

    # --- erasure --------------------------------------------------------------------------

    async def erase_person(
        self, *, phone: str, actor: str, dry_run: bool = False
    ) -> dict[str, int]:
        """Erase the person with this E.164 number (Art. 17); see the module docstring.

        Everything, including the audit record, happens in one transaction.

        Args:
            phone: The number, E.164.
            actor: Who asked (the operating-system user).
            dry_run: Only count what would be erased.

        Returns:
            Counts per kind of record (no personal data).

        Raises:
            PrivacyError: The number is in a call right now (try again after it).
        """
        if dry_run:
            rows = await self._person_rows(self._db.conn, phone)
            return _counts(rows)
        subject = self._keys.subject_hash(phone)
        async with self._db.transaction() as conn:
            rows = await self._person_rows(conn, phone)
            # A live call would write its transcript back after the erasure. A call row left
            # unfinished by a crash long ago is no live call and must not block erasure.
            live_since = to_db(self._db.clock() - _LIVE_CALL_HORIZON)
            if any(row["outcome"] is None for row in rows["call_attempts"]) or any(
                row["ended_at"] is None and row["started_at"] >= live_since for row in rows["calls"]
            ):
                raise PrivacyError("the number is in a call right now: erase it after the call")
            counts = _counts(rows)
            patient_id = rows["patient"][0]["id"] if rows["patient"] else None
            contact_ids = [row["id"] for row in rows["campaign_contacts"]]
            counts["appointments_cancelled"] = 0
            # The placeholder patient is made only when there are appointments to hand it.
            if rows["appointments"] and patient_id is not None:
                counts["appointments_cancelled"] = await self._anonymise_appointments(
                    conn, patient_id
                )
            if patient_id is not None:
                await conn.execute("DELETE FROM follow_ups WHERE patient_id = ?", (patient_id,))
                # Their messages (sent or waiting, the cancellations just planned) and opt-outs.
                await conn.execute("DELETE FROM messages WHERE patient_id = ?", (patient_id,))
                await conn.execute(
                    "DELETE FROM message_opt_outs WHERE patient_id = ?", (patient_id,)
                )
            await conn.execute(
                f"UPDATE calls SET {_SCRUB_CALL} WHERE phone = ? OR patient_id = ?",  # noqa: S608
                (phone, patient_id),
            )
            # PostgreSQL refuses an empty IN (): the contacts' part only when there are some.
            marks = ",".join("?" * len(contact_ids))
            of_contacts = f" OR contact_id IN ({marks})" if contact_ids else ""
            await conn.execute(
                f"UPDATE call_attempts SET phone = NULL, room = NULL WHERE phone = ?{of_contacts}",  # noqa: S608
                (phone, *contact_ids),
            )
            if contact_ids:
                await conn.execute(
                    f"UPDATE campaign_contacts SET phone = {_anon_contact_phone(conn)},"  # noqa: S608
                    f" name = '{ANONYMOUS_NAME}', patient_id = NULL, next_call_at = NULL,"
                    " done_reason = CASE state WHEN 'queued' THEN 'erased' ELSE done_reason END,"
                    f" state = 'done' WHERE id IN ({marks})",
                    contact_ids,
                )
            for entry in rows["do_not_call"]:
                await conn.execute(
                    "INSERT INTO do_not_call_hashed (phone_hash, source, added_at, hashed_at)"
                    " VALUES (?, ?, ?, ?) ON CONFLICT(phone_hash) DO NOTHING",
                    (subject, entry["source"], entry["added_at"], to_db(self._db.clock())),
                )
            await conn.execute("DELETE FROM do_not_call WHERE phone = ?", (phone,))
            if patient_id is not None:
                await conn.execute("DELETE FROM patients WHERE id = ?", (patient_id,))
            await self._audit.record(
                actor=actor, action="privacy.erase", subject=subject, detail=counts, conn=conn
            )
        return counts

    async def _anonymise_appointments(self, conn: aiosqlite.Connection, patient_id: int) -> int:
        """Move a patient's appointments to the anonymous patient; cancel the upcoming ones.

        Returns:
            How many upcoming appointments were cancelled (nobody is left to treat).
        """
        now = to_db(self._db.clock())
        await conn.execute(
            "INSERT INTO patients (phone, name, language, created_at, updated_at)"
            " VALUES (?, ?, 'sq', ?, ?) ON CONFLICT(phone) DO NOTHING",
            (ANONYMOUS_PHONE, ANONYMOUS_NAME, now, now),
        )
        cancelled = await conn.execute(
            "UPDATE appointments SET status = 'cancelled' WHERE patient_id = ?"
            " AND status IN ('scheduled', 'confirmed') AND starts_at >= ?",
            (patient_id, now),
        )
        await conn.execute(
            # cancel_reason is free text staff typed about the person: it goes with them.
            "UPDATE appointments SET call_id = NULL, cancel_reason = NULL,"
            " patient_id = (SELECT id FROM patients WHERE phone = ?) WHERE patient_id = ?",
            (ANONYMOUS_PHONE, patient_id),
        )
        return cancelled.rowcount


def _counts(rows: dict[str, list[dict[str, Any]]]) -> dict[str, int]:
    return {name: len(items) for name, items in rows.items()}


def _anon_contact_phone(conn: object) -> str:
    """SQL for an anonymised contact's number: +999 and its id in 11 digits."""
    padded = "lpad(id::text, 11, '0')" if is_postgres(conn) else "printf('%011d', id)"
    return _ANON_CONTACT_PHONE.format(padded_id=padded)
