"""What the Campaigns pages show: labels, the funnel, and reasons made safe to display.

The funnel is :func:`funnel`, the one place that turns a campaign's numbers into its steps
(queued → dialled → answered → booked) and revenue: it reads :class:`storage.CampaignStatus`
today and is the only thing to change when the funnel read model arrives.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from campaign.importer import Rejection
from dashboard.i18n import N_
from storage.models import CampaignStatus

PURPOSES = {
    "recall": N_("Recall"),
    "check_up": N_("Check-up"),
    "unfinished_treatment": N_("Unfinished treatment"),
    "follow_up": N_("Follow-up"),
    "confirmation": N_("Appointment confirmation"),
}
STATES = {
    "draft": N_("Draft"),
    "running": N_("Running"),
    "paused": N_("Paused"),
    "done": N_("Done"),
}
SERVICE_STATES = {
    "manual": N_("Not started"),
    "active": N_("Active"),
    "paused": N_("Paused"),
    "stopped": N_("Stopped"),
}
COMMANDS = {
    "start": N_("Start"),
    "pause": N_("Pause"),
    "resume": N_("Resume"),
    "stop": N_("Stop for good"),
}
# Why a row of a contacts file was not imported, by the column the importer names.
COLUMN_REASONS = {
    "phone": N_("The phone number is missing, not valid, or not from an allowed country."),
    "name": N_("The name is missing or is not a person's name."),
    "language": N_("The language must be sq, en or it (Italian)."),
    "time_zone": N_("The time zone is unknown or does not fit the phone number."),
    "country": N_("The country code is unknown or does not fit the phone number."),
    "priority": N_("The priority must be a whole number."),
}
SAME_AS = N_("The same phone number as line %(line)s; merged into it.")
# A run of six or more digits (spaces, dashes, dots and brackets between them allowed): a phone
# number, or enough of one to matter.
_NUMBER = re.compile(r"\+?\d(?:[\s\-.()/]*\d){5,}")


def mask_numbers(text: str) -> str:
    """``text`` with every phone-like run of digits hidden but its last two digits."""

    def hide(match: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", match.group())
        return "•" * (len(digits) - 2) + digits[-2:]

    return _NUMBER.sub(hide, text)


@dataclass(frozen=True)
class RejectedLine:
    """One line of an upload that was not imported, ready for the page.

    Attributes:
        line: Its line number in the file (the header is line 1).
        reason: A msgid (translated on the page), or None when the importer gave no kind.
        reason_args: The msgid's placeholders.
        detail: The importer's own words, with numbers masked.
    """

    line: int
    reason: str | None
    reason_args: dict[str, int]
    detail: str


def rejected_line(rejection: Rejection) -> RejectedLine:
    """A rejected or merged row as the upload result shows it."""
    if rejection.kind == "merged" and rejection.same_as is not None:
        reason: str | None = SAME_AS
        args = {"line": rejection.same_as}
    else:
        reason, args = COLUMN_REASONS.get(rejection.column or ""), {}
    return RejectedLine(
        line=rejection.line, reason=reason, reason_args=args, detail=mask_numbers(rejection.reason)
    )


@dataclass(frozen=True)
class FunnelStep:
    """One step of the funnel.

    Attributes:
        label: A msgid.
        count: Contacts that reached this step.
        rate: The share of the step before (None for the first, or when it had none).
    """

    label: str
    count: int
    rate: float | None


@dataclass(frozen=True)
class Funnel:
    """A campaign's funnel and the revenue its calls booked (whole lek)."""

    steps: list[FunnelStep]
    revenue_lek: int


def funnel(status: CampaignStatus) -> Funnel:
    """The funnel from the campaign's status, per contact (retries do not inflate it)."""
    counts = [
        (N_("Queued"), status.contacts_total),
        (N_("Dialled"), status.contacts_attempted),
        (N_("Answered"), status.contacts_reached),
        (N_("Booked"), status.contacts_booked),
    ]
    steps: list[FunnelStep] = []
    previous: int | None = None
    for label, count in counts:
        rate = count / previous if previous else None
        steps.append(FunnelStep(label=label, count=count, rate=rate))
        previous = count
    return Funnel(steps=steps, revenue_lek=status.revenue_booked_lek)
