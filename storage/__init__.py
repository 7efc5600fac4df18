"""The SQLite store: patients, appointments, follow-ups, calls, analytics, do-not-call list."""

from storage.models import (
    Appointment,
    Booked,
    CallRecord,
    DailyAnalytics,
    DoNotCallEntry,
    FollowUp,
    Patient,
    SlotTaken,
    Stats,
)
from storage.store import Store

__all__ = [
    "Appointment",
    "Booked",
    "CallRecord",
    "DailyAnalytics",
    "DoNotCallEntry",
    "FollowUp",
    "Patient",
    "SlotTaken",
    "Stats",
    "Store",
]
