"""What the dashboard sees of the service while it runs: calls in progress and campaign progress.

The service (layer ``service``) implements these; the dashboard, a lower layer, receives them
and never imports the service. Only counts, ids and masked numbers cross this line: a call in
progress shows its number as :func:`validation.mask_phone` does, never in full, and no name.

- :class:`LiveCalls`: the calls in progress (outbound campaign calls and inbound calls, wherever
  they run), a way to hang one up (``end``), and a feed of changes for server-sent events.
- :class:`CampaignProgress`: a campaign's :class:`storage.models.CampaignStatus`, again each time
  it changes (or every few seconds, for changes made by another process).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Literal, Protocol

from pydantic import AwareDatetime, BaseModel, ConfigDict

from storage.models import CallDirection, CampaignStatus

ENDED_BY_STAFF = "ended by staff"
"""The reason recorded on a call that staff hung up (its outcome is ``cancelled``)."""


class ActiveCall(BaseModel):
    """One call in progress.

    Attributes:
        call_id: The call's id (``calls.call_id`` once the call is recorded).
        direction: Who placed it.
        campaign_id: The campaign it belongs to; None for an inbound call.
        started_at: When the service started it (aware).
        answered: The line is up (False while it rings).
        phone_masked: The number with all but its country code and last two digits hidden;
            None when the caller withheld it.
        worker: The worker process it runs in (1, 2, ...); None in the service process.
    """

    model_config = ConfigDict(frozen=True)

    call_id: str
    direction: CallDirection
    campaign_id: int | None
    started_at: AwareDatetime
    answered: bool
    phone_masked: str | None
    worker: int | None


class LiveCallEvent(BaseModel):
    """A change in the calls in progress.

    Attributes:
        kind: ``snapshot`` (every call in progress: the first event of a subscription, and
            again after the subscriber fell behind and missed changes), ``started``,
            ``answered`` or ``ended``.
        call: The call that changed (its last state for ``ended``); None for ``snapshot``.
        calls: Every call in progress, for ``snapshot``; empty otherwise.
    """

    model_config = ConfigDict(frozen=True)

    kind: Literal["snapshot", "started", "answered", "ended"]
    call: ActiveCall | None = None
    calls: tuple[ActiveCall, ...] = ()


class LiveCalls(Protocol):
    """The calls in progress, as the service hands them to the dashboard."""

    def snapshot(self) -> list[ActiveCall]:
        """Every call in progress now, oldest first."""
        ...

    async def end(self, call_id: str, *, by: str) -> bool:
        """Hang up one call in progress.

        The call ends as any call does: recorded with outcome ``cancelled`` and reason
        :data:`ENDED_BY_STAFF`, its campaign attempt recorded, its line closed. The action is
        written to the audit trail with ``by`` as the actor.

        Args:
            call_id: The call.
            by: Who ends it, as the audit trail names actors (``web:NAME``).

        Returns:
            False when no such call is in progress (it ended meanwhile, or never was).
        """
        ...

    def subscribe(self) -> AsyncIterator[LiveCallEvent]:
        """The changes from now on, starting with a ``snapshot``.

        Each subscriber has a bounded queue: one that does not keep up never slows a call; it
        loses the changes it missed and gets a fresh ``snapshot`` instead. Stop by closing the
        iterator (``aclose``) or cancelling the task that reads it.
        """
        ...


class CampaignProgress(Protocol):
    """A campaign's progress, live."""

    def watch(self, campaign_id: int) -> AsyncIterator[CampaignStatus]:
        """The campaign's status now, then again each time it changes.

        Counts by contact state, attempts by outcome, in-progress calls and ``service_state``
        (the existing status query). Checked again whenever the service's runner of the
        campaign reports a change, and at least every few seconds.

        Raises:
            storage.errors.NotFoundError: No such campaign (from the first step).
        """
        ...
