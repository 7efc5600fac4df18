"""Privacy rights in the database: retention, a person's export and erasure, hashed do-not-call.

A mixin of :class:`storage.store.Store`. What is kept and what goes:

* **Retention** (GDPR Art. 5(1)(e)): :meth:`PrivacyMixin.purge_expired` scrubs calls older than
  the retention period (transcript, counters, end reason, number and patient link go; start,
  end, outcome, turns, tool calls, bookings and revenue stay, so the daily ``call_analytics``
  totals and ``elo db check``'s recount of them are unchanged), deletes done or cancelled
  follow-ups, takes the number and room off finished campaign attempts and anonymises finished
  campaign contacts. Attempts and contacts are kept at least as long as the calling rules look
  back (attempt cap window, refusal pause), so purging never lets a number be called sooner.
  Pending follow-ups, open attempts, queued contacts, patients, appointments, the do-not-call
  list and the audit trail are not touched.
* **Access** (Art. 15): :meth:`PrivacyMixin.export_person` gathers every row bound to a number.
* **Erasure** (Art. 17): :meth:`PrivacyMixin.erase_person` deletes the patient and their
  follow-ups, scrubs their calls, anonymises their campaign contacts and attempts (kept as
  anonymous rows so campaign statistics stay correct), cancels their upcoming appointments and
  moves all their appointments to one anonymous placeholder patient (kept for revenue), and
  turns their do-not-call entry into a keyed hash that still blocks the number.

The keyed hash is HMAC-SHA256 of the E.164 number. Its key comes from
``ELO_PRIVACY__HASH_KEY`` or, when that is empty, from a random key kept in a file next to the
database (``<database>.privacy-key``, mode 0600), created the first time a hash is needed. The key
is never stored in the database, so a copy of the database alone cannot be searched for numbers.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiosqlite
from loguru import logger

from storage.timefmt import to_db

if TYPE_CHECKING:
    from config.settings import AppSettings

# The anonymous patient that erased people's appointments point to. +999 is a country code the
# ITU keeps unassigned, so no real number (and no validated input) can ever equal it.
ANONYMOUS_PHONE = "+999"
ANONYMOUS_NAME = "-"
# Anonymised campaign contacts get +999 followed by their own id: unique per campaign (the
# table's UNIQUE (campaign_id, phone)), E.164-shaped (its CHECK), never a real number.
_ANON_CONTACT_PHONE = "'+999' || printf('%011d', id)"
KEY_FILE_SUFFIX = ".privacy-key"
# An unfinished call younger than this may still be live (calls are capped far below it).
_LIVE_CALL_HORIZON = timedelta(hours=6)
# What goes from a call row: everything that says who or what was said. What stays (times,
# outcome, turns, tool calls, bookings, revenue) is what call_analytics rolls up.
_SCRUB_CALL = (
    "transcript = '[]', counters = '{}', outcome_reason = NULL, phone = NULL, patient_id = NULL"
)


class PrivacyError(Exception):
    """A privacy action cannot be done now (e.g. the number is in a call); one line for a person."""


@dataclass(frozen=True)
class PurgeCounts:
    """What a retention purge changed (or would change).

    Attributes:
        calls: Calls whose transcript and details were scrubbed.
        follow_ups: Done or cancelled follow-ups deleted.
        attempts: Finished campaign attempts whose number and room were removed.
        contacts: Finished campaign contacts anonymised.
    """

    calls: int = 0
    follow_ups: int = 0
    attempts: int = 0
    contacts: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counts by name."""
        return asdict(self)


def phone_hash(key: bytes, phone: str) -> str:
    """The keyed hash of an E.164 number: HMAC-SHA256, 64 lowercase hex digits."""
    return hmac.new(key, phone.encode(), hashlib.sha256).hexdigest()


def key_file_for(db_path: Path) -> Path:
    """Where the generated hash key of the database at ``db_path`` is kept."""
    return db_path.with_name(db_path.name + KEY_FILE_SUFFIX)


