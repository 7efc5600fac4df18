"""Words for a call's stored codes (outcome, direction, who spoke), shared by the calls pages.

Each value is a msgid, translated where it is shown (``{{ _(outcomes[call.outcome]) }}``).
"""

from __future__ import annotations

from dashboard.i18n import N_
from storage.models import CallDirection, CallOutcome

OUTCOMES: dict[str, str] = {
    CallOutcome.COMPLETED: N_("Completed"),
    CallOutcome.BOOKED: N_("Booked"),
    CallOutcome.DECLINED: N_("Declined"),
    CallOutcome.OPTED_OUT: N_("Opted out"),
    CallOutcome.FOLLOW_UP: N_("Callback asked for"),
    CallOutcome.VOICEMAIL: N_("Answering machine"),
    CallOutcome.WRONG_PERSON: N_("Wrong person"),
    CallOutcome.TRANSFERRED: N_("Transferred to staff"),
    CallOutcome.HUNG_UP: N_("Patient hung up"),
    CallOutcome.NO_RESPONSE: N_("No response"),
    CallOutcome.NOT_ANSWERED: N_("Not answered"),
    CallOutcome.CANCELLED: N_("Cancelled"),
    CallOutcome.FAILED: N_("Failed"),
}
"""Every outcome a call row can hold (``refused`` never is: such a call never started)."""

DIRECTIONS: dict[str, str] = {
    CallDirection.OUTBOUND: N_("Outbound"),
    CallDirection.INBOUND: N_("Inbound"),
}

SPEAKERS: dict[str, str] = {"patient": N_("Patient"), "elo": N_("Elo")}


def outcome_label(outcome: str | None) -> str:
    """The msgid of ``outcome``: in progress when None, the code itself when unknown."""
    if outcome is None:
        return N_("In progress")
    return OUTCOMES.get(outcome, outcome)
