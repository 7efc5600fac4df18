"""Appointments: the chairs taken per grid slot, booking one atomically, and staff searches."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta

import aiosqlite

from storage.call_records import add_daily
from storage.database import Database
from storage.dialect import unindexed
from storage.errors import NotFoundError, PgIntegrityError
from storage.migrations import ACTIVE_STATUSES
from storage.models import Appointment, AppointmentSource, Booked, SlotTaken
from storage.outbox_plan import plan_booked, plan_cancelled
from storage.patients import upsert_patient
from storage.records import PatientRef, RecordFilter, find_with_patient
from storage.rows import slot_time, to_appointment
from storage.timefmt import slot_grid, to_db
from storage.write_retry import LostRace, retry_transient


class SlotTakenError(Exception):
    """The re-check inside a write transaction found no free chair (the transaction rolls back)."""


# PostgreSQL's constraints that refuse a second appointment in a chair's time (schema_pg): the
# slot rows' primary key and the active chair/start index (unique, 23505), and the exclusion
# constraint over the time range (23P01).
SLOT_CONSTRAINTS = frozenset(
    {"appointment_slots_pkey", "appointments_active_chair_start", "appointments_no_overlap"}
)


def is_slot_conflict(exc: sqlite3.IntegrityError) -> bool:
    """Whether the database refused a write because a chair's slot or time is already held."""
    if isinstance(exc, PgIntegrityError):
        return exc.sqlstate in {"23505", "23P01"} and (
            exc.constraint in SLOT_CONSTRAINTS or exc.table == "appointment_slots"
        )
    return "appointment_slots" in str(exc) or "appointments.chair" in str(exc)


async def free_chair(
    conn: aiosqlite.Connection, *, slot_starts: list[str], chairs: int, chair: int | None = None
) -> int:
    """The first chair free in every one of ``slot_starts``, read inside a write transaction.

    Args:
        conn: The connection of an open ``BEGIN IMMEDIATE`` transaction.
        slot_starts: The stored grid slots the appointment needs (see :func:`slot_grid`).
        chairs: Number of chairs in the clinic.
        chair: Only this chair (staff chose it), or None for the first free one.

    Raises:
        SlotTakenError: No chair (or not the chosen one) is free for all of the slots.
    """
    marks = ",".join("?" * len(slot_starts))
    # execute_fetchall: one round trip to the connection thread per statement.
    rows = await conn.execute_fetchall(
        f"SELECT DISTINCT chair FROM appointment_slots WHERE slot_start IN ({marks})",  # noqa: S608
        slot_starts,
    )
    busy = {row[0] for row in rows}
    wanted = [chair] if chair is not None else range(1, chairs + 1)
    free = [c for c in wanted if c not in busy]
    if not free:
        raise SlotTakenError
    return free[0]


async def hold_slots(
    conn: aiosqlite.Connection, *, appointment_id: int, chair: int, slot_starts: list[str]
) -> None:
    """Write the ``appointment_slots`` rows of an active appointment.

    The primary key refuses a slot another appointment holds.
    """
    await conn.executemany(
        "INSERT INTO appointment_slots (chair, slot_start, appointment_id) VALUES (?, ?, ?)",
        [(chair, s, appointment_id) for s in slot_starts],
    )


async def insert_booking(
    conn: aiosqlite.Connection,
    db: Database,
    *,
    phone: str,
    name: str,
    service_id: str,
    starts_at: datetime,
    ends_at: datetime,
    slot: timedelta,
    chairs: int,
    price_lek: int,
    source: AppointmentSource,
    call_id: str | None = None,
    language: str = "sq",
    legacy_key: str | None = None,
    chair: int | None = None,
) -> Booked:
    """Book inside the caller's write transaction (see :meth:`AppointmentRepository.book`).

    Raises:
        SlotTakenError: No chair is free for the whole appointment.
        sqlite3.IntegrityError: The unique indexes refused an overlap (see
            :func:`is_slot_conflict`).
    """
    slot_starts = slot_grid(starts_at, ends_at, slot)
    taken_chair = await free_chair(conn, slot_starts=slot_starts, chairs=chairs, chair=chair)
    now = db.clock()
    patient, created = await upsert_patient(
        conn, now=now, phone=phone, name=name, language=language
    )
    (row,) = await conn.execute_fetchall(
        "INSERT INTO appointments (patient_id, service_id, chair, starts_at, ends_at,"
        " status, price_lek, source, call_id, legacy_key, created_at)"
        " VALUES (?, ?, ?, ?, ?, 'scheduled', ?, ?, ?, ?, ?) RETURNING *",
        (
            patient.id,
            service_id,
            taken_chair,
            to_db(starts_at),
            to_db(ends_at),
            price_lek,
            source,
            call_id,
            legacy_key,
            to_db(now),
        ),
    )
    await hold_slots(conn, appointment_id=row["id"], chair=taken_chair, slot_starts=slot_starts)
    # The outbox rows commit with the booking or not at all; an imported one gets no confirmation.
    await plan_booked(
        conn, db.outbox, appointment_id=row["id"], now=now, confirm=source != "import"
    )
    if source != "import":
        await add_daily(conn, day=now.astimezone(db.tz).date(), booked=1, revenue=price_lek)
    return Booked(appointment=to_appointment(row), patient=patient, new_patient=created)


