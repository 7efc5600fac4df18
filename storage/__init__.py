"""The SQLite store: patients, appointments, follow-ups, calls, analytics, DNC list, campaigns.

Open a :class:`Store` and use its repositories (``store.patients``, ``store.calls``, ...); the
models they return are exported here too.
"""

from storage.models import (
    Appointment,
    Booked,
    CallAttempt,
    CallFacts,
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
    "CallFacts",
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
