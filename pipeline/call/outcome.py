"""The outcome rules of a call, in one place.

A call records one :class:`~storage.models.CallOutcome` in ``calls``; a campaign attempt records
one of the nine :data:`~storage.models.AttemptOutcome`. This module holds every rule between
them: what the model's end_call reason means, which cause wins when several end a call, what a
booking or a dial nobody answered makes of it, and what an answered call means for the campaign
attempt it served. Pure code, no storage: the session records, the campaign runner schedules
(:mod:`campaign.outcomes`).
"""

from __future__ import annotations

from storage.models import AttemptOutcome, CallOutcome

# end_call reasons that are outcomes in their own right (others become "completed").
_END_REASONS: dict[str, CallOutcome] = {
    "declined": CallOutcome.DECLINED,
    "opted_out": CallOutcome.OPTED_OUT,
    "voicemail": CallOutcome.VOICEMAIL,
    "wrong_person": CallOutcome.WRONG_PERSON,
    "call_back_later": CallOutcome.FOLLOW_UP,
}
# Outcomes a booking made during the call does not turn into "booked".
_KEPT_OVER_BOOKING = frozenset({CallOutcome.FAILED, CallOutcome.OPTED_OUT})
# Call outcomes that are attempt outcomes as they are.
_SAME_FOR_ATTEMPT: dict[CallOutcome, AttemptOutcome] = {
    CallOutcome.BOOKED: "booked",
    CallOutcome.TRANSFERRED: "transferred",
    CallOutcome.VOICEMAIL: "voicemail",
}
# Answered calls that ended without a booking or a callback: declined, the strict reading of
# the calling rules, which pauses calls after a refusal.
_DECLINED = frozenset({CallOutcome.DECLINED, CallOutcome.COMPLETED, CallOutcome.HUNG_UP})


def end_call_outcome(reason: str) -> CallOutcome:
    """The outcome of a call the model ended with end_call for ``reason``."""
    return _END_REASONS.get(reason, CallOutcome.COMPLETED)


class OutcomeLatch:
    """Why a call ended: the first cause wins (a failure after the patient hung up is a hang-up)."""

    def __init__(self) -> None:
        self._cause: tuple[CallOutcome, str | None] | None = None

    def set(self, outcome: CallOutcome, reason: str | None = None) -> None:
        """Record a cause, unless an earlier one has been recorded."""
        if self._cause is None:
            self._cause = (outcome, reason)

    def final(self, *, answered: bool, bookings: int) -> tuple[CallOutcome, str | None]:
        """The outcome and reason the call records.

        Args:
            answered: The callee picked up.
            bookings: Appointments booked during the call.

        Returns:
            The first cause (``completed`` when there was none). A dial nobody picked up is
            ``not_answered``: an attempt, not a conversation, kept out of the call statistics.
            A call that booked is ``booked`` unless it failed or the patient opted out.
        """
        outcome, reason = self._cause or (CallOutcome.COMPLETED, None)
        if not answered:
            outcome = CallOutcome.NOT_ANSWERED
        if bookings and outcome not in _KEPT_OVER_BOOKING:
            outcome = CallOutcome.BOOKED
        return outcome, reason


def recovered_outcome(recorded: str | None, *, booked: int) -> CallOutcome:
    """The outcome of a call a stopped campaign runner left behind.

    Args:
        recorded: The outcome the pipeline recorded, if it finished the call before the stop.
        booked: Appointments booked during the call.

    Returns:
        The recorded outcome; else ``booked`` when the call booked, else ``failed``.
    """
    if recorded:
        return CallOutcome(recorded)
    return CallOutcome.BOOKED if booked else CallOutcome.FAILED


def attempt_outcome(
    call_outcome: CallOutcome, *, callback: bool, opted_out: bool, kept: bool = False
) -> AttemptOutcome:
    """The attempt outcome of an answered call.

    Args:
        call_outcome: The outcome the pipeline recorded for the call.
        callback: A follow-up (a callback the patient asked for) was made during the call.
        opted_out: The number is on the do-not-call list now.
        kept: The patient confirmed or moved an appointment in the call (a confirmation
            call): ``booked`` (the appointment stands), never a refusal that would pause the
            next confirmation call to the number.

    Returns:
        The attempt outcome. An opt-out wins over everything; then a booking; then a callback.
        A call the patient ended, or that ended without a booking or a callback, counts as
        declined: the strict reading of the calling rules, which pauses calls after a refusal.
        Silence is no answer; anything else (a failure, an operator stop) is a failure.
    """
    if opted_out or call_outcome == CallOutcome.OPTED_OUT:
        return "opted_out"
    if call_outcome in _SAME_FOR_ATTEMPT:
        return _SAME_FOR_ATTEMPT[call_outcome]
    if callback or call_outcome == CallOutcome.FOLLOW_UP:
        return "follow_up"
    if kept and call_outcome in _DECLINED:
        return "booked"
    if call_outcome in _DECLINED:
        return "declined"
    if call_outcome == CallOutcome.NO_RESPONSE:
        return "no_answer"
    return "failed"
