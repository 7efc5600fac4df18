"""The ``.ics`` calendar invite of an appointment email (RFC 5545/5546, the icalendar package).

One event per appointment for its whole life: the UID ``appt-{id}@{domain}`` never changes
(a move keeps the appointment's id), ``SEQUENCE`` is the appointment's ``revision`` (a move
raises it, so calendars replace the old time), ``METHOD:REQUEST`` for a booking or a move and
``METHOD:CANCEL`` with ``STATUS:CANCELLED`` for a cancellation. Times carry ``TZID`` of the
clinic's zone with its ``VTIMEZONE``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Literal
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event, vCalAddress

Method = Literal["REQUEST", "CANCEL"]


def event_uid(appointment_id: int, domain: str) -> str:
    """The appointment's stable calendar UID."""
    return f"appt-{appointment_id}@{domain}"


def build_invite(
    *,
    appointment_id: int,
    revision: int,
    method: Method,
    starts_at: datetime,
    ends_at: datetime,
    tz: ZoneInfo,
    summary: str,
    location: str,
    organizer: str,
    attendee: str,
    domain: str,
    now: datetime,
) -> bytes:
    """The invite as iCalendar bytes.

    Args:
        appointment_id: The appointment (names the UID).
        revision: The appointment's revision (the SEQUENCE).
        method: REQUEST (booked, moved) or CANCEL.
        starts_at: Start (aware); written in ``tz``.
        ends_at: End (aware).
        tz: The clinic's zone.
        summary: The event's title (the clinic, never the service).
        location: The clinic's address.
        organizer: The clinic's email address.
        attendee: The patient's email address.
        domain: The clinic's domain, for the UID.
        now: DTSTAMP.
    """
    calendar = Calendar()
    calendar.add("prodid", "-//Elo//Patient messages//EN")
    calendar.add("version", "2.0")
    calendar.add("method", method)
    event = Event()
    event.add("uid", event_uid(appointment_id, domain))
    event.add("sequence", revision)
    event.add("dtstamp", now.astimezone(UTC))
    event.add("dtstart", starts_at.astimezone(tz))
    event.add("dtend", ends_at.astimezone(tz))
    event.add("summary", summary)
    event.add("location", location)
    event.add("status", "CANCELLED" if method == "CANCEL" else "CONFIRMED")
    event.add("organizer", vCalAddress(f"mailto:{organizer}"))
    guest = vCalAddress(f"mailto:{attendee}")
    guest.params["ROLE"] = "REQ-PARTICIPANT"
    guest.params["RSVP"] = "FALSE"
    event.add("attendee", guest)
    calendar.add_component(event)
    # The VTIMEZONE of every TZID used, built from the zone database for the years around the
    # appointment (the whole 1970-2038 default makes a 4 kB attachment).
    year = starts_at.astimezone(tz).year
    calendar.add_missing_timezones(first_date=date(year - 1, 1, 1), last_date=date(year + 2, 1, 1))
    return calendar.to_ical()
