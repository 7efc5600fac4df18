"""How instants are written to the database: UTC, second precision, fixed width, sortable."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def to_db(moment: datetime) -> str:
    """Format an aware datetime as UTC text, e.g. ``2026-12-03T09:30:00Z``.

    Raises:
        ValueError: The datetime is naive.
    """
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("naive datetime; every stored time must carry a time zone")
    return moment.astimezone(UTC).strftime(_FORMAT)


def from_db(text: str) -> datetime:
    """Parse stored UTC text back into an aware datetime."""
    return datetime.strptime(text, _FORMAT).replace(tzinfo=UTC)


def slot_grid(start: datetime, end: datetime, step: timedelta) -> list[str]:
    """The stored start of every grid slot from ``start`` (included) to ``end`` (excluded).

    One list serves the booking (the ``appointment_slots`` rows it writes) and the health check
    (the rows an active appointment must hold), so the two can never disagree on the grid.
    """
    slots = []
    moment = start
    while moment < end:
        slots.append(to_db(moment))
        moment += step
    return slots
