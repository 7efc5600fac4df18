"""An attempt's end, recorded in one place: by the runner after a call, or on recovery.

:func:`record_attempt` decides the contact's next step and completes the attempt in one
transaction; :func:`recover_open_attempts` closes what a stopped runner left open.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from loguru import logger

from campaign.dialer import Dialer
from campaign.outcomes import RetryDelays, next_step
from config.clock import Clock
from pipeline.call.outcome import attempt_outcome, recovered_outcome
from storage import Store
from storage.models import AttemptOutcome, CallOutcome

# A follow-up due sooner than this after the call is for the clinic's staff (e.g. after a
# failed transfer: "a colleague will call you back"), not a callback for Elo to place.
STAFF_FOLLOW_UP = timedelta(hours=1)


def callback_at_from(due: datetime | None, now: datetime) -> datetime | None:
    """The callback Elo should place, from the follow-up made in the call (if any)."""
    return due if due is not None and due - now >= STAFF_FOLLOW_UP else None


async def record_attempt(
    store: Store,
    *,
    attempt_id: int,
    outcome: AttemptOutcome,
    sip_status: str | None,
    duration_s: int | None,
    now: datetime,
    delays: RetryDelays,
    callback_at: datetime | None = None,
    permanent: bool = False,
    wrong_person: bool = False,
    fault: str | None = None,
) -> None:
    """Complete an attempt and reschedule or close its contact (see :func:`next_step`).

    Args:
        store: The database.
        attempt_id: The attempt.
        outcome: How it ended.
        sip_status: The SIP status of the dial, if any.
        duration_s: The call's length, if it was answered.
        now: When it ended.
        delays: The campaign's retry delays.
        callback_at: A callback the patient asked for, if any.
        permanent: The number can never be reached (no retry).
        wrong_person: The callee was not the patient (no retry).
        fault: A system fault (never charged to the patient's attempts), if any.
    """
    step = next_step(
        outcome,
        now=now,
        delays=delays,
        callback_at=callback_at,
        permanent=permanent,
        wrong_person=wrong_person,
    )
    await store.queue.complete_attempt(
        attempt_id=attempt_id,
        outcome=outcome,
        sip_status=sip_status,
        duration_s=duration_s,
        next_call_at=step.next_call_at,
        done_reason=step.done_reason,
        system_fault=fault,
    )


async def recover_open_attempts(
    *, store: Store, dialer: Dialer, campaign_id: int, delays: RetryDelays, clock: Clock
) -> None:
    """Close the attempts a crashed runner left open, after making sure the calls ended.

    Raises:
        DialerError: LiveKit could not confirm a call ended (dialling again could put the
            number into a second call).
    """
    for attempt in await store.queue.open_attempts(campaign_id=campaign_id):
        if attempt.room:
            # Raises DialerError when LiveKit cannot confirm: dialling again could then put
            # the number into a second call.
            await dialer.hang_up(room=attempt.room)
        outcome: AttemptOutcome = "failed"
        callback_at = None
        wrong_person = False
        if attempt.call_id:
            facts = await store.calls.facts(call_id=attempt.call_id, phone=attempt.phone)
            # A call the pipeline finished before the crash keeps its own outcome.
            # A call the pipeline finished before the stop keeps its own outcome.
            recorded = facts.outcome if facts.ended else None
            call_outcome = recovered_outcome(recorded, booked=facts.bookings)
            wrong_person = call_outcome == CallOutcome.WRONG_PERSON
            outcome = attempt_outcome(
                call_outcome,
                callback=facts.follow_up_due is not None,
                opted_out=facts.opted_out,
            )
            callback_at = callback_at_from(facts.follow_up_due, clock())
            if facts.recorded and not facts.ended:
                await store.calls.finish(
                    call_id=attempt.call_id,
                    outcome=CallOutcome.FAILED,
                    outcome_reason="interrupted: the campaign runner stopped",
                    appointments_booked=facts.bookings,
                )
        await record_attempt(
            store,
            attempt_id=attempt.id,
            outcome=outcome,
            sip_status="interrupted",
            duration_s=None,
            now=clock(),
            delays=delays,
            callback_at=callback_at,
            wrong_person=wrong_person,
        )
        logger.warning("attempt {} was left open by a stopped runner: {}", attempt.id, outcome)
