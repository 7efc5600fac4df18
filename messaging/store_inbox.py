"""The database behind two-way SMS (:class:`StoreInbox`, an :class:`~messaging.sms_inbox.SmsInbox`).

- confirm: the patient's next upcoming active appointment becomes ``confirmed`` (already
  confirmed: nothing), audited with actor ``sms``;
- decline: a follow-up for staff, reason "declined by SMS", due now, audited;
- stop: the number is opted out of SMS (``store.messages.opt_out``);
- a delivery report: ``store.messages.record_delivery``.

A number that is no patient's is left alone; the log names it only by its keyed hash. The
reply's text never reaches this module.
"""

from __future__ import annotations

from loguru import logger

from messaging.sms_replies import Reply
from storage.calendar_models import NotChangeable, UnknownAppointment
from storage.errors import PrivacyError
from storage.records import RecordFilter
from storage.store import Store

ACTOR = "sms"
DECLINED_REASON = "declined by SMS"
ACTIVE = ("scheduled", "confirmed")


class StoreInbox:
    """Acts on verified SMS events in the database.

    Args:
        store: The open store.
    """

    def __init__(self, store: Store) -> None:
        self._store = store

    async def on_reply(self, *, phone: str, reply: Reply, provider_id: str) -> None:
        """Confirm, decline or opt out for the patient of ``phone`` (see the module docstring)."""
        patient = await self._store.patients.get(phone=phone)
        if patient is None:
            logger.info("SMS reply from a number with no patient ({})", self._hash(phone))
            return
        if reply is Reply.CONFIRM:
            await self._confirm(phone, provider_id)
        elif reply is Reply.DECLINE:
            follow_up, _ = await self._store.follow_ups.create(
                phone=phone,
                name=patient.name,
                due_at=self._store.db.clock(),
                reason=DECLINED_REASON,
                # The follow_ups table takes agent, cli or import: Elo itself made it.
                source="agent",
                language=patient.language,
            )
            await self._store.audit.record(
                actor=ACTOR,
                action="follow_up.create",
                subject=f"follow_up:{follow_up.id}",
                detail={"reason": "sms_declined", "message": provider_id},
            )
        elif reply is Reply.STOP:
            await self._store.messages.opt_out(patient_phone=phone, channel="sms", source="sms")

    async def _confirm(self, phone: str, provider_id: str) -> None:
        upcoming = await self._store.appointments.find(
            RecordFilter(start=self._store.db.clock(), status=ACTIVE, phone=phone, limit=1)
        )
        if not upcoming:
            logger.info("SMS confirmation with no upcoming appointment ({})", self._hash(phone))
            return
        appointment, _ = upcoming[0]
        if appointment.status != "scheduled":
            return
        try:
            # The one confirmation mechanism (calls, SMS, staff): status, when, how, audited in
            # one transaction.
            await self._store.calendar.confirm(
                appointment_id=appointment.id, via="sms", actor=ACTOR
            )
        except (UnknownAppointment, NotChangeable):
            # Cancelled or started between the read and the change: nothing to confirm.
            logger.info("SMS confirmation of an appointment no longer active")

    async def on_status(self, *, provider_id: str, status: str, error_code: str | None) -> None:
        """Record a delivery report of a sent message."""
        await self._store.messages.record_delivery(
            provider_id=provider_id, status=status, error_code=error_code
        )

    def _hash(self, phone: str) -> str:
        try:
            return self._store.privacy.subject_hash(phone)
        except PrivacyError:
            return "no hash key"
