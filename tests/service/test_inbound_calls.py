"""Inbound calls end to end: LiveKit fake -> signed webhook -> Elo's service -> real pipeline.

A caller joins a room of their own on the LiveKit fake, which sends Elo's HTTP service (uvicorn on
127.0.0.1) the signed ``participant_joined``. The webhook starts a real ``InboundCalls`` call: a
CallSession whose model is the Gemini Live emulator and whose tools write the real SQLite file.
Only the call's media is the WAV-file transport (no LiveKit media server runs here); it stands in
for Elo in the caller's room, so building it is what makes the fake's SIP bridge answer.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from devtools.gemini_emulator import GeminiLiveEmulator, tool_call, wait_for_audio
from devtools.livekit_fake import FakeLiveKitServer, InboundLeg, SipTransferScript
from pipeline.call.control import FORWARDED
from pipeline.call.spec import CallTimeouts
from service.http import create_http_app
from service.inbound import InboundCall, InboundCalls
from service.webhooks import PATH
from storage import NewContact, Store
from tests.conftest import TIRANE, FixedClock
from tests.pipeline.harness import (
    HANG_GUARD_SECS,
    NAME,
    NO_GOODBYE_FALLBACK,
    NO_IDLE_END,
    PHONE,
    call_settings,
    emulator_app,
    file_transport,
    goodbye,
    greeting,
    tool_results,
)
from tests.service.live_http import serving

API_KEY = "APIinbound"
API_SECRET = "an-inbound-secret-long-enough-for-hs256-0123456789"
CLINIC_PHONE = "+35542223344"
# Wednesday 2 December 2026, 10:00 in Tirana: the clinic is open (09:00-13:00).
OPEN = datetime(2026, 12, 2, 10, 0, tzinfo=TIRANE)
ANSWER_CUE = "Telefonuesi është në linjë"


@asynccontextmanager
async def inbound_service(
    tmp_path: Path,
    emu: GeminiLiveEmulator,
    lk: FakeLiveKitServer,
    store: Store,
    clinic: Any,
    clock: FixedClock,
    *,
    answer: bool = True,
    **inbound: Any,
) -> AsyncIterator[InboundCalls]:
    """Elo's service taking the fake's webhooks, its inbound calls on the real pipeline."""
    settings = call_settings(
        tmp_path,
        emu,
        pipeline=NO_IDLE_END,
        livekit={"url": lk.url, "api_key": SecretStr(API_KEY), "api_secret": SecretStr(API_SECRET)},
        inbound=inbound,
    )
    app = emulator_app(settings, clinic, store, clock, emu)

    def transport(call: InboundCall) -> Any:
        if answer:
            lk.answer_inbound(InboundLeg(call.room, call.participant_identity, call.sip_call_id))
        return file_transport(tmp_path)

    calls = InboundCalls(
        app, transport_factory=transport, timeouts=CallTimeouts(goodbye=NO_GOODBYE_FALLBACK)
    )
    try:
        async with serving(create_http_app(app, start_inbound=calls.start)) as base:
            lk.send_webhooks_to(base + PATH)
            yield calls
    finally:
        await calls.aclose()


async def _call_in(
    lk: FakeLiveKitServer, calls: InboundCalls, caller: str
) -> tuple[InboundLeg, str]:
    """A caller dials in; returns once Elo's call with them has ended."""
    leg = await lk.inbound_call(caller)
    await lk.flush_webhooks()
    call_id = f"in-{leg.sip_call_id}"
    assert calls.running == [call_id]
    await asyncio.wait_for(calls.wait(call_id), timeout=HANG_GUARD_SECS)
    return leg, call_id


def _answered(emu: GeminiLiveEmulator) -> bool:
    return any(ANSWER_CUE in json.dumps(m.body, ensure_ascii=False) for m in emu.client_contents)


