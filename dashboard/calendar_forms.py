"""The Calendar page's helpers: the staff desk over the application, form checks, labels.

The desk (:class:`scheduling.staff_calendar.StaffCalendar`) checks every change against the
clinic's rules and the database decides races; what the page parses itself (a date, a time, a
chair's number) and every refusal code of the desk become a msgid here, translated by the
template, so the person at the desk reads the problem in their language.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from babel.dates import format_date

from app.application import Application
from dashboard.i18n import N_, Language
from scheduling.calendar import ClinicCalendar
from scheduling.calendar_views import ChairDay, TimeRange
from scheduling.slots import BookingRules, SlotFinder
from scheduling.staff_calendar import StaffCalendar
from storage.calendar_models import CalendarEntry, CalendarError

STATUSES = {
    "scheduled": N_("Scheduled"),
    "confirmed": N_("Confirmed"),
    "completed": N_("Attended"),
    "no_show": N_("No-show"),
    "cancelled": N_("Cancelled"),
}
TAKEN = N_("That time was just taken.")
BAD_PHONE = N_("The phone number is not valid.")
BAD_NAME = N_("The name is not valid: give the patient's first and last name in letters.")
BAD_SERVICE = N_("Unknown service.")
BAD_CHAIR = N_("Unknown chair.")
BAD_START = N_("The date or time is not valid.")
BAD_OUTCOME = N_("Unknown outcome.")
BAD_REASON = N_("The reason is too long or not plain text.")
# The desk's refusals by their stable code (storage.calendar_models, scheduling.slots), in the
# user's language: a person never reads the exception's English. Placeholders: error_args().
CODES = {
    "not_found": N_("That appointment does not exist."),
    "wrong_status": N_("That appointment cannot be changed any more."),
    "same_slot": N_("The appointment is already at that time."),
    "not_started": N_("The appointment has not started yet."),
    "bad_phone": BAD_PHONE,
    "bad_name": BAD_NAME,
    "bad_reason": BAD_REASON,
    "unknown_service": BAD_SERVICE,
    "unknown_chair": BAD_CHAIR,
    "no_time_zone": BAD_START,
    "in_past": N_("That time has already passed."),
    "too_soon": N_("That time is too soon to book."),
    "too_far": N_("That time is too far ahead to book."),
    "closed": N_("The clinic is closed on that day."),
    "off_grid": N_("Appointments start every %(step)s minutes, for example at %(example)s."),
    "outside_hours": N_(
        "That time is outside opening hours, or the service would end after closing time."
    ),
    "refused_by_rules": N_(
        "That time cannot be booked: it is in the past, outside opening hours or off the"
        " booking grid."
    ),
}


class FormProblem(ValueError):
    """A field of a calendar form is not valid (its msgid says which)."""


def desk_of(app: Application) -> StaffCalendar:
    """The staff calendar over the application's store, profile, rules and clock."""
    settings = app.settings
    calendar = ClinicCalendar(app.clinic)
    rules = BookingRules(
        min_notice=timedelta(minutes=settings.clinic.min_notice_minutes),
        horizon=timedelta(days=settings.clinic.booking_horizon_days),
    )

    async def occupancy(start: datetime, end: datetime) -> Any:
        return await app.store.appointments.occupancy(start=start, end=end)

    return StaffCalendar(
        store=app.store,
        clinic=app.clinic,
        calendar=calendar,
        slots=SlotFinder(app.clinic, calendar, rules, occupancy),
        clock=app.clock,
        phone_regions=tuple(settings.validation.allowed_phone_regions),
        default_region=settings.validation.default_phone_region,
    )


def code_message(exc: CalendarError) -> str:
    """The msgid for a refusal of the desk (its ``code``; the generic one for a new code)."""
    return CODES.get(exc.code, CODES["refused_by_rules"])


def error_args(app: Application) -> dict[str, Any]:
    """The values the refusals' placeholders take (the clinic's booking grid)."""
    step = app.clinic.slot_minutes
    return {"step": step, "example": f"10:00, 10:{step:02d}" if step < 60 else "10:00, 11:00"}


def items_of(chair: ChairDay) -> list[CalendarEntry | TimeRange]:
    """A chair's appointments and free times on one day, in time order (a week grid's cell)."""
    items: list[CalendarEntry | TimeRange] = [*chair.appointments, *chair.free]
    return sorted(
        items, key=lambda item: item.starts_at if isinstance(item, CalendarEntry) else item.start
    )


def weekday_label(day: date, language: Language) -> str:
    """A week row's day with its weekday, e.g. ``Monday 7 Dec`` / ``e hënë 7 dhj``."""
    return format_date(day, "EEEE d MMM", locale=language)


def parse_day(value: str | None, today: date) -> date:
    """The ``day`` query parameter, or ``today`` when it is missing or not a date."""
    try:
        return date.fromisoformat(value) if value else today
    except ValueError:
        return today


def start_of(app: Application, day: str, at: str) -> datetime:
    """The aware start from a date and a time field."""
    try:
        return datetime.combine(date.fromisoformat(day), time.fromisoformat(at), app.clinic.tz)
    except ValueError:
        raise FormProblem(BAD_START) from None


def chair_of(value: str) -> int | None:
    """The chair field: empty for any chair, else a number (the desk checks the clinic has it)."""
    if not value:
        return None
    if not value.isdigit() or len(value) > 3:
        raise FormProblem(BAD_CHAIR)
    return int(value)


@dataclass(frozen=True)
class BookingForm:
    """The booking form's fields as typed (kept to show again on a problem).

    Only what must be parsed before the desk can be asked is checked here (the date, the time,
    the chair's number); the number, the name and the service are checked by the desk, whose
    refusal codes the page translates (one set of rules).
    """

    phone: str = ""
    name: str = ""
    service: str = ""
    day: str = ""
    time: str = ""
    chair: str = ""

    def check(self, app: Application) -> tuple[datetime, int | None]:
        """Parse the start and the chair.

        Raises:
            FormProblem: The date, time or chair cannot be read.
        """
        return start_of(app, self.day, self.time), chair_of(self.chair)
