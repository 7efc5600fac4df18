"""The typed pages the dashboard reads: figures, lists with their cursors, a call's detail.

No patient's number ever appears in full in a list model (``phone_masked``, from
:func:`validation.phone.mask_phone`); names only where a page asks for them. Money is whole lek,
times are aware (UTC as stored; the web layer shows them in the clinic's zone).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from storage.models import (
    CallDirection,
    CampaignSummary,
    DoNotCallSource,
    FollowUpStatus,
    Source,
)


class _View(BaseModel):
    model_config = ConfigDict(frozen=True)


class DayFigures(_View):
    """One clinic-local day of calls and bookings.

    Attributes:
        day: The local day (Europe/Tirane by default).
        calls: Calls that started that day (every dial, answered or not).
        answered: Of those, calls a person answered (see ``storage.day_figures.ANSWERED``).
        bookings: Appointments made in calls that day that still stand (not cancelled).
        revenue_lek: Their prices, in whole lek.
        conversion: bookings / answered, rounded to 4 places; 0 when nobody answered.
        no_shows: Appointments of that day (by start) marked no-show.
    """

    day: date
    calls: int
    answered: int
    bookings: int
    revenue_lek: int
    conversion: float
    no_shows: int


class CallListItem(_View):
    """One row of the calls list: no transcript, the number masked, a name only if asked."""

    id: str
    started_at: datetime
    ended_at: datetime | None
    direction: CallDirection
    outcome: str | None
    phone_masked: str | None
    patient_id: int | None
    patient_name: str | None = None
    campaign_id: int | None = None
    turns: int
    appointments_booked: int
    revenue_booked: int


class CallPage(_View):
    """A page of calls, newest first; pass ``next_cursor`` back for the next page (None: last)."""

    items: list[CallListItem]
    next_cursor: str | None


class TranscriptLine(_View):
    """One thing said: by the patient or by Elo (``index`` is its place in the stored events)."""

    index: int
    at: datetime | None
    role: Literal["patient", "elo"]
    text: str
    interrupted: bool = False


class ToolCallView(_View):
    """One tool call of a call: its arguments (personal data masked) and how it ended.

    Attributes:
        index: Place of the call event in the stored events.
        result_index: Place of its result event, None while (or if never) answered.
        name: The tool.
        arguments: The arguments, names, numbers and free text masked.
        result_kind: The result's ``status`` (``booked``, ``scheduled`` ...), ``error``, or
            ``pending`` when no result was stored.
    """

    index: int
    result_index: int | None
    at: datetime | None
    name: str
    arguments: dict[str, Any]
    result_kind: str


SummaryKind = Literal[
    "booked",
    "callback_requested",
    "opted_out",
    "transferred",
    "transfer_failed",
    "voicemail",
    "ended",
]
SummarySource = Literal["event", "record"]


class SummaryItem(_View):
    """One sentence of a call's plain summary, as data (the web layer words it per language).

    Each item points at what it was built from: ``source="event"`` and ``event_index`` (a tool
    result in the stored events), or ``source="record"`` (the call row's outcome and reason).

    Kinds and their ``params``:
        booked: ``service_id``, ``service_name``, ``start``, ``end`` (local ISO times),
            ``price_lek``, ``appointment_id``, ``again`` (the same booking confirmed again).
        callback_requested: ``call_back_at`` (local ISO time), ``follow_up_id``.
        opted_out: nothing.
        transferred: nothing.
        transfer_failed: ``follow_up_created`` (bool), ``follow_up_id`` (or None).
        voicemail: ``message_left`` (bool).
        ended: ``by`` (``elo``, ``patient``, ``staff``, ``system``, ``nobody``), ``outcome``,
            ``reason`` (end_call's reason code, or the record's outcome reason).
    """

    kind: SummaryKind
    params: dict[str, str | int | bool | None]
    source: SummarySource
    event_index: int | None = None


class Latency(_View):
    """p50 and p95 of one latency kind over a call, in ms (None: no samples)."""

    samples: int
    p50_ms: float | None
    p95_ms: float | None


class CallDetail(_View):
    """A call's page: its row, what was said, its tool calls, latencies and plain summary."""

    id: str
    started_at: datetime
    ended_at: datetime | None
    direction: CallDirection
    outcome: str | None
    outcome_reason: str | None
    phone_masked: str | None
    patient_id: int | None
    patient_name: str | None = None
    campaign_id: int | None = None
    campaign_name: str | None = None
    turns: int
    appointments_booked: int
    revenue_booked: int
    transcript: list[TranscriptLine]
    tool_calls: list[ToolCallView]
    response_latency: Latency
    pipeline_latency: Latency
    summary: list[SummaryItem]


FollowUpKind = Literal["callback", "transfer_failed", "staff"]


class FollowUpItem(_View):
    """One callback staff owe: why it exists (``kind``), when it is due, whom to call (masked).

    ``kind``: ``callback`` (asked for in a call), ``transfer_failed`` (a transfer to staff
    failed in the call, from the call's stored transfer result), ``staff`` (made at the command
    line or imported). ``reason`` is free text said in the call or typed by staff: show it only
    to signed-in staff.
    """

    id: int
    due_at: datetime
    kind: FollowUpKind
    status: FollowUpStatus
    reason: str | None
    source: Source
    call_id: str | None
    patient_id: int
    phone_masked: str
    patient_name: str | None = None
    created_at: datetime


class FollowUpPage(_View):
    """Pending follow-ups, oldest due first; ``next_cursor`` None on the last page."""

    items: list[FollowUpItem]
    next_cursor: str | None


class FollowUpDone(_View):
    """What marking a follow-up done did: ``changed`` False when it was not pending."""

    id: int
    changed: bool
    status: FollowUpStatus
    done_by: str | None
    done_at: datetime | None


class PatientItem(_View):
    """A patient found by a search: the name, the number masked."""

    id: int
    name: str
    phone_masked: str
    language: str
    created_at: datetime


class PatientPage(_View):
    """A page of patients found; ``next_cursor`` None on the last page."""

    items: list[PatientItem]
    next_cursor: str | None


class RevealedNumber(_View):
    """One patient's full number, shown on request (the caller audits it)."""

    patient_id: int
    phone: str


class DoNotCallItem(_View):
    """One do-not-call entry in the list: ``entry_id`` identifies it for removal."""

    entry_id: int
    phone_masked: str
    reason: str | None
    source: DoNotCallSource
    call_id: str | None
    added_at: datetime


class DoNotCallPage(_View):
    """Do-not-call entries, newest first, and how many erased people's numbers are kept hashed."""

    items: list[DoNotCallItem]
    next_cursor: str | None
    hashed_entries: int


class CampaignPage(_View):
    """Campaigns, newest first, with their contact counts; ``next_cursor`` None on the last page."""

    items: list[CampaignSummary]
    next_cursor: str | None


class PatientAppointment(_View):
    """One of a patient's appointments on their page."""

    id: int
    starts_at: datetime
    ends_at: datetime
    chair: int
    service_id: str
    status: str


class PatientCall(_View):
    """One of a patient's calls on their page (its own page has the rest)."""

    id: str
    started_at: datetime
    direction: CallDirection
    outcome: str | None


class PatientFollowUp(_View):
    """One of a patient's open follow-ups (``reason``: free text, for signed-in staff only)."""

    id: int
    due_at: datetime
    reason: str | None
    call_id: str | None


class PatientRecord(_View):
    """A patient's page: who, the number masked, the do-not-call status and bounded lists.

    Each list holds at most the limit asked for; its ``*_count`` is how many there are.

    Attributes:
        do_not_call: The number's entry on the list in clear (masked), or None.
        do_not_call_hashed: Listed only as an erased person's keyed hash; None when that
            cannot be told (hashed entries exist but their key is missing).
        upcoming: Appointments from now on, soonest first (cancelled ones too, with status).
        past: Appointments that started before now, latest first.
        calls: Calls with the patient or their number, newest first.
        follow_ups: Pending follow-ups, soonest due first.
    """

    id: int
    name: str
    phone_masked: str
    language: str
    created_at: datetime
    do_not_call: DoNotCallItem | None
    do_not_call_hashed: bool | None
    upcoming: list[PatientAppointment]
    upcoming_count: int
    past: list[PatientAppointment]
    past_count: int
    calls: list[PatientCall]
    calls_count: int
    follow_ups: list[PatientFollowUp]
    follow_ups_count: int

    @property
    def on_do_not_call(self) -> bool | None:
        """Whether Elo never calls this number (None: cannot be told, the key is missing)."""
        if self.do_not_call is not None:
            return True
        return self.do_not_call_hashed
