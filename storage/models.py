"""Typed records returned by the store."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from validation.languages import Language

Source = Literal["agent", "cli", "import"]
# Appointments may also be booked by staff at the clinic (storage/migrations_dashboard.py, 13).
AppointmentSource = Literal["agent", "cli", "import", "staff"]
# Do-not-call entries may also be added on the dashboard (storage/migrations_dashboard.py, 14).
DoNotCallSource = Literal["agent", "cli", "import", "web"]
AppointmentStatus = Literal["scheduled", "confirmed", "cancelled", "completed", "no_show"]
FollowUpStatus = Literal["pending", "done", "cancelled"]
CampaignPurpose = Literal["recall", "check_up", "unfinished_treatment", "follow_up", "confirmation"]
# How a patient confirmed an appointment (storage/migrations_messages.py, 16).
ConfirmedVia = Literal["call", "sms", "email", "staff"]
CampaignState = Literal["draft", "running", "paused", "done"]
# What staff asked the service to do with a campaign (see storage/migrations.py, 9).
ServiceState = Literal["manual", "active", "paused", "stopped"]
ContactState = Literal["queued", "done"]
AttemptOutcome = Literal[
    "booked",
    "follow_up",
    "declined",
    "no_answer",
    "busy",
    "voicemail",
    "failed",
    "opted_out",
    "transferred",
]
# A contact speaks one of Elo's patient languages (validation.languages; 'it' is stored once
# migration 16 widens campaign_contacts.language's CHECK).
ContactLanguage = Language


class CallOutcome(StrEnum):
    """How a call ended, as ``calls.outcome`` holds it (a campaign attempt's input, too).

    The rules that pick one live in :mod:`pipeline.call.outcome`.
    """

    COMPLETED = "completed"
    BOOKED = "booked"
    DECLINED = "declined"
    OPTED_OUT = "opted_out"
    FOLLOW_UP = "follow_up"
    VOICEMAIL = "voicemail"
    WRONG_PERSON = "wrong_person"
    TRANSFERRED = "transferred"
    HUNG_UP = "hung_up"
    NO_RESPONSE = "no_response"
    NOT_ANSWERED = "not_answered"
    CANCELLED = "cancelled"
    FAILED = "failed"
    # Never in ``calls``: the call was refused before it started (do-not-call, hourly cap).
    REFUSED = "refused"


class CallDirection(StrEnum):
    """Who placed a call, as ``calls.direction`` holds it."""

    OUTBOUND = "outbound"  # Elo called (a campaign, bot.py, the browser page, a file)
    INBOUND = "inbound"  # someone called the clinic's number and Elo answered


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True)


class Patient(_Record):
    """A patient, identified by an E.164 phone number."""

    id: int
    phone: str
    name: str
    email: str | None
    language: str
    created_at: datetime


class Appointment(_Record):
    """A booked appointment."""

    id: int
    patient_id: int
    service_id: str
    chair: int
    starts_at: datetime
    ends_at: datetime
    status: AppointmentStatus
    price_lek: int
    source: AppointmentSource
    call_id: str | None
    created_at: datetime
    # Why staff cancelled it (free text staff typed; may be None).
    cancel_reason: str | None = None
    # How many times its time or chair changed (a move keeps the id); an invite's SEQUENCE.
    revision: int = 0
    updated_at: datetime | None = None
    # When and how the patient confirmed it (None: not confirmed, or before migration 16).
    confirmed_at: datetime | None = None
    confirmed_via: ConfirmedVia | None = None


class FollowUp(_Record):
    """A callback the clinic owes a patient."""

    id: int
    patient_id: int
    due_at: datetime
    status: FollowUpStatus
    reason: str | None
    source: Source
    call_id: str | None
    created_at: datetime


class DoNotCallEntry(_Record):
    """A number the clinic must never call: patients who asked, and numbers staff added."""

    phone: str
    reason: str | None
    source: DoNotCallSource
    call_id: str | None
    added_at: datetime


class AuditEntry(_Record):
    """One audit record: who did what, when; never the personal data itself."""

    id: int
    at: datetime
    actor: str
    action: str
    subject: str | None
    detail: dict[str, Any] | None


class Campaign(_Record):
    """An outbound calling campaign."""

    id: int
    name: str
    purpose: CampaignPurpose
    notes: str
    status: CampaignState
    max_concurrent_calls: int
    max_attempts: int
    created_at: datetime
    window_days: str | None = None
    window_intervals: str | None = None
    retry_delays: dict[str, int] = {}
    sip_trunk_id: str | None = None
    caller_id: str | None = None
    runner_token: str | None = None
    runner_pid: int | None = None
    runner_host: str | None = None
    runner_seen_at: datetime | None = None
    pause_reason: str | None = None
    service_state: ServiceState = "manual"


class CampaignSummary(_Record):
    """One line of ``elo campaign list``.

    Attributes:
        contacts: Contacts in the campaign.
        queued: Contacts not finished yet.
        running_now: A runner holds the campaign (or died holding it).
    """

    id: int
    name: str
    purpose: CampaignPurpose
    status: CampaignState
    created_at: datetime
    contacts: int
    queued: int
    running_now: bool
    service_state: ServiceState = "manual"


class NewContact(_Record):
    """A contact to add to a campaign, already validated (phone in E.164)."""

    phone: str
    name: str
    time_zone: str = "Europe/Tirane"
    country: str = "AL"
    language: ContactLanguage = "sq"
    priority: int = 0


class CampaignContact(_Record):
    """A person a campaign calls; ``patient_id`` is set when the number is a known patient's."""

    id: int
    campaign_id: int
    patient_id: int | None
    phone: str
    name: str
    time_zone: str
    country: str
    language: ContactLanguage
    priority: int
    created_at: datetime
    state: ContactState = "queued"
    next_call_at: datetime | None = None
    done_reason: str | None = None
    # The appointment a confirmation call is about (confirmation campaigns only).
    appointment_id: int | None = None


class CallAttempt(_Record):
    """One dial of a campaign contact; ``outcome`` and ``ended_at`` stay empty until it ends."""

    id: int
    contact_id: int
    started_at: datetime
    ended_at: datetime | None
    outcome: AttemptOutcome | None
    sip_status: str | None
    call_id: str | None
    duration_s: int | None
    phone: str | None = None
    campaign_id: int | None = None
    room: str | None = None
    system_fault: str | None = None
    runner_token: str | None = None


class CampaignStatus(_Record):
    """How a campaign is doing: counts and rates only, no patient data.

    Rates are over contacts attempted, rounded to 4 places, and 0 when nobody was attempted.
    """

    campaign_id: int
    name: str
    status: CampaignState
    contacts_total: int
    contacts_attempted: int
    attempts: int
    in_progress: int
    outcomes: dict[AttemptOutcome, int]
    contact_rate: float
    booking_rate: float
    revenue_booked_lek: int
    remaining_contacts: int
    queued_contacts: int = 0
    # Attempts the system failed (trunk, credentials, LiveKit), charged to no patient.
    system_faults: int = 0
    # Why the campaign was paused (the fault breaker, a refused set-up, staff), for staff.
    pause_reason: str | None = None
    service_state: ServiceState = "manual"
    # The funnel: contacts_total (queued) -> contacts_attempted (dialled) -> contacts_reached
    # (a person answered) -> contacts_booked; revenue_booked_lek beside it.
    contacts_reached: int = 0
    contacts_booked: int = 0


class ImportCounts(_Record):
    """What adding contacts to a campaign did."""

    imported: int
    merged: int
    on_do_not_call: int


class Booked(_Record):
    """Result of a successful booking."""

    appointment: Appointment
    patient: Patient
    new_patient: bool


class SlotTaken(_Record):
    """Result of a booking that lost the slot to another booking."""

    starts_at: datetime


class CallRecord(_Record):
    """One call, as the pipeline records it."""

    id: str
    patient_id: int | None
    phone: str | None
    direction: CallDirection = CallDirection.OUTBOUND
    started_at: datetime
    ended_at: datetime | None
    outcome: str | None
    outcome_reason: str | None
    transcript: list[dict[str, Any]]
    counters: dict[str, Any]
    turns: int
    tool_calls: int
    appointments_booked: int
    revenue_booked: int


class CallFacts(_Record):
    """What one call left behind, read at once after it ended (or after a crash).

    Attributes:
        call_id: The call.
        recorded: A call row exists (the pipeline started).
        ended: The call row is finished.
        outcome: The call's own outcome once finished, else None.
        bookings: Appointments booked in the call that still stand (not cancelled).
        follow_up_due: The earliest pending follow-up made in the call (a callback the patient
            asked for), if any.
        opted_out: The number asked about is on the do-not-call list now.
        kept: Appointments the patient confirmed or moved in the call (a confirmation call).
    """

    call_id: str
    recorded: bool
    ended: bool
    outcome: str | None
    bookings: int
    follow_up_due: datetime | None
    opted_out: bool
    kept: int = 0


class DailyAnalytics(_Record):
    """One day of the call_analytics roll-up."""

    day: date
    total_calls: int
    appointments_booked: int
    revenue_generated: int
    conversion_rate: float


class Stats(_Record):
    """Aggregates over a period: no patient data."""

    first_day: date | None
    last_day: date | None
    total_calls: int
    appointments_booked: int
    revenue_generated: int
    conversion_rate: float
    upcoming_appointments: int
    pending_follow_ups: int
    patients: int


class LastCampaignCall(_Record):
    """The latest campaign call Elo placed to one number (why the clinic called it).

    Attributes:
        started_at: When the attempt started.
        outcome: How the attempt ended (e.g. ``no_answer``, ``voicemail``), None while open.
        purpose: The campaign's purpose.
        notes: The campaign's notes for the model (may be empty).
        contact_name: The name the campaign called the number for.
        language: The contact's language.
    """

    started_at: datetime
    outcome: AttemptOutcome | None
    purpose: CampaignPurpose
    notes: str
    contact_name: str | None
    language: ContactLanguage


class CallerHistory(_Record):
    """What the clinic knows about one number that calls in: only that number's own facts.

    Attributes:
        patient_name: The name of the patient the number belongs to, if on file.
        patient_language: That patient's language, if on file.
        last_campaign_call: The latest campaign call to the number in the period asked, if any.
        follow_up_due: When the earliest pending callback to this number is due, if any.
        follow_up_reason: Its note, if any.
        do_not_call: The number is on the do-not-call list.
    """

    patient_name: str | None = None
    patient_language: str | None = None
    last_campaign_call: LastCampaignCall | None = None
    follow_up_due: datetime | None = None
    follow_up_reason: str | None = None
    do_not_call: bool = False
