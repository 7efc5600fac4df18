"""An attempt's end, recorded in one place: by the runner after a call, or on recovery.

:class:`AttemptEnd` is what is known of an attempt when it ends; :func:`settle_from_call` fills
in what the call itself did (from one read of its facts); :func:`record_attempt` decides the
contact's next step and completes the attempt in one transaction. The runner uses them after each
call, and :func:`recover_attempts` for what a stopped runner left open.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from loguru import logger

from campaign.dialer import Dialer
from campaign.outcomes import RetryDelays, next_step
from config.clock import Clock
from pipeline.call.outcome import attempt_outcome, recovered_outcome
from storage import Store
from storage.campaign_queue import NOT_DIALLED
from storage.models import AttemptOutcome, CallAttempt, CallFacts, CallOutcome
from telemetry import ErrorKind
from telemetry import record as metrics

# A follow-up due sooner than this after the call is for the clinic's staff (e.g. after a
# failed transfer: "a colleague will call you back"), not a callback for Elo to place.
STAFF_FOLLOW_UP = timedelta(hours=1)
# Pauses (seconds) between tries of a step the database failed: about a lease in all.
RECORD_RETRY_S = (0.5, 1.0, 2.0, 4.0)

T = TypeVar("T")


async def with_retries(step: Callable[[], Awaitable[T]], *, what: str) -> T:
    """Run one database step of an attempt's end, trying again while the database fails it.

    A dropped connection or a busy database (``sqlite3.OperationalError``) is tried again after
    each pause of :data:`RECORD_RETRY_S`; the steps are reads, or all-or-nothing writes that
    change nothing the second time. An attempt's end must not be lost or mislabelled for a
    moment's failure: a booked patient recorded as a failed call would be called again.

    Args:
        step: The step, started anew on each try.
        what: What it does, for the log.

    Returns:
        The step's result.

    Raises:
        sqlite3.OperationalError: The database still failed it after the last pause.
    """
    for pause in (*RECORD_RETRY_S, None):
        try:
            return await step()
        except sqlite3.OperationalError as exc:
            if pause is None:
                raise
            logger.warning("could not {} ({}); trying again", what, type(exc).__name__)
            await asyncio.sleep(pause)
    raise AssertionError("unreachable: the last try returns or raises")


def callback_at_from(due: datetime | None, now: datetime) -> datetime | None:
    """The callback Elo should place, from the follow-up made in the call (if any)."""
    return due if due is not None and due - now >= STAFF_FOLLOW_UP else None


@dataclass
class AttemptEnd:
    """How one attempt ended, as far as it is known; the defaults are a call that never rang.

    Attributes:
        outcome: How it ended.
        sip_status: The SIP status of the dial; ``NOT_DIALLED`` until the dial starts (such an
            attempt counts against no cap), None when LiveKit gave none.
        duration_s: The call's length, if it was answered.
        callback_at: A callback the patient asked for, if any.
        permanent: The number can never be reached (no retry).
        wrong_person: The callee was not the patient (no retry).
        fault: A system fault (never charged to the patient's attempts), if any.
    """

    outcome: AttemptOutcome = "failed"
    sip_status: str | None = NOT_DIALLED
    duration_s: int | None = None
    callback_at: datetime | None = None
    permanent: bool = False
    wrong_person: bool = False
    fault: str | None = None


async def settle_from_call(
    end: AttemptEnd,
    store: Store,
    *,
    call_id: str,
    phone: str,
    now: datetime,
    call_outcome: CallOutcome | None = None,
) -> CallFacts:
    """Set the attempt's outcome, callback and wrong-person flag from what its call did.

    The call's facts are read again while the database fails the read (:func:`with_retries`):
    a booked call must not be recorded as a failed one.

    Args:
        end: The attempt's end, updated in place.
        store: The database.
        call_id: The attempt's call.
        phone: The contact's number (the call's follow-ups and opt-out are for it).
        now: The current time.
        call_outcome: How the pipeline ended the call; None on recovery, where the call's own
            recorded outcome is kept if it ended, and its bookings decide otherwise.

    Returns:
        The call's facts, read once.
    """
    facts = await with_retries(
        lambda: store.calls.facts(call_id=call_id, phone=phone), what="read what the call did"
    )
    if call_outcome is None:
        recorded = facts.outcome if facts.ended else None
        call_outcome = recovered_outcome(recorded, booked=facts.bookings)
    end.outcome = attempt_outcome(
        call_outcome,
        callback=facts.follow_up_due is not None,
        opted_out=facts.opted_out,
        kept=facts.kept > 0,
    )
    end.callback_at = callback_at_from(facts.follow_up_due, now)
    end.wrong_person = call_outcome == CallOutcome.WRONG_PERSON
    return facts


async def record_attempt(
    store: Store, attempt: CallAttempt, *, end: AttemptEnd, now: datetime, delays: RetryDelays
) -> bool:
    """Complete an attempt and reschedule or close its contact (see :func:`next_step`).

    Only the runner holding the attempt records it: one taken for dead meanwhile (cut off from
    the database past its lease) finds it adopted, and its late result changes nothing. The
    attempt is counted in the metrics once it is recorded (outcome, SIP status, fault). A
    completion the database failed is tried again (see :func:`with_retries`).

    Args:
        store: The database.
        attempt: The attempt, as claimed or adopted (its ``runner_token`` is the holder's).
        end: How it ended.
        now: When it ended.
        delays: The campaign's retry delays.

    Returns:
        True if this completion recorded it; False if the runner that adopted it does.
    """
    step = next_step(
        end.outcome,
        now=now,
        delays=delays,
        callback_at=end.callback_at,
        permanent=end.permanent,
        wrong_person=end.wrong_person,
    )
    try:
        stored = await with_retries(
            lambda: store.queue.complete_attempt(
                attempt_id=attempt.id,
                outcome=end.outcome,
                sip_status=end.sip_status,
                duration_s=end.duration_s,
                next_call_at=step.next_call_at,
                done_reason=step.done_reason,
                system_fault=end.fault,
                runner_token=attempt.runner_token,
            ),
            what=f"record attempt {attempt.id}",
        )
    except sqlite3.OperationalError as exc:
        # The attempt is still open (a completion is all or nothing).
        logger.error(
            "attempt {} ({}) could not be recorded: {}; it stays open until its runner stops"
            " and another adopts it",
            attempt.id,
            end.outcome,
            type(exc).__name__,
        )
        raise
    if stored.runner_token != attempt.runner_token:
        logger.warning("attempt {} was adopted by another runner, which records it", attempt.id)
        return False
    metrics.dial_attempt(end.outcome, end.sip_status, fault=end.fault is not None)
    if end.fault is not None:
        metrics.error(ErrorKind.DIAL_FAULT)
    return True


async def recover_attempts(
    pending: list[CallAttempt],
    *,
    store: Store,
    dialer: Dialer,
    delays: RetryDelays,
    clock: Clock,
) -> None:
    """Close attempts a stopped runner left open, after making sure their calls ended.

    Each attempt is removed from ``pending`` once recorded, so a failure leaves the rest there
    to be tried again.

    Raises:
        DialerError: LiveKit could not confirm a call ended (dialling again could put the
            number into a second call).
    """
    while pending:
        attempt = pending[0]
        if attempt.room:
            # Raises DialerError when LiveKit cannot confirm: dialling again could then put
            # the number into a second call.
            await dialer.hang_up(room=attempt.room)
        end = AttemptEnd(sip_status="interrupted")
        if attempt.call_id:
            facts = await settle_from_call(
                end, store, call_id=attempt.call_id, phone=attempt.phone, now=clock()
            )
            if facts.recorded and not facts.ended:
                await store.calls.finish(
                    call_id=attempt.call_id,
                    outcome=CallOutcome.FAILED,
                    outcome_reason="interrupted: the campaign runner stopped",
                    appointments_booked=facts.bookings,
                )
        recorded = await record_attempt(store, attempt, end=end, now=clock(), delays=delays)
        pending.pop(0)
        if recorded:
            logger.warning(
                "attempt {} was left open by a stopped runner: {}", attempt.id, end.outcome
            )
