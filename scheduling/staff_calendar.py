"""Staff operations on the calendar, checked against the clinic profile's rules.

:class:`StaffCalendar` is the one place that books, moves, cancels and marks appointments for a
person at the clinic (the dashboard's Calendar page, ``elo appointments mark``) and that issue
13's reschedule and cancel tools reuse. It checks what the clinic profile decides (the service
exists and sets the length, the chair exists, the time is on the grid, inside opening hours and
not in the past); the database decides races (:mod:`storage.calendar`). A lost race answers
with :class:`SlotUnavailable` carrying the nearest free times for the same service, found by
the same :class:`~scheduling.slots.SlotFinder` the model's tools use.

Staff are not held to the notice and horizon limits patients are (a walk-in may be booked for
ten minutes from now, at any future grid time); ``apply_booking_policy=True`` applies them (a
patient's own reschedule). The nearest free times offered after a lost slot follow the same
limits as the change that lost it: for staff, any free grid time from now on.

Every refusal is a :class:`BookingRefused` whose ``code`` names the rule (``bad_phone``,
``bad_name``, ``bad_reason``, ``unknown_service``, ``unknown_chair``, ``no_time_zone``,
``in_past``, ``too_soon``, ``too_far``, ``closed``, ``off_grid``, ``outside_hours``), so a page
shows it in its user's language; the message is one English line for logs and the CLI.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from pydantic import BaseModel, ConfigDict

from config.clinic import ClinicProfile, Service
from config.clock import Clock
from scheduling.calendar import ClinicCalendar
from scheduling.calendar_views import DayView, SlotOption, WeekView, build_day, day_bounds
from scheduling.slots import BookingRules, SlotFinder
from storage import Appointment, Booked, SlotTaken, Store
from storage.calendar_models import BookingRefused, MarkOutcome
from validation import InputError, clean_text, normalize_name, normalize_phone

# Staff may book any future grid time: no notice, and a horizon no clinic reaches.
STAFF_RULES = BookingRules(min_notice=timedelta(0), horizon=timedelta(days=3650))


class SlotUnavailable(BaseModel):
    """A booking or move that lost its slot (or asked for a taken one): nothing was written.

    Attributes:
        starts_at: The time asked for.
        chair: The chair asked for, if one was.
        message: One line for staff, e.g. "10:00 on chair 2 was just taken".
        alternatives: The nearest free times for the same service, in time order.
    """

    model_config = ConfigDict(frozen=True)

    starts_at: datetime
    chair: int | None
    message: str
    alternatives: list[SlotOption]


class StaffCalendar:
    """The calendar as staff use it: day and week views, and the four changes.

    Args:
        store: The database.
        clinic: The clinic profile.
        calendar: Its opening calendar.
        slots: The slot finder the tools use (one mechanism for free times); its notice and
            horizon apply only to changes made with ``apply_booking_policy=True``.
        clock: The current time.
        max_alternatives: How many nearest free times a lost slot offers.
        phone_regions: Regions whose numbers staff may book for.
        default_region: Region of numbers typed without a country code.
    """

    def __init__(
        self,
        *,
        store: Store,
        clinic: ClinicProfile,
        calendar: ClinicCalendar,
        slots: SlotFinder,
        clock: Clock,
        max_alternatives: int = 5,
        phone_regions: tuple[str, ...] = ("AL",),
        default_region: str = "AL",
    ) -> None:
        self._store = store
        self._clinic = clinic
        self._calendar = calendar
        self._slots = slots
        self._staff_slots = slots.with_rules(STAFF_RULES)
        self._clock = clock
        self._max_alternatives = max_alternatives
        self._regions = phone_regions
        self._default_region = default_region

    def now(self) -> datetime:
        """The current time in the clinic's zone."""
        return self._clock().astimezone(self._clinic.tz)

    async def day(self, *, day: date, include_cancelled: bool = False) -> DayView:
        """One local day, per chair: appointments and free times (two indexed range reads)."""
        start, end = day_bounds(day, self._clinic.tz)
        entries = await self._store.calendar.entries(
            start=start, end=end, include_cancelled=include_cancelled
        )
        taken = await self._store.appointments.occupancy(start=start, end=end)
        return build_day(
            day,
            clinic=self._clinic,
            calendar=self._calendar,
            slots=self._slots,
            entries=entries,
            taken=taken,
            now=self.now(),
        )

    async def week(self, *, day: date, include_cancelled: bool = False) -> WeekView:
        """The Monday-to-Sunday week containing ``day`` (two indexed range reads in all)."""
        first = day - timedelta(days=day.weekday())
        start, _ = day_bounds(first, self._clinic.tz)
        _, end = day_bounds(first + timedelta(days=6), self._clinic.tz)
        entries = await self._store.calendar.entries(
            start=start, end=end, include_cancelled=include_cancelled
        )
        taken = await self._store.appointments.occupancy(start=start, end=end)
        now = self.now()
        days = []
        for offset in range(7):
            current = first + timedelta(days=offset)
            days.append(
                build_day(
                    current,
                    clinic=self._clinic,
                    calendar=self._calendar,
                    slots=self._slots,
                    entries=[e for e in entries if e.starts_at.date() == current],
                    taken=taken,
                    now=now,
                )
            )
        return WeekView(first_day=first, days=days)

    async def book(
        self,
        *,
        phone: str,
        name: str,
        service_id: str,
        starts_at: datetime,
        actor: str,
        chair: int | None = None,
        language: str = "sq",
    ) -> Booked | SlotUnavailable:
        """Book for the patient with this number (found, or created with this name).

        Args:
            phone: The number as typed (``069 123 4567`` or E.164).
            name: The patient's name (used only when the number is new).
            service_id: The catalogue id; it sets the length and the price.
            starts_at: The aware start.
            actor: Who books, e.g. ``web:arta``.
            chair: The chair chosen on the page, or None for the first free one.
            language: A new patient's language.

        Returns:
            :class:`Booked`, or :class:`SlotUnavailable` with the nearest free times.

        Raises:
            BookingRefused: Bad number or name, unknown service or chair, or a time the
                clinic's rules refuse.
        """
        try:
            e164 = normalize_phone(
                phone, allowed_regions=self._regions, default_region=self._default_region
            )
        except InputError as exc:
            raise BookingRefused(str(exc), code="bad_phone") from None
        try:
            clean_name = normalize_name(name)
        except InputError as exc:
            raise BookingRefused(str(exc), code="bad_name") from None
        service = self._service(service_id)
        duration = timedelta(minutes=service.duration_minutes)
        self._check(starts_at, duration, chair, policy=False)
        outcome = await self._store.calendar.book(
            phone=e164,
            name=clean_name,
            service_id=service.id,
            starts_at=starts_at,
            ends_at=starts_at + duration,
            slot=self._clinic.slot,
            chairs=self._clinic.chairs,
            price_lek=service.price_lek,
            actor=actor,
            chair=chair,
            language=language,
        )
        if isinstance(outcome, SlotTaken):
            return await self._unavailable(starts_at, duration, chair, policy=False)
        return outcome

    async def move(
        self,
        *,
        appointment_id: int,
        starts_at: datetime,
        actor: str,
        chair: int | None = None,
        apply_booking_policy: bool = False,
    ) -> Appointment | SlotUnavailable:
        """Reschedule: the new slot taken and the old released in one transaction.

        The appointment keeps its id (``revision`` goes up); its length is its service's in the
        catalogue (its own length when the service has left the catalogue).

        Args:
            appointment_id: The appointment.
            starts_at: The new aware start.
            actor: Who moves it.
            chair: The chair chosen, or None (its own chair when free, else the first free).
            apply_booking_policy: Also apply the notice and horizon limits patients have.

        Returns:
            The moved appointment, or :class:`SlotUnavailable` (it keeps its old slot).

        Raises:
            UnknownAppointment, NotChangeable, SameSlot: See :meth:`CalendarRepository.move`.
            BookingRefused: A time or chair the clinic's rules refuse.
        """
        current = await self._store.calendar.get(appointment_id=appointment_id)
        service = self._clinic.services_by_id.get(current.service_id)
        duration = (
            timedelta(minutes=service.duration_minutes)
            if service is not None
            else current.ends_at - current.starts_at
        )
        self._check(starts_at, duration, chair, policy=apply_booking_policy)
        outcome = await self._store.calendar.move(
            appointment_id=appointment_id,
            starts_at=starts_at,
            ends_at=starts_at + duration,
            slot=self._clinic.slot,
            chairs=self._clinic.chairs,
            actor=actor,
            chair=chair,
        )
        if isinstance(outcome, SlotTaken):
            return await self._unavailable(starts_at, duration, chair, policy=apply_booking_policy)
        return outcome

    async def cancel(self, *, appointment_id: int, reason: str | None, actor: str) -> Appointment:
        """Cancel with a reason, kept on the appointment (the audit trail says only that one was).

        Raises:
            BookingRefused: The reason is not clean text of at most 500 characters.
            UnknownAppointment, NotChangeable: See :meth:`CalendarRepository.cancel`.
        """
        return await self._store.calendar.cancel(
            appointment_id=appointment_id, reason=self.clean_reason(reason), actor=actor
        )

    @staticmethod
    def clean_reason(reason: str | None) -> str | None:
        """A cancellation's reason as it is kept: clean text of at most 500 characters, or None.

        Raises:
            BookingRefused: It is longer, or not plain text (code ``bad_reason``).
        """
        try:
            text = clean_text(reason or "", field="reason", max_length=500, required=False)
        except InputError as exc:
            raise BookingRefused(str(exc), code="bad_reason") from None
        return text or None

    async def mark(self, *, appointment_id: int, outcome: MarkOutcome, actor: str) -> Appointment:
        """Mark an appointment that has started as attended or no-show.

        Raises:
            UnknownAppointment, NotStarted, NotChangeable: See :meth:`CalendarRepository.mark`.
        """
        return await self._store.calendar.mark(
            appointment_id=appointment_id, outcome=outcome, actor=actor
        )

    def _service(self, service_id: str) -> Service:
        service = self._clinic.services_by_id.get(service_id)
        if service is None:
            raise BookingRefused(
                f"{service_id!r} is not a service of this clinic"
                f" ({', '.join(self._clinic.service_ids)})",
                code="unknown_service",
            )
        return service

    def _check(
        self, starts_at: datetime, duration: timedelta, chair: int | None, *, policy: bool
    ) -> None:
        if starts_at.tzinfo is None or starts_at.utcoffset() is None:
            raise BookingRefused("the start time needs a time zone", code="no_time_zone")
        if chair is not None and not 1 <= chair <= self._clinic.chairs:
            raise BookingRefused(
                f"chair {chair} does not exist (the clinic has {self._clinic.chairs})",
                code="unknown_chair",
            )
        problem = self._slots.rule_problem(starts_at, duration, self.now(), policy=policy)
        if problem:
            local = starts_at.astimezone(self._clinic.tz)
            raise BookingRefused(
                f"{local:%Y-%m-%d %H:%M} cannot be booked: {problem.message}", code=problem.code
            )

    async def _unavailable(
        self, starts_at: datetime, duration: timedelta, chair: int | None, *, policy: bool
    ) -> SlotUnavailable:
        now = self.now()
        finder = self._slots if policy else self._staff_slots
        nearest = await finder.nearest(
            max(starts_at, now), duration, now, count=self._max_alternatives
        )
        local = starts_at.astimezone(self._clinic.tz)
        where = f" on chair {chair}" if chair is not None else ""
        return SlotUnavailable(
            starts_at=local,
            chair=chair,
            message=f"{local:%Y-%m-%d %H:%M}{where} is taken; pick another time",
            alternatives=[SlotOption.from_slot(s) for s in nearest],
        )
