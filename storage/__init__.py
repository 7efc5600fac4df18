"""The SQLite store: patients, appointments, follow-ups, calls, analytics, DNC list, campaigns."""

from storage.models import (
    Appointment,
    Booked,
    CallAttempt,
    CallRecord,
    Campaign,
    CampaignContact,
    CampaignStatus,
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
    "CallAttempt",
    "CallRecord",
    "Campaign",
    "CampaignContact",
    "CampaignStatus",
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
