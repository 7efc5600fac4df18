"""Starting Elo's voice pipeline for one campaign call.

The runner (:mod:`campaign.runner`) decides whom to call; this module turns a claimed attempt into
a running :class:`pipeline.call.session.CallSession` in the call's LiveKit room, waiting for the
callee to answer before it greets, with the room's SIP participant as its transfer target.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from loguru import logger

from app.application import Application
from campaign.calls import CallEnd, CallJob
from campaign.dialer import Dialer, DialerError
from pipeline.call.session import CallRefusedError, CallSession
from pipeline.call.spec import CallSpec, CallTimeouts
from pipeline.call.transport import CallTransport
from pipeline.metadata import CallMetadata
from pipeline.transports import make_transport
from storage.calendar_models import UnknownAppointment
from storage.models import CallOutcome
from tools.call_port import TransferOutcome
from validation import InputError, normalize_name
from validation.languages import Language, language_of

_PURPOSES = {
    "recall": "recall: the patient is due for a routine visit",
    "check_up": "check-up reminder",
    "unfinished_treatment": "the patient has an unfinished treatment to continue",
    "follow_up": "follow-up after a recent visit",
    # The day and time are added per contact (confirmation_reason); never the service, which
    # can say what is being treated.
    "confirmation": "confirm the patient's upcoming appointment",
}
# The same in the other languages of a contact, so the model reads why it calls in the language
# it speaks; a purpose missing here is told in English (above).
_TRANSLATED_PURPOSES: dict[Language, dict[str, str]] = {
    "sq": {
        "recall": "pacientit i ka ardhur koha për vizitën e rregullt",
        "check_up": "kujtesë për kontrollin",
        "unfinished_treatment": "pacienti ka një trajtim të papërfunduar që duhet vazhduar",
        "follow_up": "kontroll pas vizitës së fundit",
    },
    "it": {
        "recall": "richiamo: per il paziente è ora di una visita di routine",
        "check_up": "promemoria per la visita di controllo",
        "unfinished_treatment": "il paziente ha un trattamento non ancora concluso da proseguire",
        "follow_up": "controllo dopo una visita recente",
    },
}


class RoomTelephony:
    """Transfers the call's SIP participant (the narrow interface CallSession uses).

    Args:
        dialer: The LiveKit dialer.
        room: The call's room.
        participant_identity: The callee's identity in the room.
    """

    def __init__(self, dialer: Dialer, *, room: str, participant_identity: str) -> None:
        self._dialer = dialer
        self._room = room
        self._identity = participant_identity

    async def transfer(self, *, to: str) -> TransferOutcome:
        """Transfer the callee to ``to``; failures come back as ``ok=False``, never raised."""
        try:
            return await self._dialer.transfer(
                room=self._room, participant_identity=self._identity, transfer_to=to
            )
        except DialerError as exc:
            return TransferOutcome(ok=False, reason=str(exc))


def purpose_text(purpose: str, notes: str = "", language: str = "en") -> str:
    """Why a campaign calls, for the model: its purpose and its notes (at most 300 characters).

    Args:
        purpose: The campaign's purpose.
        notes: The campaign's notes (staff's words, in whatever language they wrote).
        language: The language of the text around it (a contact's language, ``en`` by default).

    Returns:
        The purpose in that language (English where it has no translation), then the notes.
    """
    translated = _TRANSLATED_PURPOSES.get(language_of(language), {})
    reason = translated.get(purpose) or _PURPOSES.get(purpose, purpose)
    if notes:
        reason = f"{reason}. {notes}"
    return reason[:300]


def call_reason(job: CallJob) -> str:
    """Why Elo calls, for the model: the campaign's purpose and its notes."""
    return purpose_text(job.campaign.purpose, job.campaign.notes, job.contact.language)


async def confirmation_reason(app: Application, job: CallJob) -> str:
    """Why a confirmation call is placed: the appointment's id, day and time, nothing else.

    Read when the call starts, so an appointment moved since the contact was added is named at
    its new time. The service is left out: its name can be a health detail.
    """
    reason = purpose_text(job.campaign.purpose)
    appointment_id = job.contact.appointment_id
    if appointment_id is None:
        return call_reason(job)
    try:
        appointment = await app.store.calendar.get(appointment_id=appointment_id)
    except UnknownAppointment:
        return reason
    start = appointment.starts_at.astimezone(app.clinic.tz)
    text = (
        f"confirm the appointment (appointment_id {appointment.id}) on {start:%A %Y-%m-%d}"
        f" at {start:%H:%M}"
    )
    return purpose_text(text, job.campaign.notes)


class SessionCall:
    """A :class:`CallSession` running in the background, seen as a runner's ``LiveCall``."""

    def __init__(self, session: CallSession) -> None:
        self.session = session
        # The session sets it when it is in the room, and also when it ends or is refused
        # before that, so a waiter never hangs (see CallSession.ready).
        self.ready = session.ready
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> CallEnd:
        try:
            result = await self.session.run()
        except CallRefusedError as exc:
            return CallEnd(outcome=CallOutcome.REFUSED, reason=str(exc))
        record = result.record
        duration = None
        if record.ended_at is not None:
            duration = max(0, int((record.ended_at - record.started_at).total_seconds()))
        return CallEnd(
            outcome=CallOutcome(record.outcome or CallOutcome.COMPLETED),
            reason=record.outcome_reason,
            duration_s=duration,
        )

    async def callee_answered(self) -> None:
        """Greet now."""
        await self.session.callee_answered()

    async def cancel(self, *, reason: str) -> None:
        """Stop the pipeline."""
        await self.session.cancel(reason=reason)

    async def wait(self) -> CallEnd:
        """Wait for the pipeline to end."""
        return await asyncio.shield(self._task)

    def done(self) -> bool:
        """Whether the pipeline has ended."""
        return self._task.done()


class PipelineLauncher:
    """Starts a CallSession per campaign call.

    Args:
        app: The application whose parts the calls use.
        transport_factory: Builds the call's transport from the job; the default joins the
            call's LiveKit room (tests and rehearsals pass a file transport).
        timeouts: The calls' timeouts.
    """

    def __init__(
        self,
        app: Application,
        *,
        transport_factory: Callable[[CallJob], CallTransport] | None = None,
        timeouts: CallTimeouts | None = None,
    ) -> None:
        self._app = app
        self._transport_factory = transport_factory or self._livekit_transport
        self._timeouts = timeouts or CallTimeouts()

    def _livekit_transport(self, job: CallJob) -> CallTransport:
        return make_transport(self._app.settings, room=job.room)

    async def start(self, job: CallJob) -> SessionCall:
        """Start the pipeline for a call; it greets once told the callee answered."""
        metadata = CallMetadata(
            call_id=job.call_id,
            patient_name=_callable_name(job.contact.name),
            phone=job.contact.phone,
            reason=await confirmation_reason(self._app, job)
            if job.campaign.purpose == "confirmation"
            else call_reason(job),
            language=job.contact.language,
            purpose=job.campaign.purpose,
        )
        spec = CallSpec(
            metadata=metadata,
            transport=self._transport_factory(job),
            wait_for_answer=True,
            telephony=RoomTelephony(
                job.dialer, room=job.room, participant_identity=job.participant_identity
            ),
            timeouts=self._timeouts,
        )
        return SessionCall(CallSession(self._app, spec))


def _callable_name(name: str) -> str | None:
    """A contact's stored name if it is still a name by today's rule, else none.

    Contacts imported before the name rule tightened may hold text that is no longer accepted as
    a name: the call goes ahead addressing "a patient of the clinic" instead of carrying that
    text into the system instruction, or failing on every attempt.
    """
    try:
        return normalize_name(name, field="name")
    except InputError:
        logger.warning("a contact's stored name is not a valid name; calling without it")
        return None
