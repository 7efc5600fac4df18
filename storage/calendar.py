"""The staff calendar: what each chair holds; book, move, cancel and mark, audited.

Each change is one transaction with its audit record in it.

The clinic's rules (opening hours, the service's length, the chair exists, not in the past)
are checked above, in :mod:`scheduling.staff_calendar`; what is decided here is what only the
database can decide at the moment of writing: the appointment is still in a state that allows
the change, and the slot is still free (the re-check inside ``BEGIN IMMEDIATE``, and behind it
the primary key of ``appointment_slots`` and the unique index on active chair and start).

A move keeps the appointment's identity: the same row (same id, patient, service, price and
source) gets its new chair and times, its old slots are deleted and its new ones written in
the same transaction, and ``revision`` goes up by one. Whoever holds the id (a confirmation
message, a calendar invite's UID, the audit trail) keeps pointing at the one appointment.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta

import aiosqlite

from storage.appointments import (
    SlotTakenError,
    free_chair,
    hold_slots,
    insert_booking,
    is_slot_conflict,
)
from storage.audit import AuditTrail
from storage.calendar_models import (
    MARKED_STATUS,
    CalendarEntry,
    MarkOutcome,
    NotChangeable,
    NotStarted,
    SameSlot,
    UnknownAppointment,
)
from storage.database import Database
from storage.dialect import for_update, unindexed
from storage.migrations import ACTIVE_STATUSES
from storage.models import Appointment, Booked, ConfirmedVia, SlotTaken
from storage.outbox_plan import plan_cancelled, plan_moved
from storage.rows import to_appointment
from storage.timefmt import from_db, slot_grid, to_db
from storage.write_retry import lost_race, retry_transient
from validation.phone import mask_phone


class CalendarRepository:
    """Reads and changes of appointments for the staff calendar (``store.calendar``).

    Args:
        db: The open database.
        audit: The audit trail; every change writes its record in the change's transaction.
    """

    def __init__(self, db: Database, audit: AuditTrail) -> None:
        self._db = db
        self._audit = audit

    async def entries(
        self, *, start: datetime, end: datetime, include_cancelled: bool = False
    ) -> list[CalendarEntry]:
        """Appointments starting in ``[start, end)``, by chair and start, with their patient.

        One range read on the ``appointments_starts_at`` index (the unary ``+`` keeps SQLite
        off the status index), joined to patients by primary key.
        """
        sql = (
            "SELECT a.id, a.chair, a.service_id, a.starts_at, a.ends_at, a.status, a.source,"
            " a.patient_id, a.revision, a.cancel_reason, p.name, p.phone"
            " FROM appointments a JOIN patients p ON p.id = a.patient_id"
            " WHERE a.starts_at >= ? AND a.starts_at < ?"
        )
        if not include_cancelled:
            sql += f" AND {unindexed(self._db.conn, 'a.status')} != 'cancelled'"
        rows = await self._db.rows(
            sql + " ORDER BY a.chair, a.starts_at, a.id", (to_db(start), to_db(end))
        )
        tz = self._db.tz
        return [
            CalendarEntry(
                id=row["id"],
                chair=row["chair"],
                service_id=row["service_id"],
                starts_at=from_db(row["starts_at"]).astimezone(tz),
                ends_at=from_db(row["ends_at"]).astimezone(tz),
                status=row["status"],
                source=row["source"],
                patient_id=row["patient_id"],
                patient_name=row["name"],
                patient_phone_masked=mask_phone(row["phone"]),
                revision=row["revision"],
                cancel_reason=row["cancel_reason"],
            )
            for row in rows
        ]

    async def get(self, *, appointment_id: int) -> Appointment:
        """One appointment by id.

        Raises:
            UnknownAppointment: No such appointment.
        """
        row = await self._db.row("SELECT * FROM appointments WHERE id = ?", (appointment_id,))
        if row is None:
            raise UnknownAppointment(f"no appointment {appointment_id}")
        return to_appointment(row)

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
        actor: str,
        chair: int | None = None,
        language: str = "sq",
    ) -> Booked | SlotTaken:
        """Book for a patient found or created by number, as staff (``source = 'staff'``).

        The same insert as every other booking (:func:`storage.appointments.insert_booking`),
        with the audit record (``appointment.book``) in its transaction.

        Args:
            phone: The patient's E.164 number.
            name: The validated name, used only for a new patient.
            service_id: The catalogue id.
            starts_at: Aware start on the grid.
            ends_at: Aware end.
            slot: The grid step.
            chairs: Chairs in the clinic.
            price_lek: The service's price.
            actor: Who booked, e.g. ``web:arta``.
            chair: The chair staff chose, or None for the first free one.
            language: The patient's language, for a new patient.

        Returns:
            :class:`Booked`, or :class:`SlotTaken` when the slot (or the chosen chair) is taken.
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
                    source="staff",
                    language=language,
                    chair=chair,
                )
                await self._audit.record(
                    actor=actor,
                    action="appointment.book",
                    subject=f"appointment:{booked.appointment.id}",
                    detail={"chair": booked.appointment.chair, "new_patient": booked.new_patient},
                    conn=conn,
                )
        except SlotTakenError:
            return SlotTaken(starts_at=starts_at)
        except sqlite3.IntegrityError as exc:
            if is_slot_conflict(exc):
                return lost_race(SlotTaken(starts_at=starts_at), chair_chosen=chair is not None)
            raise
        return booked

    @retry_transient
    async def move(
        self,
        *,
        appointment_id: int,
        starts_at: datetime,
        ends_at: datetime,
        slot: timedelta,
        chairs: int,
        actor: str,
        chair: int | None = None,
    ) -> Appointment | SlotTaken:
        """Move an active appointment to a new time (and chair) in one transaction.

        Its old slots are released and the new ones taken together: a move that loses the new
        slot changes nothing. The new time may overlap the old one (a move by half an hour).

        Args:
            appointment_id: The appointment.
            starts_at: The new aware start, on the grid.
            ends_at: The new aware end.
            slot: The grid step.
            chairs: Chairs in the clinic.
            actor: Who moved it.
            chair: The chair staff chose; None keeps the current chair when it is free, else
                the first free one.

        Returns:
            The moved appointment, or :class:`SlotTaken` (nothing changed).

        Raises:
            UnknownAppointment: No such appointment.
            NotChangeable: It is cancelled, completed or a no-show.
            SameSlot: The new chair and start are its current ones.
        """
        slot_starts = slot_grid(starts_at, ends_at, slot)
        try:
            async with self._db.transaction(exclusive=False) as conn:
                old = await self._active(conn, appointment_id, verb="moved", lock=True)
                same_chair = chair is None or chair == old.chair
                if same_chair and old.starts_at == starts_at and old.ends_at == ends_at:
                    raise SameSlot(f"appointment {appointment_id} is already at that time")
                # Its own slots are released first, so a move overlapping itself can succeed.
                await conn.execute(
                    "DELETE FROM appointment_slots WHERE appointment_id = ?", (appointment_id,)
                )
                try:
                    new_chair = await free_chair(
                        conn,
                        slot_starts=slot_starts,
                        chairs=chairs,
                        chair=chair if chair is not None else old.chair,
                    )
                except SlotTakenError:
                    if chair is not None:
                        raise
                    new_chair = await free_chair(conn, slot_starts=slot_starts, chairs=chairs)
                (row,) = await conn.execute_fetchall(
                    "UPDATE appointments SET chair = ?, starts_at = ?, ends_at = ?,"
                    " revision = revision + 1, updated_at = ? WHERE id = ? RETURNING *",
                    (
                        new_chair,
                        to_db(starts_at),
                        to_db(ends_at),
                        to_db(self._db.clock()),
                        appointment_id,
                    ),
                )
                await hold_slots(
                    conn, appointment_id=appointment_id, chair=new_chair, slot_starts=slot_starts
                )
                moved = to_appointment(row)
                await plan_moved(
                    conn, self._db.outbox, appointment_id=appointment_id, now=self._db.clock()
                )
                await self._audit.record(
                    actor=actor,
                    action="appointment.move",
                    subject=f"appointment:{appointment_id}",
                    detail={
                        "from": to_db(old.starts_at),
                        "to": to_db(starts_at),
                        "from_chair": old.chair,
                        "to_chair": new_chair,
                        "revision": moved.revision,
                    },
                    conn=conn,
                )
        except SlotTakenError:
            return SlotTaken(starts_at=starts_at)
        except sqlite3.IntegrityError as exc:
            if is_slot_conflict(exc):
                return lost_race(SlotTaken(starts_at=starts_at), chair_chosen=chair is not None)
            raise
        return moved

    async def cancel(self, *, appointment_id: int, reason: str | None, actor: str) -> Appointment:
        """Cancel an active appointment, keeping the reason; the trigger frees its slots.

        Raises:
            UnknownAppointment: No such appointment.
            NotChangeable: It is already cancelled, completed or a no-show.
        """
        async with self._db.transaction() as conn:
            old = await self._active(conn, appointment_id, verb="cancelled")
            (row,) = await conn.execute_fetchall(
                "UPDATE appointments SET status = 'cancelled', cancel_reason = ?, updated_at = ?"
                " WHERE id = ? RETURNING *",
                (reason, to_db(self._db.clock()), appointment_id),
            )
            await plan_cancelled(
                conn, self._db.outbox, appointment_id=appointment_id, now=self._db.clock()
            )
            await self._audit.record(
                actor=actor,
                action="appointment.cancel",
                subject=f"appointment:{appointment_id}",
                # Whether a reason was given, never its text (staff may have typed anything).
                detail={"previous_status": old.status, "reason_given": reason is not None},
                conn=conn,
            )
        return to_appointment(row)

    async def confirm(self, *, appointment_id: int, via: ConfirmedVia, actor: str) -> Appointment:
        """The patient confirmed they will come: status ``confirmed``, when and how, audited.

        The one mechanism for every channel (a call's ``confirm_appointment``, an SMS reply,
        staff). Confirming a confirmed appointment changes nothing and returns it as it is.

        Args:
            appointment_id: The appointment.
            via: How it was confirmed: call, sms, email or staff.
            actor: Who recorded it, e.g. ``agent:CALL_ID`` or ``web:arta``.

        Raises:
            UnknownAppointment: No such appointment.
            NotChangeable: It is cancelled, completed or a no-show.
        """
        async with self._db.transaction() as conn:
            old = await self._active(conn, appointment_id, verb="confirmed")
            if old.status == "confirmed":
                return old
            now = to_db(self._db.clock())
            (row,) = await conn.execute_fetchall(
                "UPDATE appointments SET status = 'confirmed', confirmed_at = ?,"
                " confirmed_via = ?, updated_at = ? WHERE id = ? RETURNING *",
                (now, via, now, appointment_id),
            )
            await self._audit.record(
                actor=actor,
                action="appointment.confirm",
                subject=f"appointment:{appointment_id}",
                detail={"via": via},
                conn=conn,
            )
        return to_appointment(row)

    async def mark(self, *, appointment_id: int, outcome: MarkOutcome, actor: str) -> Appointment:
        """Record that the patient came (``completed``) or did not (``no_show``).

        Only for an appointment that has started (by the database's clock). An active one, or
        one marked the other way (staff correcting a mistake), may be marked.

        Raises:
            UnknownAppointment: No such appointment.
            NotStarted: It starts in the future.
            NotChangeable: It is cancelled, or already marked so.
        """
        status = MARKED_STATUS[outcome]
        async with self._db.transaction() as conn:
            old = await self._get(conn, appointment_id)
            if old.status == "cancelled" or old.status == status:
                raise NotChangeable(
                    f"appointment {appointment_id} is {old.status.replace('_', '-')}"
                    f" and cannot be marked {outcome.replace('_', '-')}"
                )
            now = self._db.clock()
            if old.starts_at > now:
                raise NotStarted(
                    f"appointment {appointment_id} has not started yet"
                    f" (it starts {old.starts_at.astimezone(self._db.tz):%Y-%m-%d %H:%M})"
                )
            (row,) = await conn.execute_fetchall(
                "UPDATE appointments SET status = ?, updated_at = ? WHERE id = ? RETURNING *",
                (status, to_db(now), appointment_id),
            )
            await self._audit.record(
                actor=actor,
                action=f"appointment.{outcome}",
                subject=f"appointment:{appointment_id}",
                detail={"previous_status": old.status},
                conn=conn,
            )
        return to_appointment(row)

    async def _get(
        self, conn: aiosqlite.Connection, appointment_id: int, *, lock: bool = False
    ) -> Appointment:
        # lock: a move holds the row (PostgreSQL) so a concurrent change waits, then sees it.
        rows = await conn.execute_fetchall(
            "SELECT * FROM appointments WHERE id = ?" + (for_update(conn) if lock else ""),  # noqa: S608
            (appointment_id,),
        )
        if not rows:
            raise UnknownAppointment(f"no appointment {appointment_id}")
        return to_appointment(rows[0])

    async def _active(
        self, conn: aiosqlite.Connection, appointment_id: int, *, verb: str, lock: bool = False
    ) -> Appointment:
        found = await self._get(conn, appointment_id, lock=lock)
        if found.status not in ACTIVE_STATUSES:
            raise NotChangeable(
                f"appointment {appointment_id} is {found.status.replace('_', '-')}"
                f" and cannot be {verb}"
            )
        return found
