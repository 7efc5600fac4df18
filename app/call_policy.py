"""May this number be called now, and if not, why: one answer for a call and for a campaign.

Every rule about calling a number lives behind :class:`CallPolicy`:

- the do-not-call list (for the calls Elo places), and at most ``calls_per_number_per_hour``
  calls per number either way (asked by every call with a bound number,
  :class:`pipeline.call.CallSession`, before anything is recorded);
- the calling window and the attempt policy (at most ``max_attempts`` attempts in a rolling
  window, a pause after a refusal), the pure rules of :mod:`app.calling_rules` held in
  :attr:`CallPolicy.rules`, by which the campaign runner plans (:mod:`campaign.planner`) and
  claims contacts.

What must hold across processes at one instant (never two calls to one number, the campaign's
and the global concurrency caps) is decided inside the claim's write transaction
(:meth:`storage.campaign_queue.CampaignQueue.claim_contact`); that transaction re-checks the
do-not-call list and asks this policy for the attempt rules, so the answer is the same in both
places.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from loguru import logger

from app.calling_rules import CampaignRules
from config.clock import Clock, system_clock
from config.settings_call import LimitsSettings
from storage import Store
from storage.models import CallDirection

_HOUR = timedelta(hours=1)


class Refusal(StrEnum):
    """Why a number may not be called now.

    ``do_not_call`` is also the claim's ``skipped`` reason for the same rule (see
    :class:`storage.campaign_queue.Claim`).
    """

    DO_NOT_CALL = "do_not_call"
    HOURLY_CAP = "calls_per_number_per_hour"


@dataclass(frozen=True)
class Verdict:
    """The policy's answer for one number.

    Attributes:
        refusal: Why the number may not be called now, or None when it may.
        reason: One line for staff and logs (never the number itself).
    """

    refusal: Refusal | None = None
    reason: str = ""

    @property
    def allowed(self) -> bool:
        """Whether the number may be called now."""
        return self.refusal is None


ALLOWED = Verdict()
_REASONS = {
    Refusal.DO_NOT_CALL: "this number is on the do-not-call list",
    Refusal.HOURLY_CAP: "this number has had the most calls allowed in the last hour",
}


class CallPolicy:
    """The calling rules of the application, over its database and clock.

    Args:
        store: The database (do-not-call list, earlier calls).
        limits: The per-number caps from settings.
        rules: The calling window and attempt policy (a campaign's own, or the settings').
        clock: Source of the current time.
    """

    def __init__(
        self,
        *,
        store: Store,
        limits: LimitsSettings,
        rules: CampaignRules,
        clock: Clock = system_clock,
    ) -> None:
        self._store = store
        self._limits = limits
        self.rules = rules
        self._clock = clock

    async def number(
        self, phone: str, *, direction: CallDirection = CallDirection.OUTBOUND
    ) -> Verdict:
        """Whether a call to or from this number may start now (do-not-call, hourly cap).

        Ask before the new call is recorded: the hourly count is of earlier calls. The
        do-not-call list stops Elo calling a number, not Elo answering it: a patient on the
        list who calls the clinic is answered (and still never called back, see
        :func:`tools.common.callback_barred`). The hourly cap holds both ways.

        Args:
            phone: The E.164 number the call is bound to.
            direction: Who places the call: Elo (outbound) or the caller (inbound).

        Returns:
            The verdict.
        """
        if direction is CallDirection.OUTBOUND and await self._store.dnc.is_listed(phone=phone):
            return self._refuse(Refusal.DO_NOT_CALL)
        since = self._clock() - _HOUR
        earlier = await self._store.calls.count_recent(phone=phone, since=since)
        if earlier >= self._limits.calls_per_number_per_hour:
            # No number in the log: the call id the log line carries identifies the call.
            logger.warning("call refused: the number reached its hourly call cap")
            return self._refuse(Refusal.HOURLY_CAP)
        return ALLOWED

    def next_attempt_allowed(
        self, attempts: Sequence[datetime], refusals: Sequence[datetime]
    ) -> datetime | None:
        """When the attempt policy next allows a call, or None when it allows one now.

        This is the check :meth:`storage.campaign_queue.CampaignQueue.claim_contact` runs
        inside its transaction, judged at the moment of the claim.

        Args:
            attempts: The number's earlier attempts within :attr:`history`.
            refusals: The number's earlier refusals within :attr:`history`.
        """
        return self.rules.policy.next_attempt_allowed(attempts, refusals, self._clock())

    @property
    def history(self) -> timedelta:
        """How far back attempts and refusals matter."""
        return self.rules.history

    @staticmethod
    def _refuse(refusal: Refusal) -> Verdict:
        return Verdict(refusal=refusal, reason=_REASONS[refusal])
