"""Recall campaigns: the patients due a visit again, chosen and queued in one statement.

A patient is due when their last completed visit (an appointment marked attended, status
``completed``) ended at or before the cutoff, they have no active appointment (``scheduled`` or
``confirmed``) starting from now on, their number is not on the do-not-call list (in clear, or
as an erased person's keyed hash; the list is the patient's opt-out of calls) and they are not
the anonymous patient erased people's appointments point to (``+999``).

The choice is one ``INSERT ... SELECT`` that walks the patients and only searches the indexes of
the big tables (``appointments_patient_start`` per patient, the do-not-call primary keys), so it
costs one pass over the patients whatever the size of the calendar; the campaign row, its
contacts and the audit record are written in one transaction (nothing at all on any failure).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import aiosqlite

from storage.audit import AuditTrail
from storage.campaigns import insert_campaign
from storage.database import Database
from storage.dialect import is_postgres
from storage.models import Campaign
from storage.patients import ANONYMOUS_PHONE
from storage.privacy_keys import PrivacyKeys
from storage.timefmt import to_db

# Patients due a recall, oldest last visit first (so a --limit takes the longest overdue).
# Parameters: now, anonymous phone, cutoff. {hashed} is the hashed do-not-call test, added only
# when such entries exist (it needs the key). MATERIALIZED: each patient's last visit is
# looked up once (inlined, SQLite would evaluate it again for the ORDER BY).
_DUE = """
WITH known AS MATERIALIZED (
    SELECT p.id AS patient_id, p.phone, p.name, p.language,
        (SELECT max(a.ends_at) FROM appointments a
            WHERE a.patient_id = p.id AND a.status = 'completed') AS last_end
    FROM patients p
    WHERE NOT EXISTS (SELECT 1 FROM appointments f WHERE f.patient_id = p.id
            AND f.starts_at >= ? AND f.status IN ('scheduled', 'confirmed'))
        AND p.phone != ?
        AND NOT EXISTS (SELECT 1 FROM do_not_call d WHERE d.phone = p.phone)
)
SELECT * FROM known WHERE last_end <= ?{hashed}
"""
# Only on the patients already due: one HMAC per candidate, not per patient.
_HASHED = (
    " AND NOT EXISTS (SELECT 1 FROM do_not_call_hashed h"
    " WHERE h.phone_hash = elo_listed_hash(known.phone))"
)


class RecallRepository:
    """Choosing recall contacts (``store.recalls``).

    Args:
        db: The open database.
        keys: The privacy hash key (erased people's do-not-call entries are keyed hashes).
        audit: The audit trail, written in the campaign's transaction.
    """

    def __init__(self, db: Database, keys: PrivacyKeys, audit: AuditTrail) -> None:
        self._db = db
        self._keys = keys
        self._audit = audit

    async def _due_sql(
        self, conn: aiosqlite.Connection, limit: int | None, due_params: list[Any]
    ) -> tuple[str, list[Any]]:
        """The due patients' query, and the parameters its hashed test adds after ``due_params``.

        Args:
            conn: The connection the query will run on.
            limit: At most this many (a ``LIMIT ?`` parameter follows the returned ones).
            due_params: Now, the anonymous phone and the cutoff (see :data:`_DUE`).
        """
        hashed, hashed_params = "", []
        if (await conn.execute_fetchall("SELECT EXISTS (SELECT 1 FROM do_not_call_hashed)"))[0][0]:
            # Fails closed (PrivacyError) when the key is gone, before any row is chosen.
            self._keys.listed_hash("+10000")
            if is_postgres(conn):
                hashed, hashed_params = await self._hashed_out(conn, due_params)
            else:
                await conn.create_function(
                    "elo_listed_hash", 1, self._keys.listed_hash, deterministic=True
                )
                hashed = _HASHED
        sql = _DUE.format(hashed=hashed) + " ORDER BY last_end, patient_id"
        return sql + (" LIMIT ?" if limit is not None else ""), hashed_params

    async def _hashed_out(self, conn: Any, due_params: list[Any]) -> tuple[str, list[Any]]:
        """The hashed test for PostgreSQL, which runs no Python function in SQL.

        The due numbers an erased person's hashed entry blocks are found here (one HMAC per
        candidate, as SQLite's function does) and left out by number: the key never leaves
        this process.
        """
        hashes = {
            row[0]
            for row in await conn.execute_fetchall("SELECT phone_hash FROM do_not_call_hashed")
        }
        candidates = await conn.execute_fetchall(
            f"SELECT phone FROM ({_DUE.format(hashed='')}) AS due",  # noqa: S608
            due_params,
        )
        blocked = [row[0] for row in candidates if self._keys.listed_hash(row[0]) in hashes]
        if not blocked:
            return "", []
        return f" AND known.phone NOT IN ({', '.join('?' * len(blocked))})", blocked

    async def count(self, *, cutoff: datetime, now: datetime, limit: int | None = None) -> int:
        """How many patients a recall built now would queue (``--dry-run``).

        Args:
            cutoff: Last completed visit ended at or before this instant.
            now: Active appointments starting from this instant keep a patient out.
            limit: At most this many.

        Raises:
            PrivacyError: Hashed do-not-call entries exist but their key is missing.
        """
        conn = self._db.conn
        params: list[Any] = [to_db(now), ANONYMOUS_PHONE, to_db(cutoff)]
        sql, hashed_params = await self._due_sql(conn, limit, params)
        params += hashed_params
        if limit is not None:
            params.append(limit)
        rows = await conn.execute_fetchall(f"SELECT count(*) FROM ({sql}) AS due", params)  # noqa: S608
        return int(next(iter(rows))[0])

    async def build(
        self,
        *,
        campaign: dict[str, Any],
        cutoff: datetime,
        now: datetime,
        time_zone: str,
        limit: int | None,
        actor: str,
        audit_detail: dict[str, Any] | None = None,
        place: Callable[[str], tuple[str, str]] | None = None,
        home: str = "+355",
    ) -> tuple[Campaign, int]:
        """Create the campaign and queue its due patients, in one transaction.

        Args:
            campaign: The validated campaign fields (``campaign.setup``), purpose ``recall``.
            cutoff: Last completed visit ended at or before this instant.
            now: Active appointments starting from this instant keep a patient out.
            time_zone: The contacts' zone (the clinic's; patients keep no zone of their own).
            limit: At most this many contacts; None: all.
            actor: Who built it, for the audit trail (``campaign.create``).
            audit_detail: Extra facts for the audit record (no personal data).
            place: The time zone and country of a number from abroad (the calling window and
                public holidays are the callee's); None leaves the clinic's zone and ``AL``.
            home: The clinic country's prefix: numbers with it keep the clinic's zone.

        Returns:
            The campaign and how many contacts it has.

        Raises:
            sqlite3.IntegrityError: The name is taken (nothing written).
            PrivacyError: Hashed do-not-call entries exist but their key is missing.
        """
        async with self._db.transaction() as conn:
            created = await insert_campaign(conn, created_at=to_db(self._db.clock()), **campaign)
            languages = await _contact_languages(conn)
            marks = ", ".join("?" * len(languages))
            due_params: list[Any] = [to_db(now), ANONYMOUS_PHONE, to_db(cutoff)]
            due, hashed_params = await self._due_sql(conn, limit, due_params)
            params: list[Any] = [
                created.id,
                time_zone,
                *languages,
                to_db(self._db.clock()),
                *due_params,
                *hashed_params,
            ]
            if limit is not None:
                params.append(limit)
            cursor = await conn.execute(
                "INSERT INTO campaign_contacts (campaign_id, patient_id, phone, name, time_zone,"  # noqa: S608
                " language, created_at)"
                f" SELECT ?, due.patient_id, due.phone, due.name, ?,"
                f" CASE WHEN due.language IN ({marks}) THEN due.language ELSE 'sq' END, ?"
                # No ON CONFLICT: the campaign is new and patients' numbers are unique, so no
                # contact can collide (and migration 16 makes that key a partial index).
                f" FROM ({due}) AS due",
                params,
            )
            added = cursor.rowcount
            if place is not None:
                # Bounded: only the numbers from abroad of this campaign, a few per clinic.
                abroad = await conn.execute_fetchall(
                    "SELECT id, phone FROM campaign_contacts WHERE campaign_id = ?"
                    " AND phone NOT LIKE ?",
                    (created.id, f"{home}%"),
                )
                await conn.executemany(
                    "UPDATE campaign_contacts SET time_zone = ?, country = ? WHERE id = ?",
                    [(*place(row[1]), row[0]) for row in abroad],
                )
            await self._audit.record(
                actor=actor,
                action="campaign.create",
                subject=f"campaign:{created.id}",
                detail={"purpose": created.purpose, "contacts": added, **(audit_detail or {})},
                conn=conn,
            )
        return created, added


async def _contact_languages(conn: aiosqlite.Connection) -> tuple[str, ...]:
    """The languages a contact may have: Italian once migration 16 allows it, else sq and en.

    Read from the table's own CHECK, so this keeps working before and after that migration.
    PostgreSQL's schema starts at version 16 (storage.schema_pg), so Italian is always there.
    """
    if is_postgres(conn):
        return ("sq", "en", "it")
    rows = await conn.execute_fetchall(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'campaign_contacts'"
    )
    sql = str(next(iter(rows))[0])
    return ("sq", "en", "it") if "'it'" in sql else ("sq", "en")
