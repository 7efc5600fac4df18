"""What the staff calendar reads and the typed refusals of its changes.

Every refusal is a :class:`CalendarError` with a one-line message for a person and a stable
``code``; nothing was written when one is raised.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from storage.models import AppointmentStatus

# What staff record about an appointment that has started.
MarkOutcome = Literal["attended", "no_show"]
MARKED_STATUS: dict[str, AppointmentStatus] = {"attended": "completed", "no_show": "no_show"}


class CalendarError(Exception):
    """A staff change that cannot be made; the message is one line for a person.

    Nothing was written when one is raised.

    Attributes:
        code: A stable machine-readable reason (for the web page and tools).
    """

    code = "refused"


class UnknownAppointment(CalendarError):
    """No appointment has this id."""

    code = "not_found"


class NotChangeable(CalendarError):
    """The appointment's status does not allow the change (e.g. cancelling a cancelled one)."""

    code = "wrong_status"


class SameSlot(CalendarError):
    """A move onto the appointment's own current chair and time."""

    code = "same_slot"


class NotStarted(CalendarError):
    """Marking attended or no-show an appointment that has not started yet."""

    code = "not_started"


class BookingRefused(CalendarError):
    """The clinic's rules refuse the change (closed, outside hours, in the past, no such chair).

    Its ``code`` says which rule, for a page that shows the refusal in its user's language:
    ``bad_phone``, ``bad_name``, ``bad_reason``, ``unknown_service``, ``unknown_chair``,
    ``no_time_zone``, ``in_past``, ``too_soon``, ``too_far``, ``closed``, ``off_grid``,
    ``outside_hours``; ``refused_by_rules`` when none is given.
    """

    code = "refused_by_rules"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class CalendarEntry(BaseModel):
    """One appointment as the staff calendar shows it.

    Attributes:
        id: The appointment id.
        chair: The chair (1-based).
        service_id: The catalogue id.
        starts_at: Start, aware, in the clinic's time zone.
        ends_at: End, aware, in the clinic's time zone.
        status: scheduled, confirmed, completed, no_show (cancelled ones only when asked).
        source: Who booked it: agent (Elo), cli, import or staff.
        patient_id: The patient, for a page that reveals the number on request (audited).
        patient_name: The patient's name (personal data: for signed-in staff only).
        patient_phone_masked: The number with its middle masked, e.g. ``+355*******67``.
        revision: How many times it was moved.
        cancel_reason: Why staff cancelled it, if they did.
    """

    model_config = ConfigDict(frozen=True)

    id: int
    chair: int
    service_id: str
    starts_at: datetime
    ends_at: datetime
    status: AppointmentStatus
    source: str
    patient_id: int
    patient_name: str
    patient_phone_masked: str
    revision: int
    cancel_reason: str | None
