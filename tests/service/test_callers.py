"""Who is calling in: a returning patient's instruction holds their own history, no one else's."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.application import Application
from config.clinic import ClinicProfile
from config.settings import AppSettings
from pipeline.prompts import build_system_instruction
from service.callers import caller_metadata
from storage import NewContact, Store
from storage.models import AttemptOutcome
from tests.conftest import FixedClock, claim
from tools.catalog import default_registry

ARTA, ARTA_PHONE = "Arta Krasniqi", "+355691234567"
BESA, BESA_PHONE = "Besa Hoxha", "+355682345678"


@pytest.fixture
def app(settings: AppSettings, clinic: ClinicProfile, store: Store, clock: FixedClock):
    return Application(
        settings=settings, clinic=clinic, store=store, registry=default_registry(), clock=clock
    )


async def _called(
    store: Store,
    clock: FixedClock,
    *,
    campaign: str,
    purpose: str,
    notes: str,
    name: str,
    phone: str,
    outcome: AttemptOutcome,
    fault: str | None = None,
) -> None:
    created = await store.campaigns.create(name=campaign, purpose=purpose, notes=notes)
    await store.campaigns.add_contacts(
        campaign_id=created.id, contacts=[NewContact(phone=phone, name=name)]
    )
    (contact,) = await store.campaigns.contacts(campaign_id=created.id)
    claimed = await claim(
        store, contact_id=contact.id, room=f"elo-{campaign}", call_id=campaign, now=clock()
    )
    assert claimed.attempt is not None
    await store.queue.complete_attempt(
        attempt_id=claimed.attempt.id,
        outcome=outcome,
        sip_status=None,
        duration_s=None,
        next_call_at=None,
        done_reason=None,
        system_fault=fault,
    )


async def _two_patients(store: Store, clock: FixedClock) -> None:
    await store.patients.upsert(phone=ARTA_PHONE, name=ARTA, language="en")
    await store.patients.upsert(phone=BESA_PHONE, name=BESA)
    await _called(
        store,
        clock,
        campaign="checkups",
        purpose="check_up",
        notes="",
        name=ARTA,
        phone=ARTA_PHONE,
        outcome="no_answer",
    )
    await _called(
        store,
        clock,
        campaign="recall",
        purpose="recall",
        notes="Six months since the last cleaning.",
        name=BESA,
        phone=BESA_PHONE,
        outcome="voicemail",
    )
    await store.follow_ups.create(
        phone=BESA_PHONE,
        name=BESA,
        due_at=clock() + timedelta(days=1),
        reason="wants to talk about a bridge",
        source="agent",
    )


@pytest.mark.asyncio
async def test_a_returning_patient_hears_why_they_were_called_and_nothing_of_anyone_else(
    app: Application, store: Store, clock: FixedClock
):
    await _two_patients(store, clock)
    meta = await caller_metadata(app, call_id="in-1", phone=ARTA_PHONE)
    text = build_system_instruction(app.clinic, meta, now=clock())

    assert (meta.phone, meta.patient_name, meta.language, meta.inbound) == (
        ARTA_PHONE,
        ARTA,
        "en",
        True,
    )
    assert "This is an inbound call" in text
    assert f'"{ARTA}"' in text
    assert "the clinic called on 2026-12-01 about: check-up reminder; nobody answered" in text
    for other in (BESA, "Besa", BESA_PHONE, "682345678", "recall", "Six months", "bridge"):
        assert other not in text
    assert "do-not-call" not in text


@pytest.mark.asyncio
async def test_a_callback_staff_owe_is_named(app: Application, store: Store, clock: FixedClock):
    await _two_patients(store, clock)
    meta = await caller_metadata(app, call_id="in-2", phone=BESA_PHONE)

    assert meta.reason is not None
    assert meta.reason.startswith("the clinic called on 2026-12-01 about: recall")
    assert "it reached voicemail" in meta.reason
    assert "staff owe a callback, due 2026-12-02 08:00, about: wants to talk about a bridge" in (
        meta.reason
    )
    assert ARTA not in meta.reason and "check-up" not in meta.reason


@pytest.mark.asyncio
async def test_old_calls_and_faults_of_the_system_are_no_reason(
    app: Application, store: Store, clock: FixedClock
):
    await store.patients.upsert(phone=ARTA_PHONE, name=ARTA)
    await _called(
        store,
        clock,
        campaign="trunk-down",
        purpose="check_up",
        notes="",
        name=ARTA,
        phone=ARTA_PHONE,
        outcome="failed",
        fault="the trunk refused our credentials",
    )
    clock.now = clock() + timedelta(days=1)
    meta = await caller_metadata(app, call_id="in-3", phone=ARTA_PHONE)
    assert meta.reason is None

    await _called(
        store,
        clock,
        campaign="long-ago",
        purpose="recall",
        notes="",
        name=ARTA,
        phone=ARTA_PHONE,
        outcome="no_answer",
    )
    clock.now = clock() + timedelta(days=app.settings.inbound.recent_call_days + 1)
    meta = await caller_metadata(app, call_id="in-4", phone=ARTA_PHONE)
    assert meta.reason is None and meta.patient_name == ARTA


@pytest.mark.asyncio
async def test_unknown_withheld_and_do_not_call_callers(
    app: Application, store: Store, clock: FixedClock
):
    unknown = await caller_metadata(app, call_id="in-5", phone="+355672345678")
    text = build_system_instruction(app.clinic, unknown, now=clock())
    assert unknown.patient_name is None and unknown.reason is None
    # The default language (sq) for a number the clinic has no language for.
    assert "Numri që po telefonon nuk është në dosjet e klinikës." in text

    withheld = await caller_metadata(app, call_id="in-6", phone=None)
    assert withheld.phone is None and withheld.inbound

    await store.dnc.add(phone=ARTA_PHONE, reason="asked", source="cli")
    listed = await caller_metadata(app, call_id="in-7", phone=ARTA_PHONE)
    assert listed.do_not_call
    text = build_system_instruction(
        app.clinic, listed.model_copy(update={"language": "en"}), now=clock()
    )
    assert "never calls it back" in text
