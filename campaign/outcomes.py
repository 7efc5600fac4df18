"""From how a call ended to what the campaign does next.

A call records its own outcome (``calls.outcome``, from the voice pipeline); an attempt has one of
the nine campaign outcomes. This module maps the first to the second and decides whether the
contact is done or when to call again. Pure functions, no storage.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from config.settings_campaign import CampaignSettings
from storage.models import AttemptOutcome

# Outcomes that close the contact for this campaign.
FINAL: frozenset[AttemptOutcome] = frozenset({"booked", "declined", "opted_out", "transferred"})
# Outcomes retried after a delay.
RETRIED: tuple[AttemptOutcome, ...] = ("no_answer", "busy", "voicemail", "failed")


@dataclass(frozen=True)
class RetryDelays:
    """How long to wait before calling again after each retried outcome."""

    no_answer: timedelta
    busy: timedelta
    voicemail: timedelta
    failed: timedelta

    @classmethod
    def build(cls, settings: CampaignSettings, overrides: dict[str, Any]) -> RetryDelays:
        """The settings' delays with a campaign's own (minutes per outcome) on top.

        Args:
            settings: The ``campaign`` settings group.
            overrides: The campaign's ``retry_delays`` (outcome -> minutes).

        Returns:
            The delays.
        """
        minutes = {
            "no_answer": settings.retry_no_answer_minutes,
            "busy": settings.retry_busy_minutes,
            "voicemail": settings.retry_voicemail_minutes,
            "failed": settings.retry_failed_minutes,
        }
        minutes.update({key: int(value) for key, value in overrides.items() if key in minutes})
        return cls(**{key: timedelta(minutes=value) for key, value in minutes.items()})

    def after(self, outcome: AttemptOutcome) -> timedelta:
        """The delay after a retried outcome."""
        return getattr(self, outcome)


def attempt_outcome(call_outcome: str, *, callback: bool, opted_out: bool) -> AttemptOutcome:
    """The attempt outcome of an answered call.

    Args:
        call_outcome: The outcome the pipeline recorded for the call.
        callback: A follow-up (a callback the patient asked for) was made during the call.
        opted_out: The number is on the do-not-call list now.

    Returns:
        The attempt outcome. An opt-out wins over everything; then a booking; then a callback.
        A call the patient ended, or that ended without a booking or a callback, counts as
        declined: the strict reading of the calling rules, which pauses calls after a refusal.
        Silence is no answer; anything else (a failure, an operator stop) is a failure.
    """
    if opted_out or call_outcome == "opted_out":
        return "opted_out"
    if call_outcome in ("booked", "transferred", "voicemail"):
        return call_outcome  # type: ignore[return-value]
    if callback or call_outcome == "follow_up":
        return "follow_up"
    if call_outcome in ("declined", "completed", "hung_up"):
        return "declined"
    if call_outcome == "no_response":
        return "no_answer"
    return "failed"


@dataclass(frozen=True)
class NextStep:
    """What happens to a contact after an attempt.

    Attributes:
        next_call_at: When it may be called again (the calling rules still apply then).
        done_reason: Set when the contact is finished for this campaign.
    """

    next_call_at: datetime | None = None
    done_reason: str | None = None


def next_step(
    outcome: AttemptOutcome,
    *,
    now: datetime,
    delays: RetryDelays,
    callback_at: datetime | None = None,
    permanent: bool = False,
    wrong_person: bool = False,
) -> NextStep:
    """Decide whether to call a contact again and when.

    Args:
        outcome: The attempt's outcome.
        now: When the attempt ended.
        delays: Retry delays per outcome.
        callback_at: When the patient asked to be called back, if they did.
        permanent: The number can never be reached (e.g. SIP 404): stop.
        wrong_person: The number is not the patient's: stop.

    Returns:
        The next step.
    """
    if outcome in FINAL:
        return NextStep(done_reason=outcome)
    if outcome == "follow_up":
        # Without a date the clinic's staff own the follow-up; the campaign stops calling.
        if callback_at is None:
            return NextStep(done_reason="follow_up")
        return NextStep(next_call_at=max(callback_at, now))
    if wrong_person:
        return NextStep(done_reason="wrong_person")
    if permanent:
        return NextStep(done_reason="unreachable")
    return NextStep(next_call_at=now + delays.after(outcome))
