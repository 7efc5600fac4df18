"""The SQLite store: patients, appointments, follow-ups, calls, analytics, DNC list, campaigns."""

from storage.models import (
    Appointment,
    Booked,
    CallRecord,
    Campaign,
    CampaignContact,
    DailyAnalytics,
    DoNotCallEntry,
    FollowUp,
    ImportCounts,
    NewContact,
    Patient,
    SlotTaken,
    Stats,
)
from storage.store import Store

__all__ = [
    "Appointment",
    "Booked",
    "CallRecord",
    "Campaign",
    "CampaignContact",
    "DailyAnalytics",
    "DoNotCallEntry",
    "FollowUp",
    "ImportCounts",
    "NewContact",
    "Patient",
    "SlotTaken",
    "Stats",
    "Store",
]
