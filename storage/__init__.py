"""The SQLite store: patients, appointments, follow-ups, calls and daily analytics."""

from storage.models import (
    Appointment,
    Booked,
    CallRecord,
    DailyAnalytics,
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
    "FollowUp",
    "Patient",
    "SlotTaken",
    "Stats",
    "Store",
]
