"""A clinic's database with every kind of row, written through the real repositories.

Used by the copy tests (tests/storage/test_copy.py, tests/cli/test_db_copy.py): patients (one
with accented letters, for patient_names), appointments (one cancelled), follow-ups, calls with
transcripts and the daily roll-up, do-not-call entries in clear and hashed (an erased person),
campaigns with contacts and attempts, users with a web session, audit records, planned messages
and an opt-out.
"""

from __future__ import annotations

from datetime import timedelta

from storage import NewContact, Store
from tests.conftest import FixedClock, claim
from tests.storage.booking import at, book, phone
from tests.storage.dashboard_data import make_call

HASH = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo"
ERASED = phone(90)


async def seed(store: Store, clock: FixedClock) -> None:
    """Write one of every kind of row (see the module docstring)."""
    start = clock.now
    for n, (hour, name) in enumerate([(9, "Arta Hoxha"), (10, "Ëlira Çela"), (11, "Dritë Muça")]):
        await book(store, start=at(hour), number=phone(n), name=name, price=2000 + n)
    cancelled = await book(store, start=at(12), number=phone(3), name="Besa Kola")
    await store.appointments.set_status(
        appointment_id=cancelled.appointment.id,  # type: ignore[union-attr]
        status="cancelled",
    )
    await store.follow_ups.create(
        phone=phone(4), name="Gent Leka", due_at=at(15), reason="call back", source="agent"
    )
    await make_call(
        store,
        clock,
        call_id="call-1",
        at=start - timedelta(hours=2),
        phone=phone(0),
        entries=[
            {"role": "assistant", "text": "Mirëdita, klinika."},
            {"role": "user", "text": "Dua një termin — nesër?"},
        ],
        counters={"tools": 1},
    )
    await make_call(store, clock, call_id="call-2", at=start - timedelta(hours=1), outcome=None)
    clock.now = start
    await store.dnc.add(phone=phone(5), reason="asked", source="cli")
    await store.patients.upsert(phone=ERASED, name="Erion Doci", language="sq")
    await store.dnc.add(phone=ERASED, reason="erase me", source="agent")
    await store.privacy.erase_person(phone=ERASED, actor="test")
    campaign = await store.campaigns.create(name="Recall", purpose="recall")
    await store.campaigns.add_contacts(
        campaign_id=campaign.id,
        contacts=[
            NewContact(phone=phone(0), name="Arta Hoxha"),
            NewContact(phone=phone(6), name="Ilir Gjoni", priority=2),
        ],
    )
    contacts = await store.db.rows("SELECT id FROM campaign_contacts ORDER BY id")
    # A runner left registered (a node that stopped uncleanly), so its row is copied too.
    await store.runners.register(campaign_id=campaign.id, token="runner-1", host="node-a", pid=7)
    claimed = await claim(store, contact_id=contacts[0][0], room="r1", call_id="call-3", now=start)
    await store.queue.complete_attempt(
        attempt_id=claimed.attempt.id,  # type: ignore[union-attr]
        outcome="no_answer",
        sip_status="480",
        duration_s=0,
        next_call_at=start + timedelta(hours=3),
        done_reason=None,
    )
    user = await store.users.add(name="Admin", role="admin", password_hash=HASH, language="sq")
    await store.users.create_session(
        user_id=user.id,
        token_hash="a" * 64,
        csrf_token="c" * 40,
        expires_at=start + timedelta(days=1),
    )
    await store.audit.record(actor="test", action="test.seed", subject="x", detail={"n": 1})
    await store.messages.opt_out(patient_phone=phone(1), channel="sms", source="cli")