class AppointmentRepository:
    """The ``appointments`` table and the ``appointment_slots`` each active one holds.

    Args:
        db: The open database.
    """

    def __init__(self, db: Database) -> None:
        self._db = db

    async def occupancy(self, *, start: datetime, end: datetime) -> dict[datetime, frozenset[int]]:
        """Chairs taken per grid slot with ``start <= slot < end``."""
        taken: dict[datetime, set[int]] = {}
        # One round trip to the connection thread (a cursor loop costs three or more), and each
        # slot's text parsed once, not once per chair: this is the hot path of every slot search.
        rows = await self._db.conn.execute_fetchall(
            "SELECT slot_start, chair FROM appointment_slots"
            " WHERE slot_start >= ? AND slot_start < ?",
            (to_db(start), to_db(end)),
        )
        parsed: dict[str, datetime] = {}
        for text, chair in rows:
            slot = parsed.get(text)
            if slot is None:
                slot = parsed[text] = slot_time(text)
            taken.setdefault(slot, set()).add(chair)
        return {slot: frozenset(chairs) for slot, chairs in taken.items()}

    @retry_transient
    async def book(
        self,
        *,
        phone: str,
        name: str,
        service_id: str,
        starts_at: datetime,
        ends_at: datetime,
        slot: timedelta,
        chairs: int,
        price_lek: int,
        source: AppointmentSource,
        call_id: str | None = None,
        language: str = "sq",
        legacy_key: str | None = None,
    ) -> Booked | SlotTaken:
        """Book the first chair free for the whole appointment, atomically.

        The slot is re-checked inside a ``BEGIN IMMEDIATE`` transaction; the unique indexes on
        ``appointment_slots`` and ``appointments`` refuse any overlap that slips past. The
        patient is found or created, and the day's analytics counted, in the same transaction.
        On PostgreSQL the transaction does not take the one-writer lock: every write in it is
        atomic by itself (patient upsert, outbox keys, counters), and the slot key and the
        exclusion constraint refuse the loser of a race, which gets :class:`SlotTaken` too.

        Args:
            phone: Patient's E.164 number (the patient is found or created).
            name: Patient's validated name, used only for a new patient.
            service_id: Catalogue id.
            starts_at: Aware start, on the slot grid.
            ends_at: Aware end.
            slot: The grid step.
            chairs: Number of chairs in the clinic.
            price_lek: Price in whole lek.
            source: Who booked: agent, cli, import or staff.
            call_id: The call that booked it, if any.
            language: The patient's language, for a new patient.
            legacy_key: Idempotency key for imported records.

        Returns:
            :class:`Booked`, or :class:`SlotTaken` when no chair is free.
        """
        try:
            async with self._db.transaction(exclusive=False) as conn:
                booked = await insert_booking(
                    conn,
                    self._db,
                    phone=phone,
                    name=name,
                    service_id=service_id,
                    starts_at=starts_at,
                    ends_at=ends_at,
                    slot=slot,
                    chairs=chairs,
                    price_lek=price_lek,
                    source=source,
                    call_id=call_id,
                    language=language,
                    legacy_key=legacy_key,
                )
        except SlotTakenError:
            return SlotTaken(starts_at=starts_at)
        except sqlite3.IntegrityError as exc:
            if is_slot_conflict(exc):
                # Another chair may still be free: run again on the winner's committed rows.
                raise LostRace(SlotTaken(starts_at=starts_at)) from None
            raise
        return booked

    async def import_past(
        self,
        *,
        phone: str,
        name: str,
        service_id: str,
        starts_at: datetime,
        ends_at: datetime,
        price_lek: int,
        legacy_key: str,
    ) -> Appointment:
        """Record a past appointment from an old system: completed, occupying no slots."""
        async with self._db.transaction() as conn:
            now = self._db.clock()
            patient, _ = await upsert_patient(conn, now=now, phone=phone, name=name)
            async with conn.execute(
                "INSERT INTO appointments (patient_id, service_id, chair, starts_at, ends_at,"
                " status, price_lek, source, legacy_key, created_at)"
                " VALUES (?, ?, 1, ?, ?, 'completed', ?, 'import', ?, ?) RETURNING *",
                (
                    patient.id,
                    service_id,
                    to_db(starts_at),
                    to_db(ends_at),
                    price_lek,
                    legacy_key,
                    to_db(now),
                ),
            ) as cur:
                row = await cur.fetchone()
        return to_appointment(row)

    async def set_status(self, *, appointment_id: int, status: str) -> Appointment:
        """Change an appointment's status; leaving scheduled/confirmed frees its slots.

        Cancelling an active one plans its ``cancelled`` message in the same transaction.

        Raises:
            NotFoundError: No such appointment.
        """
        async with self._db.transaction() as conn:
            old = await conn.execute_fetchall(
                "SELECT status FROM appointments WHERE id = ?", (appointment_id,)
            )
            if not old:
                raise NotFoundError(f"no appointment {appointment_id}")
            (row,) = await conn.execute_fetchall(
                "UPDATE appointments SET status = ? WHERE id = ? RETURNING *",
                (status, appointment_id),
            )
            if status == "cancelled" and old[0][0] in ACTIVE_STATUSES:
                await plan_cancelled(
                    conn, self._db.outbox, appointment_id=appointment_id, now=self._db.clock()
                )
        return to_appointment(row)

    async def list(
        self, *, start: datetime, end: datetime, active_only: bool = True
    ) -> list[Appointment]:
        """Appointments starting in ``[start, end)``, in time order."""
        sql = "SELECT * FROM appointments WHERE starts_at >= ? AND starts_at < ?"
        if active_only:
            # The unary + keeps SQLite on the starts_at index: left to itself it prefers the
            # status index (an equality) and reads every active appointment the clinic has.
            sql += f" AND {unindexed(self._db.conn, 'status')} IN ('scheduled', 'confirmed')"
        rows = await self._db.rows(sql + " ORDER BY starts_at", (to_db(start), to_db(end)))
        return [to_appointment(row) for row in rows]

    async def active_at(
        self, *, phone: str, service_id: str, starts_at: datetime
    ) -> Appointment | None:
        """This number's patient's active appointment for this service starting at this time.

        One indexed read (the patient by number, then their appointments), so asking before
        every booking costs the same however many appointments the clinic holds.
        """
        rows = await self._db.rows(
            "SELECT a.* FROM appointments a JOIN patients p ON p.id = a.patient_id"
            " WHERE p.phone = ? AND a.service_id = ? AND a.starts_at = ?"
            " AND a.status IN ('scheduled', 'confirmed') LIMIT 1",
            (phone, service_id, to_db(starts_at)),
        )
        return to_appointment(rows[0]) if rows else None

    async def upcoming_for(
        self, *, phone: str, since: datetime, limit: int = 20
    ) -> list[Appointment]:
        """This number's patient's active appointments starting at or after ``since``.

        The patient by number (unique index), then their appointments (``appointments_patient``):
        the same cost however many appointments the clinic holds. Only this number's rows.
        """
        rows = await self._db.rows(
            "SELECT a.* FROM appointments a JOIN patients p ON p.id = a.patient_id"
            " WHERE p.phone = ? AND a.starts_at >= ? AND a.status IN ('scheduled', 'confirmed')"
            " ORDER BY a.starts_at, a.id LIMIT ?",
            (phone, to_db(since), limit),
        )
        return [to_appointment(row) for row in rows]

    async def count(self, *, active_only: bool = False) -> int:
        """How many appointments exist (optionally only active ones)."""
        sql = "SELECT count(*) FROM appointments"
        if active_only:
            sql += " WHERE status IN ('scheduled', 'confirmed')"
        return await self._db.scalar(sql)

    async def find(
        self, filters: RecordFilter | None = None
    ) -> list[tuple[Appointment, PatientRef]]:
        """Appointments matching ``filters``, by start time, with their patient."""
        rows = await find_with_patient(self._db, "appointments", "starts_at", filters)
        return [(to_appointment(row), patient) for row, patient in rows]

    async def legacy_keys(self) -> set[str]:
        """Idempotency keys of every record imported so far (appointments and follow-ups).

        One set for both, as the importer keys them from one old system.
        """
        rows = await self._db.rows(
            "SELECT legacy_key FROM appointments WHERE legacy_key IS NOT NULL"
            " UNION SELECT legacy_key FROM follow_ups WHERE legacy_key IS NOT NULL"
        )
        return {row[0] for row in rows}
