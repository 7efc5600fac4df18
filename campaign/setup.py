"""Creating a campaign and importing its contacts, for ``elo campaign`` and the dashboard.

``elo campaign create|import`` and the dashboard's Campaigns page share these rules.

Both ask for the same fields and get the same answers: :func:`create_campaign` validates every
field (as text, the way a person types it) before anything is written; :func:`import_contacts`
adds contacts already read by :mod:`campaign.importer` and reports what became of each row.
A problem is a :class:`SetupError` naming the field (for a form) and saying what is wrong in
one line (for the command line, where the field is spelled as its option).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from campaign.importer import Rejection
from config.settings import AppSettings
from storage import Campaign, Store
from storage.models import NewContact

Field = Literal[
    "name",
    "purpose",
    "notes",
    "max_concurrent",
    "max_attempts",
    "window_days",
    "window_hours",
    "retry",
    "trunk",
    "caller_id",
    "months",
    "limit",
]
# 'confirmation' is the service's own campaign (service/confirmations.py); staff may also
# create one, whose contacts then name no appointment (a generic confirmation call).
PURPOSES = ("recall", "check_up", "unfinished_treatment", "follow_up", "confirmation")
# How each field is spelled at the command line (the CLI's messages name the option).
OPTIONS: dict[str, str] = {
    "notes": "--notes",
    "max_concurrent": "--max-concurrent",
    "max_attempts": "--max-attempts",
    "window_days": "--window-days",
    "window_hours": "--window-hours",
    "retry": "--retry",
    "trunk": "--trunk",
    "caller_id": "--caller-id",
}


class SetupError(ValueError):
    """A field of a new campaign is wrong; ``str()`` is one line naming its option.

    Attributes:
        field: The field at fault.
        problem: What is wrong, without the field's name.
    """

    def __init__(self, field: Field, problem: str) -> None:
        super().__init__(f"{OPTIONS.get(field, field)}: {problem}" if field in OPTIONS else problem)
        self.field = field
        self.problem = problem


@dataclass(frozen=True)
class CampaignForm:
    """A new campaign as typed, before validation (the options of ``elo campaign create``).

    Attributes:
        name: Unique name.
        purpose: recall, check_up, unfinished_treatment, follow_up or confirmation.
        notes: Notes for the model about this campaign.
        max_concurrent: Calls at once (1-100).
        max_attempts: Attempts per contact (1-50).
        window_days: Calling days, e.g. ``mon,tue,wed``; empty uses the settings.
        window_hours: Calling hours, e.g. ``10:00-13:00,14:00-18:00``; empty uses the settings.
        retry: Minutes before calling again per outcome, e.g. ``no_answer=240,busy=60``.
        trunk: Outbound SIP trunk id; empty uses the settings.
        caller_id: Number shown to patients; empty uses the settings.
    """

    name: str
    purpose: str
    notes: str = ""
    max_concurrent: int = 2
    max_attempts: int = 4
    window_days: str = ""
    window_hours: str = ""
    retry: str = ""
    trunk: str = ""
    caller_id: str = ""


async def create_campaign(store: Store, settings: AppSettings, form: CampaignForm) -> Campaign:
    """Validate ``form`` and create the campaign (status ``draft``, service state ``manual``).

    Raises:
        SetupError: A field is wrong, or the name is taken; nothing was written.
    """
    return await store.campaigns.create(**await campaign_fields(store, settings, form))


async def campaign_fields(
    store: Store, settings: AppSettings, form: CampaignForm
) -> dict[str, Any]:
    """Validate ``form`` into the fields of ``store.campaigns.create``; writes nothing.

    The one validation of every new campaign (``elo campaign create``, the dashboard, ``elo
    recall build``, which writes the campaign together with its contacts).

    Raises:
        SetupError: A field is wrong, or the name is taken.
    """
    from validation import InputError, clean_text, normalize_phone

    try:
        name = clean_text(form.name, field="name", max_length=100)
    except InputError as exc:
        raise SetupError("name", str(exc)) from None
    try:
        notes = clean_text(form.notes, field="notes", max_length=2000, required=False)
    except InputError as exc:
        raise SetupError("notes", exc.message) from None
    if form.purpose not in PURPOSES:
        raise SetupError("purpose", f"purpose must be one of {', '.join(PURPOSES)}")
    if not 1 <= form.max_concurrent <= 100:
        raise SetupError("max_concurrent", "must be between 1 and 100")
    if not 1 <= form.max_attempts <= 50:
        raise SetupError("max_attempts", "must be between 1 and 50")
    window = campaign_window(settings, days=form.window_days, hours=form.window_hours)
    retry = retry_delays(form.retry)
    caller_id = None
    if form.caller_id.strip():
        try:
            caller_id = normalize_phone(
                form.caller_id,
                allowed_regions=settings.validation.allowed_phone_regions,
                default_region=settings.validation.default_phone_region,
                field="caller_id",
            )
        except InputError as exc:
            raise SetupError("caller_id", exc.message) from None
    if await store.campaigns.get(name=name) is not None:
        raise SetupError("name", f"campaign {name!r} already exists")
    return {
        "name": name,
        "purpose": form.purpose,  # checked against PURPOSES above
        "notes": notes,
        "max_concurrent_calls": form.max_concurrent,
        "max_attempts": form.max_attempts,
        "window_days": window.get("window_days"),
        "window_intervals": window.get("window_intervals"),
        "retry_delays": retry,
        "sip_trunk_id": form.trunk.strip() or None,
        "caller_id": caller_id,
    }


def campaign_window(settings: AppSettings, *, days: str, hours: str) -> dict[str, str]:
    """The campaign's own calling window, validated like the settings (canonical text).

    Raises:
        SetupError: The days or hours are not understood.
    """
    from pydantic import ValidationError

    from config.settings_campaign import CallingSettings

    given = {}
    if days.strip():
        given["window_days"] = days
    if hours.strip():
        given["window_intervals"] = hours
    if not given:
        return {}
    try:
        calling = CallingSettings.model_validate(settings.calling.model_dump() | given)
    except ValidationError as exc:
        item = exc.errors(include_url=False, include_input=False)[0]
        which: Field = "window_days" if item["loc"][0] == "window_days" else "window_hours"
        raise SetupError(which, item["msg"].removeprefix("Value error, ")) from None
    return {
        key: ",".join(value) if isinstance(value, list) else value
        for key, value in calling.model_dump(include=set(given)).items()
    }


def retry_delays(text: str) -> dict[str, int]:
    """Parse ``no_answer=240,busy=60`` into minutes per retried outcome.

    Raises:
        SetupError: An unknown outcome, or minutes that are not a whole number in 1-43200.
    """
    from campaign.outcomes import RETRIED

    delays: dict[str, int] = {}
    for part in (piece.strip() for piece in text.split(",") if piece.strip()):
        outcome, _, minutes = part.partition("=")
        outcome = outcome.strip()
        if outcome not in RETRIED:
            raise SetupError("retry", f"unknown outcome {outcome[:40]!r}; use {', '.join(RETRIED)}")
        minutes = minutes.strip()
        # At most five digits before int(): a 5,000-digit value would exceed Python's limit.
        if (
            not (minutes.isascii() and minutes.isdigit() and len(minutes) <= 5)
            or not 1 <= int(minutes) <= 43200
        ):
            raise SetupError("retry", f"{outcome} needs whole minutes between 1 and 43200")
        delays[outcome] = int(minutes)
    return delays


@dataclass(frozen=True)
class ImportReport:
    """What importing a contacts file did.

    Attributes:
        imported: New contacts in the campaign.
        merged: Rows whose number was already in the campaign or earlier in the file.
        on_do_not_call: Rows skipped because the number is on the do-not-call list.
        rejected: The invalid rows, in file order (line numbers and reasons).
        duplicates: The rows merged into an earlier row of the same file.
    """

    imported: int
    merged: int
    on_do_not_call: int
    rejected: list[Rejection] = field(default_factory=list)
    duplicates: list[Rejection] = field(default_factory=list)


async def import_contacts(
    store: Store, *, campaign_id: int, contacts: list[NewContact], rejections: list[Rejection]
) -> ImportReport:
    """Add the valid contacts of a file read by :mod:`campaign.importer` to a campaign.

    Raises:
        sqlite3.IntegrityError: The campaign does not exist.
    """
    counts = await store.campaigns.add_contacts(campaign_id=campaign_id, contacts=contacts)
    duplicates = [r for r in rejections if r.kind == "merged"]
    return ImportReport(
        imported=counts.imported,
        merged=counts.merged + len(duplicates),
        on_do_not_call=counts.on_do_not_call,
        rejected=[r for r in rejections if r.kind == "rejected"],
        duplicates=duplicates,
    )