def load_key_file(path: Path, *, create: bool) -> bytes | None:
    """Read the hash key file, creating it (mode 0600, random 256-bit key) if asked.

    Creation is atomic (written to a private temporary file, then hard-linked into place), so
    two processes creating it at once end up with the same key.

    Args:
        path: The key file.
        create: Create the key when the file does not exist.

    Returns:
        The key, or None when the file does not exist and ``create`` is false.
    """
    # Bytes, not text: no codec is looked up (and imported) on this path.
    try:
        return bytes.fromhex(path.read_bytes().decode().strip())
    except FileNotFoundError:
        if not create:
            return None
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(secrets.token_hex(32).encode() + b"\n")
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return bytes.fromhex(path.read_bytes().decode().strip())


class PrivacyMixin:
    """Privacy methods; the host class provides the connection, clock and transactions."""

    _conn: aiosqlite.Connection
    _clock: Callable[[], datetime]
    _transaction: Callable[[], AbstractAsyncContextManager[aiosqlite.Connection]]
    record_audit: Callable[..., Any]
    # Set by Store.open (configure_privacy_key); a store built without it has no key.
    _privacy_key: bytes | None = None
    _privacy_key_file: Path | None = None

    def configure_privacy_key(self, *, key: str | None, key_file: Path | None) -> None:
        """Say where the hash key comes from: ``key`` (a setting) or else ``key_file``."""
        self._privacy_key = key.encode("utf-8") if key else None
        self._privacy_key_file = key_file

    def _hash_key(self, *, create: bool) -> bytes | None:
        if self._privacy_key is not None:
            return self._privacy_key
        if self._privacy_key_file is None:
            return None
        key = load_key_file(self._privacy_key_file, create=create)
        if key is not None and create:
            self._privacy_key = key
        return key

    def subject_hash(self, phone: str) -> str:
        """The keyed hash of a number, for the do-not-call list and audit subjects.

        Raises:
            PrivacyError: No key is configured and none can be kept next to the database.
        """
        key = self._hash_key(create=True)
        if key is None:
            raise PrivacyError("no privacy hash key: set ELO_PRIVACY__HASH_KEY")
        return phone_hash(key, phone)

    async def _hashed_do_not_call(self, conn: aiosqlite.Connection, phone: str) -> bool:
        """Whether an erased person's hashed do-not-call entry blocks ``phone``.

        Costs one indexed look-up while there are no hashed entries (no key is needed then).

        Raises:
            PrivacyError: Hashed entries exist but their key is gone (the number could be one
                of them, so it must not be called: fail closed).
        """
        rows = await conn.execute_fetchall("SELECT EXISTS (SELECT 1 FROM do_not_call_hashed)")
        if not rows[0][0]:
            return False
        key = self._hash_key(create=False)
        if key is None:
            raise PrivacyError(
                "the do-not-call list holds erased numbers but their hash key is missing:"
                " restore ELO_PRIVACY__HASH_KEY or the .privacy-key file next to the database"
            )
        found = await conn.execute_fetchall(
            "SELECT 1 FROM do_not_call_hashed WHERE phone_hash = ?", (phone_hash(key, phone),)
        )
        return bool(found)

    # --- retention ------------------------------------------------------------------------

    async def purge_expired(
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
        now = self._clock()
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
            "state = 'done' AND phone NOT GLOB '+999*' AND created_at < ?"
            " AND NOT EXISTS (SELECT 1 FROM call_attempts a"
            "   WHERE a.contact_id = campaign_contacts.id"
            "   AND (a.outcome IS NULL OR a.started_at >= ?))"
        )
        plan = (
            ("calls", where_calls, (cutoff,)),
            ("follow_ups", where_follow_ups, (cutoff, cutoff)),
            ("call_attempts", where_attempts, (attempt_cutoff,)),
            ("campaign_contacts", where_contacts, (attempt_cutoff, attempt_cutoff)),
        )
        if dry_run:
            counts = [
                (await self._conn.execute_fetchall(f"SELECT count(*) FROM {t} WHERE {w}", p))[0][0]  # noqa: S608
                for t, w, p in plan
            ]
            return PurgeCounts(*counts)
        async with self._transaction() as conn:
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
                f"UPDATE campaign_contacts SET phone = {_ANON_CONTACT_PHONE},"  # noqa: S608
                f" name = '{ANONYMOUS_NAME}', patient_id = NULL WHERE {where_contacts}",
                (attempt_cutoff, attempt_cutoff),
            )
            counts = PurgeCounts(
                calls=calls.rowcount,
                follow_ups=follow_ups.rowcount,
                attempts=attempts.rowcount,
                contacts=contacts.rowcount,
            )
            await self.record_audit(
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
            ``campaign_contacts``, ``call_attempts`` and ``do_not_call``, as stored (times in
            UTC).
        """
        rows = await self._person_rows(self._conn, phone)
        export: dict[str, Any] = {"phone": phone, **rows}
        export["patient"] = rows["patient"][0] if rows["patient"] else None
        entry = rows["do_not_call"]
        if entry:
            export["do_not_call"] = entry[0]
        elif await self._hashed_do_not_call(self._conn, phone):
            export["do_not_call"] = {"stored_as": "keyed hash (the number itself is not kept)"}
        else:
            export["do_not_call"] = None
        await self.record_audit(
            actor=actor,
            action="privacy.export",
            subject=self.subject_hash(phone),
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
            rows = await self._person_rows(self._conn, phone)
            return _counts(rows)
        subject = self.subject_hash(phone)
        async with self._transaction() as conn:
            rows = await self._person_rows(conn, phone)
            # A live call would write its transcript back after the erasure. A call row left
            # unfinished by a crash long ago is no live call and must not block erasure.
            live_since = to_db(self._clock() - _LIVE_CALL_HORIZON)
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
            await conn.execute(
                f"UPDATE calls SET {_SCRUB_CALL} WHERE phone = ? OR patient_id = ?",  # noqa: S608
                (phone, patient_id),
            )
            marks = ",".join("?" * len(contact_ids))
            await conn.execute(
                f"UPDATE call_attempts SET phone = NULL, room = NULL WHERE phone = ? OR contact_id IN ({marks})",  # noqa: S608, E501
                (phone, *contact_ids),
            )
            await conn.execute(
                f"UPDATE campaign_contacts SET phone = {_ANON_CONTACT_PHONE},"  # noqa: S608
                f" name = '{ANONYMOUS_NAME}', patient_id = NULL, next_call_at = NULL,"
                " done_reason = CASE state WHEN 'queued' THEN 'erased' ELSE done_reason END,"
                f" state = 'done' WHERE id IN ({marks})",
                contact_ids,
            )
            for entry in rows["do_not_call"]:
                await conn.execute(
                    "INSERT INTO do_not_call_hashed (phone_hash, source, added_at, hashed_at)"
                    " VALUES (?, ?, ?, ?) ON CONFLICT(phone_hash) DO NOTHING",
                    (subject, entry["source"], entry["added_at"], to_db(self._clock())),
                )
            await conn.execute("DELETE FROM do_not_call WHERE phone = ?", (phone,))
            if patient_id is not None:
                await conn.execute("DELETE FROM patients WHERE id = ?", (patient_id,))
            await self.record_audit(
                actor=actor, action="privacy.erase", subject=subject, detail=counts, conn=conn
            )
        return counts

    async def _anonymise_appointments(self, conn: aiosqlite.Connection, patient_id: int) -> int:
        """Move a patient's appointments to the anonymous patient; cancel the upcoming ones.

        Returns:
            How many upcoming appointments were cancelled (nobody is left to treat).
        """
        now = to_db(self._clock())
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
            "UPDATE appointments SET call_id = NULL,"
            " patient_id = (SELECT id FROM patients WHERE phone = ?) WHERE patient_id = ?",
            (ANONYMOUS_PHONE, patient_id),
        )
        return cancelled.rowcount


def _counts(rows: dict[str, list[dict[str, Any]]]) -> dict[str, int]:
    return {name: len(items) for name, items in rows.items()}


async def purge_per_settings(
    store: PrivacyMixin, settings: AppSettings, *, actor: str = "system", dry_run: bool = False
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
    return await store.purge_expired(
        retention_days=settings.privacy.retention_days,
        keep_attempts_days=max(calling.attempts_window_days, calling.refusal_pause_days),
        dry_run=dry_run,
        actor=actor,
    )


async def purge_logged(store: PrivacyMixin, settings: AppSettings) -> PurgeCounts | None:
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
    store: PrivacyMixin,
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