@pytest.mark.slow
@pytest.mark.asyncio
async def test_a_caller_books_and_the_call_is_recorded_inbound_on_their_number(
    tmp_path: Path, store: Store, clinic: Any, clock: FixedClock
) -> None:
    booking = {
        "patient_name": NAME,
        "preferred_date": "2026-12-02T10:00",
        "service_type": "checkup",
    }
    script = [
        *greeting(),
        wait_for_audio(seconds=0.5),
        tool_call("schedule_appointment", booking, id="book"),  # no number: the call's own
        *goodbye("completed"),
    ]
    # The patient is queued in a recall campaign, and in another one already finished with.
    recall = await store.campaigns.create(name="Recall", purpose="recall")
    other = await store.campaigns.create(name="Other", purpose="check_up")
    for campaign in (recall, other):
        await store.campaigns.add_contacts(
            campaign_id=campaign.id, contacts=[NewContact(phone=PHONE, name=NAME)]
        )
    untouched = await store.campaigns.add_contacts(
        campaign_id=recall.id, contacts=[NewContact(phone="+355681112233", name="Ben Duka")]
    )
    assert untouched.imported == 1
    async with GeminiLiveEmulator(script) as emu, FakeLiveKitServer(API_KEY, API_SECRET) as lk:
        async with inbound_service(tmp_path, emu, lk, store, clinic, clock) as calls:
            # The carrier sends the national form; Elo binds the call to the E.164 number.
            leg, call_id = await _call_in(lk, calls, "0691234567")
        instruction = emu.setups[0].system_instruction
        deleted = [r.body["room"] for r in lk.requests_for("DeleteRoom")]
        transfers = lk.requests_for("TransferSIPParticipant")

    record = await store.calls.get(call_id=call_id)
    assert record is not None
    assert (record.direction, record.phone, record.outcome) == ("inbound", PHONE, "booked")
    assert tool_results(emu)["book"]["status"] == "booked"
    with sqlite3.connect(tmp_path / "elo.db") as db:
        rows = db.execute(
            "SELECT p.phone, p.name, a.call_id FROM appointments a"
            " JOIN patients p ON p.id = a.patient_id"
        ).fetchall()
    assert rows == [(PHONE, NAME, call_id)]
    assert "Kjo është një thirrje hyrëse" in instruction
    assert _answered(emu)
    # Elo closes the caller's room once the call is over; nobody was forwarded.
    assert deleted == [leg.room] and transfers == []
    # Booked by calling back: no campaign calls them about it again; others stay queued.
    contacts = [
        (c.phone, c.state, c.done_reason)
        for campaign in (recall, other)
        for c in await store.campaigns.contacts(campaign_id=campaign.id)
    ]
    assert sorted(contacts) == [
        ("+355681112233", "queued", None),
        (PHONE, "done", "booked"),
        (PHONE, "done", "booked"),
    ]


@pytest.mark.slow
@pytest.mark.asyncio
async def test_in_opening_hours_the_call_goes_to_the_clinic_before_elo_speaks(
    tmp_path: Path, store: Store, clinic: Any, clock: FixedClock
) -> None:
    clock.now = OPEN
    async with GeminiLiveEmulator([]) as emu, FakeLiveKitServer(API_KEY, API_SECRET) as lk:
        async with inbound_service(
            tmp_path, emu, lk, store, clinic, clock, forward_to="+355 4 222 3344"
        ) as calls:
            leg, call_id = await _call_in(lk, calls, PHONE)
        transfers = lk.requests_for("TransferSIPParticipant")

    assert [(t.body["participant_identity"], t.body["transfer_to"]) for t in transfers] == [
        (leg.identity, f"tel:{CLINIC_PHONE}")
    ]
    record = await store.calls.get(call_id=call_id)
    assert record is not None
    assert (record.direction, record.outcome, record.outcome_reason) == (
        "inbound",
        "transferred",
        FORWARDED,
    )
    assert not _answered(emu)


@pytest.mark.slow
@pytest.mark.asyncio
async def test_when_forwarding_fails_elo_answers(
    tmp_path: Path, store: Store, clinic: Any, clock: FixedClock
) -> None:
    clock.now = OPEN
    script = [*greeting(), *goodbye("completed")]
    async with GeminiLiveEmulator(script) as emu, FakeLiveKitServer(API_KEY, API_SECRET) as lk:
        lk.script_transfer(SipTransferScript(outcome="fail", sip_code=486))
        async with inbound_service(
            tmp_path, emu, lk, store, clinic, clock, forward_to=CLINIC_PHONE
        ) as calls:
            _, call_id = await _call_in(lk, calls, PHONE)
        transfers = lk.requests_for("TransferSIPParticipant")

    assert len(transfers) == 1
    assert _answered(emu)
    record = await store.calls.get(call_id=call_id)
    assert record is not None and record.outcome == "completed"


