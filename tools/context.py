"""What every tool handler receives besides its arguments."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

import httpx

from config.clinic import ClinicProfile
from config.clock import Clock, system_clock
from config.settings import AppSettings
from scheduling.calendar import ClinicCalendar
from scheduling.slots import BookingRules, SlotFinder
from storage import Store
from validation.languages import DEFAULT_LANGUAGE, Language, language_of

if TYPE_CHECKING:
    from tools.call_port import CallControl


class ToolMode(StrEnum):
    """Who is calling the tools: the model in a patient call, or staff at the command line."""

    CALL = "call"
    ADMIN = "admin"


@dataclass
class ToolContext:
    """Dependencies of tool handlers. Build with :func:`build_context`.

    Attributes:
        store: The database.
        settings: Application settings.
        clinic: The clinic profile.
        calendar: The clinic's opening calendar.
        clock: Returns the current aware time.
        mode: Patient call or admin.
        language: Language of the conversation (``validation.languages``: sq, en or it).
        call_id: The call the tools run in, if any.
        phone: The E.164 number the call is bound to, if any: set by whoever started the call,
            never by the model. In a call (mode CALL) every tool that writes or reads patient
            data acts on this number only (see tools/identity.py).
        patient_name: The validated name of the patient the call is for, from the call's
            metadata, if any (search_web keeps it out of outgoing queries).
        http: HTTP client for search_web; created lazily when None.
        call_control: Hang-up and similar controls of the live call, if any.
        purpose: The campaign purpose of an outbound campaign call (e.g. ``confirmation``),
            else None: the voicemail message says why the clinic called, never a health detail.
    """

    store: Store
    settings: AppSettings
    clinic: ClinicProfile
    calendar: ClinicCalendar
    clock: Clock = system_clock
    mode: ToolMode = ToolMode.CALL
    language: Language = DEFAULT_LANGUAGE
    call_id: str | None = None
    phone: str | None = None
    http: httpx.AsyncClient | None = None
    call_control: CallControl | None = None
    patient_name: str | None = None
    purpose: str | None = None
    slots: SlotFinder = field(init=False)

    def __post_init__(self) -> None:
        rules = BookingRules(
            min_notice=timedelta(minutes=self.settings.clinic.min_notice_minutes),
            horizon=timedelta(days=self.settings.clinic.booking_horizon_days),
        )

        async def occupancy(start: datetime, end: datetime):
            return await self.store.appointments.occupancy(start=start, end=end)

        self.slots = SlotFinder(self.clinic, self.calendar, rules, occupancy)

    def now(self) -> datetime:
        """The current time in the clinic time zone."""
        return self.clock().astimezone(self.clinic.tz)

    @property
    def source(self) -> str:
        """How records made by tools are labelled: by the agent or at the command line."""
        return "agent" if self.mode is ToolMode.CALL else "cli"


def build_context(
    *,
    store: Store,
    settings: AppSettings,
    clinic: ClinicProfile,
    clock: Clock = system_clock,
    mode: ToolMode = ToolMode.CALL,
    language: str | None = None,
    call_id: str | None = None,
    phone: str | None = None,
    http: httpx.AsyncClient | None = None,
    call_control: CallControl | None = None,
    patient_name: str | None = None,
    purpose: str | None = None,
) -> ToolContext:
    """Assemble a tool context from its parts."""
    lang = language_of(language or settings.pipeline.language)
    return ToolContext(
        store=store,
        settings=settings,
        clinic=clinic,
        calendar=ClinicCalendar(clinic, language=lang),
        clock=clock,
        mode=mode,
        language=lang,
        call_id=call_id,
        phone=phone,
        http=http,
        call_control=call_control,
        patient_name=patient_name,
        purpose=purpose,
    )
