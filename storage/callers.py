"""Who is calling in: what the clinic knows about the one number a patient calls from.

An inbound call is bound to the caller's number (as LiveKit's SIP bridge reports it); Elo
greets a returning patient with the reason the clinic last called that number. Every read here
is keyed by that number alone, so nothing about another patient can reach the call.
"""

from __future__ import annotations

from datetime import datetime

from storage.database import Database
from storage.do_not_call import is_listed
from storage.models import CallerHistory, LastCampaignCall
from storage.privacy_keys import PrivacyKeys
from storage.timefmt import from_db, to_db

# The latest attempt that reached the phone network: a fault of the system (trunk, credentials,
# LiveKit) never rang the patient, so it is no reason for them to call back. The index
# call_attempts_phone_started answers it.
_LAST_ATTEMPT = """
SELECT a.started_at, a.outcome, c.purpose, c.notes, k.name, k.language
FROM call_attempts a
JOIN campaigns c ON c.id = a.campaign_id
JOIN campaign_contacts k ON k.id = a.contact_id
WHERE a.phone = ? AND a.started_at >= ? AND a.system_fault IS NULL
ORDER BY a.started_at DESC, a.id DESC
LIMIT 1
"""
_PENDING_FOLLOW_UP = """
SELECT f.due_at, f.reason FROM follow_ups f JOIN patients p ON p.id = f.patient_id
WHERE p.phone = ? AND f.status = 'pending'
ORDER BY f.due_at, f.id
LIMIT 1
"""


class CallerRepository:
    """Reads about one calling number.

    Args:
        db: The open database.
        keys: The privacy hash key (an erased person's number stays on the do-not-call list).
    """

    def __init__(self, db: Database, keys: PrivacyKeys) -> None:
        self._db = db
        self._keys = keys

    async def history(self, *, phone: str, since: datetime) -> CallerHistory:
        """The clinic's facts about ``phone``: its patient, last campaign call, open callback.

        Args:
            phone: The caller's number, E.164.
            since: Campaign calls before this are too old to be why the caller calls.

        Returns:
            The facts; empty when the number is unknown.
        """
        patient = await self._db.row(
            "SELECT name, language FROM patients WHERE phone = ?", (phone,)
        )
        attempt = await self._db.row(_LAST_ATTEMPT, (phone, to_db(since)))
        follow_up = await self._db.row(_PENDING_FOLLOW_UP, (phone,))
        last = None
        if attempt is not None:
            last = LastCampaignCall(
                started_at=from_db(attempt["started_at"]),
                outcome=attempt["outcome"],
                purpose=attempt["purpose"],
                notes=attempt["notes"],
                # Anonymised by a retention purge or an erasure: no name to greet with.
                contact_name=attempt["name"] or None,
                language=attempt["language"],
            )
        return CallerHistory(
            patient_name=patient["name"] if patient else None,
            patient_language=patient["language"] if patient else None,
            last_campaign_call=last,
            follow_up_due=from_db(follow_up["due_at"]) if follow_up else None,
            follow_up_reason=follow_up["reason"] if follow_up else None,
            do_not_call=await is_listed(self._db.conn, self._keys, phone),
        )