@pytest.mark.slow
@pytest.mark.asyncio
async def test_a_do_not_call_caller_is_answered_after_hours_and_never_called_back(
    tmp_path: Path, store: Store, clinic: Any, clock: FixedClock
) -> None:
    # The fixed clock's Tuesday 08:00 is a public holiday: closed, so Elo answers.
    await store.dnc.add(phone=PHONE, reason="asked", source="agent")
    callback = {"client_name": NAME, "preferred_time": "2026-12-02T10:00"}
    script = [
        *greeting(),
        wait_for_audio(seconds=0.5),
        tool_call("schedule_follow_up", callback, id="cb"),
        tool_call("transfer_to_human", {"reason": "wants a person"}, id="xfer"),
        *goodbye("completed"),
    ]
    async with GeminiLiveEmulator(script) as emu, FakeLiveKitServer(API_KEY, API_SECRET) as lk:
        lk.script_transfer(SipTransferScript(outcome="fail", sip_code=603))
        async with inbound_service(
            tmp_path, emu, lk, store, clinic, clock, forward_to=CLINIC_PHONE
        ) as calls:
            _, call_id = await _call_in(lk, calls, PHONE)
        transfers = lk.requests_for("TransferSIPParticipant")

    assert _answered(emu)
    assert "mos telefono" in emu.setups[0].system_instruction
    results = tool_results(emu)
    assert results["cb"]["error"] == "the clinic does not call this number back"
    assert (results["xfer"]["status"], results["xfer"]["follow_up"]) == (
        "transfer_failed",
        "not_created",
    )
    # Only the model's transfer reached LiveKit: outside opening hours nothing is forwarded
    # (a forward would have failed too, and been a second transfer).
    assert len(transfers) == 1
    record = await store.calls.get(call_id=call_id)
    assert record is not None and (record.direction, record.phone) == ("inbound", PHONE)
    assert await store.dnc.is_listed(phone=PHONE)
    assert await store.follow_ups.list() == []


@pytest.mark.slow
@pytest.mark.asyncio
async def test_a_caller_who_hangs_up_while_ringing_is_no_conversation(
    tmp_path: Path, store: Store, clinic: Any, clock: FixedClock
) -> None:
    async with GeminiLiveEmulator([]) as emu, FakeLiveKitServer(API_KEY, API_SECRET) as lk:
        async with inbound_service(tmp_path, emu, lk, store, clinic, clock, answer=False) as calls:
            leg = await lk.inbound_call(PHONE)
            await lk.flush_webhooks()
            lk.caller_hangs_up(leg)
            call_id = f"in-{leg.sip_call_id}"
            await asyncio.wait_for(calls.wait(call_id), timeout=HANG_GUARD_SECS)

    record = await store.calls.get(call_id=call_id)
    assert record is not None
    assert (record.direction, record.outcome) == ("inbound", "not_answered")
    assert not _answered(emu)


@pytest.mark.slow
@pytest.mark.asyncio
async def test_a_number_over_its_hourly_cap_is_not_answered_and_its_line_is_closed(
    tmp_path: Path, store: Store, clinic: Any, clock: FixedClock
) -> None:
    for n in range(3):  # ELO_LIMITS__CALLS_PER_NUMBER_PER_HOUR
        await store.calls.start(call_id=f"earlier-{n}", phone=PHONE)
    async with GeminiLiveEmulator([]) as emu, FakeLiveKitServer(API_KEY, API_SECRET) as lk:
        async with inbound_service(tmp_path, emu, lk, store, clinic, clock) as calls:
            leg, call_id = await _call_in(lk, calls, PHONE)
        deleted = [r.body["room"] for r in lk.requests_for("DeleteRoom")]
        connections = emu.connection_count

    assert await store.calls.get(call_id=call_id) is None
    assert deleted == [leg.room] and connections == 0


@pytest.mark.slow
@pytest.mark.asyncio
async def test_a_call_staff_end_before_elo_is_in_the_room_ends_there_and_is_recorded(
    tmp_path: Path, store: Store, clinic: Any, clock: FixedClock
) -> None:
    """Ended while the caller's history is read: stopped once its session runs, never greeted."""
    async with GeminiLiveEmulator([]) as emu, FakeLiveKitServer(API_KEY, API_SECRET) as lk:
        async with inbound_service(tmp_path, emu, lk, store, clinic, clock) as calls:
            leg = await lk.inbound_call(PHONE)
            await lk.flush_webhooks()
            call_id = f"in-{leg.sip_call_id}"
            await calls.cancel(call_id, reason="ended by staff")
            await asyncio.wait_for(calls.wait(call_id), timeout=HANG_GUARD_SECS)
        deleted = [r.body["room"] for r in lk.requests_for("DeleteRoom")]

    record = await store.calls.get(call_id=call_id)
    assert record is not None
    # Never answered: the line did not come up for Elo, whoever ended it.
    assert (record.outcome, record.outcome_reason) == ("not_answered", "ended by staff")
    assert not _answered(emu)
    assert deleted == [leg.room]
