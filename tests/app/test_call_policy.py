"""The calling policy: may this number be called now, and if not, why (real SQLite store)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.call_policy import CallPolicy, Refusal
from app.calling_rules import CampaignRules
from config.settings import AppSettings
from config.settings_call import LimitsSettings
from config.settings_campaign import CallingSettings
from storage import Store
from tests.conftest import DEFAULT_NOW, FixedClock

PHONE = "+355691234567"
OTHER = "+355681112233"


def policy(store: Store, clock: FixedClock, **calling: object) -> CallPolicy:
    return CallPolicy(
        store=store,
        limits=LimitsSettings(calls_per_number_per_hour=3),
        rules=CampaignRules.from_settings(CallingSettings(**calling)),
        clock=clock,
    )


@pytest.mark.asyncio
@pytest.mark.parametrize(("earlier", "allowed"), [(0, True), (2, True), (3, False), (7, False)])
async def test_calls_per_number_per_hour(
    store: Store, clock: FixedClock, earlier: int, allowed: bool
) -> None:
    for n in range(earlier):
        await store.calls.start(call_id=f"c{n}", phone=PHONE)
    # Other numbers' calls and calls older than an hour do not count.
    await store.calls.start(call_id="other", phone=OTHER)
    clock.now = DEFAULT_NOW + timedelta(minutes=59)
    verdict = await policy(store, clock).number(PHONE)
    assert verdict.allowed is allowed
    if not allowed:
        assert verdict.refusal is Refusal.HOURLY_CAP
        assert verdict.reason == "this number has had the most calls allowed in the last hour"
    clock.now = DEFAULT_NOW + timedelta(minutes=61)
    assert (await policy(store, clock).number(PHONE)).allowed


@pytest.mark.asyncio
async def test_a_number_on_the_do_not_call_list_is_refused_first(
    store: Store, clock: FixedClock
) -> None:
    await store.dnc.add(phone=PHONE, reason="asked in a call", source="agent")
    verdict = await policy(store, clock).number(PHONE)
    assert (verdict.allowed, verdict.refusal) == (False, Refusal.DO_NOT_CALL)
    assert verdict.reason == "this number is on the do-not-call list"
    assert PHONE not in verdict.reason
    assert (await policy(store, clock).number(OTHER)).allowed


@pytest.mark.asyncio
async def test_the_attempt_rules_are_judged_at_the_policys_clock(
    store: Store, clock: FixedClock
) -> None:
    rules = policy(store, clock, max_attempts=2, attempts_window_days=7, refusal_pause_days=60)
    assert rules.history == timedelta(days=60)
    first, second = DEFAULT_NOW - timedelta(days=3), DEFAULT_NOW - timedelta(days=1)
    assert rules.next_attempt_allowed([first], []) is None
    assert rules.next_attempt_allowed([first, second], []) == first + timedelta(days=7)
    assert rules.next_attempt_allowed([], [second]) == second + timedelta(days=60)
    clock.now = first + timedelta(days=7)
    assert rules.next_attempt_allowed([first, second], []) is None


@pytest.mark.asyncio
async def test_the_application_policy_uses_the_settings(
    settings: AppSettings, store: Store, clock: FixedClock
) -> None:
    from app.application import Application
    from config.clinic import load_clinic_profile
    from tools.catalog import default_registry

    app = Application(
        settings=settings,
        clinic=load_clinic_profile(settings.clinic.profile_path),
        store=store,
        registry=default_registry(),
        clock=clock,
    )
    made = app.call_policy()
    assert made.rules == CampaignRules.from_settings(settings.calling)
    cap = settings.limits.calls_per_number_per_hour
    for n in range(cap):
        await store.calls.start(call_id=f"c{n}", phone=PHONE)
    assert (await made.number(PHONE)).refusal is Refusal.HOURLY_CAP


@pytest.mark.asyncio
async def test_a_do_not_call_number_that_calls_in_is_answered_but_the_hourly_cap_holds(
    store: Store, clock: FixedClock
) -> None:
    from storage.models import CallDirection

    await store.dnc.add(phone=PHONE, reason="asked in a call", source="agent")
    inbound = await policy(store, clock).number(PHONE, direction=CallDirection.INBOUND)
    outbound = await policy(store, clock).number(PHONE, direction=CallDirection.OUTBOUND)
    assert inbound.allowed and outbound.refusal is Refusal.DO_NOT_CALL
    for n in range(3):
        await store.calls.start(call_id=f"in-{n}", phone=PHONE, direction=CallDirection.INBOUND)
    capped = await policy(store, clock).number(PHONE, direction=CallDirection.INBOUND)
    assert capped.refusal is Refusal.HOURLY_CAP
