"""From an attempt's outcome to what the campaign does next: the contact is done, or when to retry.

An attempt's outcome comes from the dial (:mod:`campaign.dialer`) or, for an answered call, from
the call's own outcome (:func:`pipeline.call.outcome.attempt_outcome`). Pure functions, no storage.
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
