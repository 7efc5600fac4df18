"""Recall campaigns (issue 13 §3): patients whose last completed visit is months ago.

``elo recall build NAME --months 6`` validates the campaign through the same path as every new
campaign (:func:`campaign.setup.campaign_fields`, the clinic's defaults: calling window and
retries from the settings), then ``store.recalls.build`` writes the campaign, its contacts and
the audit record in one transaction. Who is due is decided there (:mod:`storage.recalls`).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import phonenumbers

from campaign.importer import place_of
from campaign.setup import CampaignForm, SetupError, campaign_fields
from config.settings import AppSettings
from storage import Campaign, Store

MONTHS_RANGE = (1, 60)


def months_before(moment: datetime, months: int, tz: ZoneInfo) -> datetime:
    """The same wall-clock time ``months`` calendar months earlier in ``tz``.

    A day the earlier month lacks becomes its last day (31 August minus 6 months is 28 or 29
    February), as a person counts months.

    Raises:
        ValueError: ``moment`` is naive.
    """
    if moment.tzinfo is None:
        raise ValueError("naive datetime")
    local = moment.astimezone(tz)
    index = local.year * 12 + (local.month - 1) - months
    year, month = divmod(index, 12)
    day = min(local.day, calendar.monthrange(year, month + 1)[1])
    # Rebuilt from the wall clock (not timedelta) so a DST change in between keeps the hour.
    return local.replace(year=year, month=month + 1, day=day, tzinfo=None).replace(tzinfo=tz)


@dataclass(frozen=True)
class RecallForm:
    """``elo recall build`` as typed.

    Attributes:
        name: Unique campaign name.
        months: Last completed visit at least this many calendar months ago (1-60).
        limit: At most this many contacts (the longest overdue first); None: all.
    """

    name: str
    months: int = 6
    limit: int | None = None


@dataclass(frozen=True)
class RecallResult:
    """What a recall build did (or would do, for a dry run).

    Attributes:
        campaign: The new campaign; None for a dry run.
        contacts: Contacts queued (or that would be).
        cutoff: Last completed visits ended at or before this instant.
    """

    campaign: Campaign | None
    contacts: int
    cutoff: datetime


def _check(form: RecallForm) -> None:
    low, high = MONTHS_RANGE
    if not low <= form.months <= high:
        raise SetupError("months", f"--months must be between {low} and {high}")
    if form.limit is not None and not 1 <= form.limit <= 1_000_000:
        raise SetupError("limit", "--limit must be between 1 and 1000000")


async def build_recall(
    store: Store,
    settings: AppSettings,
    form: RecallForm,
    *,
    tz: ZoneInfo,
    actor: str,
    dry_run: bool = False,
) -> RecallResult:
    """Create a recall campaign of the patients due, or count them (``dry_run``).

    Args:
        store: The open store.
        settings: For the campaign defaults and their validation.
        form: Name, months, limit.
        tz: The clinic's zone: months are counted on its calendar; contacts get it.
        actor: Who builds it, for the audit trail.
        dry_run: Count only; nothing is written.

    Raises:
        SetupError: A bad option or a name already used (nothing written).
        PrivacyError: Erased people's do-not-call hashes exist but their key is missing.
    """
    _check(form)
    now = store.db.clock()
    cutoff = months_before(now, form.months, tz)
    fields = await campaign_fields(store, settings, CampaignForm(name=form.name, purpose="recall"))
    if dry_run:
        count = await store.recalls.count(cutoff=cutoff, now=now, limit=form.limit)
        return RecallResult(campaign=None, contacts=count, cutoff=cutoff)
    import sqlite3

    try:
        campaign, added = await store.recalls.build(
            campaign=fields,
            cutoff=cutoff,
            now=now,
            time_zone=tz.key,
            limit=form.limit,
            actor=actor,
            audit_detail={"months": form.months, "limit": form.limit},
            place=place_of,
            home=f"+{phonenumbers.country_code_for_region(settings.validation.default_phone_region)}",
        )
    except sqlite3.IntegrityError:
        # Another process took the name between the check and the write.
        raise SetupError("name", f"campaign {fields['name']!r} already exists") from None
    return RecallResult(campaign=campaign, contacts=added, cutoff=cutoff)
