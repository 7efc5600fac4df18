"""The Calendar page's helpers: the staff desk over the application, form checks, labels.

Every check here says what is wrong in the user's language before the desk
(:class:`scheduling.staff_calendar.StaffCalendar`) is asked; the desk checks again and the
database decides races. Messages are msgids (translated by the template).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from app.application import Application
from dashboard.i18n import N_
from scheduling.calendar import ClinicCalendar
from scheduling.slots import BookingRules, SlotFinder
from scheduling.staff_calendar import StaffCalendar
from storage.calendar_models import CalendarError
from validation import InputError, normalize_name, normalize_phone

STATUSES = {
    "scheduled": N_("Scheduled"),
    "confirmed": N_("Confirmed"),
    "completed": N_("Attended"),
    "no_show": N_("No-show"),
    "cancelled": N_("Cancelled"),
}
# The desk's refusals by their stable code (storage.calendar_models), in the user's language.
CODES = {
    "not_found": N_("That appointment does not exist."),
    "wrong_status": N_("That appointment cannot be changed any more."),
    "same_slot": N_("The appointment is already at that time."),
    "not_started": N_("The appointment has not started yet."),
    "refused_by_rules": N_(
        "That time cannot be booked: it is in the past, outside opening hours or off the"
        " booking grid."
    ),
}
TAKEN = N_("That time was just taken.")
BAD_PHONE = N_("The phone number is not valid.")
BAD_NAME = N_("The name is not valid: give the patient's first and last name in letters.")
BAD_SERVICE = N_("Unknown service.")
BAD_CHAIR = N_("Unknown chair.")
BAD_START = N_("The date or time is not valid.")
BAD_OUTCOME = N_("Unknown outcome.")
BAD_REASON = N_("The reason is too long or not plain text.")


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
    """The msgid for a refusal of the desk."""
    return CODES.get(exc.code, CODES["refused_by_rules"])


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


def chair_of(app: Application, value: str) -> int | None:
    """The chair field: empty for any chair, else one of the clinic's."""
    if not value:
        return None
    if not value.isdigit() or not 1 <= int(value) <= app.clinic.chairs:
        raise FormProblem(BAD_CHAIR)
    return int(value)


@dataclass(frozen=True)
class BookingForm:
    """The booking form's fields as typed (kept to show again on a problem)."""

    phone: str = ""
    name: str = ""
    service: str = ""
    day: str = ""
    time: str = ""
    chair: str = ""

    def check(self, app: Application) -> tuple[datetime, int | None]:
        """Check every field; returns the start and the chair.

        Raises:
            FormProblem: The first field that is not valid.
        """
        validation = app.settings.validation
        try:
            normalize_phone(
                self.phone,
                allowed_regions=tuple(validation.allowed_phone_regions),
                default_region=validation.default_phone_region,
            )
        except InputError:
            raise FormProblem(BAD_PHONE) from None
        try:
            normalize_name(self.name)
        except InputError:
            raise FormProblem(BAD_NAME) from None
        if self.service not in app.clinic.services_by_id:
            raise FormProblem(BAD_SERVICE)
        return start_of(app, self.day, self.time), chair_of(app, self.chair)
