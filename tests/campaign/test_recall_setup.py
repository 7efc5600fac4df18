"""campaign.recall: calendar months in the clinic's zone, and the build through campaign setup."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from campaign.recall import RecallForm, build_recall, months_before
from campaign.setup import SetupError
from config.settings import AppSettings
from storage import Store
from tests.conftest import DEFAULT_NOW, TIRANE
from tests.storage.booking import phone
from tests.storage.visits import patient, visit


@pytest.mark.parametrize(
    ("moment", "months", "expected"),
    [
        # Across the spring DST change: the wall-clock time stays, the offset changes.
        (datetime(2026, 12, 1, 8, 0), 6, datetime(2026, 6, 1, 8, 0)),
        # A day the earlier month lacks: its last day.
        (datetime(2026, 8, 31, 10, 0), 6, datetime(2026, 2, 28, 10, 0)),
        (datetime(2028, 8, 31, 10, 0), 6, datetime(2028, 2, 29, 10, 0)),
        (datetime(2027, 1, 31, 9, 30), 1, datetime(2026, 12, 31, 9, 30)),
        (datetime(2026, 3, 15, 12, 0), 60, datetime(2021, 3, 15, 12, 0)),
    ],
)
def test_months_are_counted_on_the_clinics_calendar(
    moment: datetime, months: int, expected: datetime
) -> None:
    result = months_before(moment.replace(tzinfo=TIRANE), months, TIRANE)
    assert result.replace(tzinfo=None) == expected
    assert result.utcoffset() == expected.replace(tzinfo=TIRANE).utcoffset()


def test_a_moment_in_another_zone_is_read_in_the_clinics() -> None:
    # 23:30 UTC on 31 August is 01:30 on 1 September in Tirana: one month back is 1 August.
    moment = datetime(2026, 8, 31, 23, 30, tzinfo=UTC)
    assert months_before(moment, 1, TIRANE) == datetime(2026, 8, 1, 1, 30, tzinfo=TIRANE)


@pytest.mark.asyncio
async def test_build_goes_through_campaign_setup_and_audits(
    store: Store, settings: AppSettings
) -> None:
    person = await patient(store, phone(1))
    await visit(store, person, DEFAULT_NOW - timedelta(days=200))
    tourist = await patient(store, "+393471234567", "Giulia Rossi", language="en")
    await visit(store, tourist, DEFAULT_NOW - timedelta(days=300), chair=2)
    berliner = await patient(store, "+4915112345678", "Anna Weber", language="en")
    await visit(store, berliner, DEFAULT_NOW - timedelta(days=250), chair=3)
    dry = await build_recall(
        store, settings, RecallForm(name="June"), tz=TIRANE, actor="tester", dry_run=True
    )
    assert (dry.campaign, dry.contacts) == (None, 3)
    assert await store.campaigns.get(name="June") is None
    built = await build_recall(
        store, settings, RecallForm(name=" June "), tz=TIRANE, actor="tester"
    )
    assert built.contacts == 3 and built.campaign is not None
    # A number from abroad gets its country (its public holidays) and zone as on import: an
    # Italian mobile's metadata names two zones (Rome, Vatican), so the clinic's is kept.
    contacts = await store.campaigns.contacts(campaign_id=built.campaign.id)
    assert {(c.phone, c.time_zone, c.country) for c in contacts} == {
        ("+393471234567", "Europe/Tirane", "IT"),
        ("+4915112345678", "Europe/Berlin", "DE"),
        (phone(1), "Europe/Tirane", "AL"),
    }
    # The setup's own cleaning and defaults: the name trimmed, 2 calls at once, 4 attempts,
    # the settings' calling window (none stored on the campaign).
    campaign = built.campaign
    assert (campaign.name, campaign.purpose, campaign.status) == ("June", "recall", "draft")
    assert (campaign.max_concurrent_calls, campaign.max_attempts) == (2, 4)
    assert campaign.window_days is None and campaign.window_intervals is None
    assert built.cutoff == datetime(2026, 6, 1, 8, 0, tzinfo=TIRANE)
    (entry,) = [e for e in await store.audit.list() if e.action == "campaign.create"]
    assert entry.detail == {"purpose": "recall", "contacts": 3, "months": 6, "limit": None}


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("form", "message"),
    [
        (RecallForm(name="X", months=0), "--months must be between 1 and 60"),
        (RecallForm(name="X", months=61), "--months must be between 1 and 60"),
        (RecallForm(name="X", limit=0), "--limit must be between 1 and 1000000"),
        (RecallForm(name="  "), "name"),
        (RecallForm(name="Taken"), "campaign 'Taken' already exists"),
    ],
)
async def test_bad_input_is_one_line_and_writes_nothing(
    store: Store, settings: AppSettings, form: RecallForm, message: str
) -> None:
    await store.campaigns.create(name="Taken", purpose="check_up")
    person = await patient(store, phone(1))
    await visit(store, person, DEFAULT_NOW - timedelta(days=400))
    with pytest.raises(SetupError, match=message) as caught:
        await build_recall(store, settings, form, tz=TIRANE, actor="tester")
    assert "\n" not in str(caught.value)
    assert await store.db.scalar("SELECT count(*) FROM campaigns") == 1
    assert await store.db.scalar("SELECT count(*) FROM campaign_contacts") == 0
    assert await store.db.scalar("SELECT count(*) FROM audit_log") == 0
