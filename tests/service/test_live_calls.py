"""Calls in progress, live, with "end this call": real calls on the service's board.

The campaign supervisor, the runner, the voice pipeline (in this process, or in one worker
process) and the store are real; the model is the Gemini Live emulator and the phones the
LiveKit fake. Staff hang a call up through ``LiveCallBoard.end``, as the dashboard will.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from app.live import ENDED_BY_STAFF, LiveCallEvent
from campaign.control import Command, control
from campaign.dialer import LiveKitDialer
from campaign.launcher import PipelineLauncher
from config.settings import AppSettings
from devtools.gemini_emulator import GeminiLiveEmulator
from devtools.livekit_fake import FakeLiveKitServer, InboundLeg, SipScript
from devtools.rehearsal import WaitForHangUp
from pipeline.call.spec import CallTimeouts
from service import live_calls
from service.campaign_progress import CampaignProgressFeed
from service.campaigns import CampaignSupervisor
from service.http import create_http_app
from service.inbound import InboundCall, InboundCalls
from service.live_calls import LiveCallBoard
from service.webhooks import PATH
from service.workers import WorkerPool
from storage import CampaignStatus, NewContact, Store
from tests.campaign.conftest import START
from tests.campaign.fakes import eventually
from tests.conftest import FixedClock
from tests.pipeline.harness import (
    CALLER,
    NAME,
    NO_IDLE_END,
    PHONE,
    call_settings,
    emulator_app,
    file_transport,
    greeting,
)
from tests.service.live_http import serving
from tests.service.test_inbound_calls import API_KEY, API_SECRET
from validation.phone import mask_phone

# Generous: a worker process imports the pipeline before its first call.
GUARD_S = 120.0


async def until(predicate: Any, *, seconds: float = GUARD_S) -> None:
    """Wait until the async ``predicate()`` holds (a guard against hanging, not a timing)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not await predicate():
        assert loop.time() < deadline, "the condition never held"
        await asyncio.sleep(0.05)


@asynccontextmanager
async def service(
    tmp_path: Path,
    emu: GeminiLiveEmulator,
    run_settings: AppSettings,
    store: Store,
    clinic: Any,
    clock: FixedClock,
    *,
    workers: int,
) -> AsyncIterator[tuple[LiveCallBoard, CampaignProgressFeed]]:
    """The service's campaign side as ``elo serve`` wires it, with its board and progress."""
    settings = call_settings(
        tmp_path, emu, pipeline=NO_IDLE_END, livekit=run_settings.livekit.model_dump()
    )
    app = emulator_app(settings, clinic, store, clock, emu)
    progress = CampaignProgressFeed(store, interval_s=0.5)
    board = LiveCallBoard(clock=clock, audit=store.audit, on_change=progress.poke)
    dialer = LiveKitDialer.from_settings(settings)
    pool = None
    if workers:
        spec = {
            "inputs": {PHONE: str(CALLER)},
            "folder": str(tmp_path / "audio"),
            "ca_pem": emu.ca_pem.decode(),
        }
        pool = WorkerPool(settings, size=workers, rehearsal=spec, live=board)
        await pool.open()
        launcher: Any = pool
    else:
        launcher = PipelineLauncher(app, transport_factory=lambda job: file_transport(tmp_path))
    supervisor = CampaignSupervisor(
        app=app, dialer=dialer, launcher=launcher, poll_secs=0.05, live=board, progress=progress
    )
    task = asyncio.create_task(supervisor.run())
    try:
        yield board, progress
    finally:
        await supervisor.drain(timeout_s=0)
        await task
        if pool is not None:
            await pool.aclose()
        await dialer.aclose()


async def _campaign(store: Store) -> int:
    campaign = await store.campaigns.create(name="Recall", purpose="recall")
    await store.campaigns.add_contacts(
        campaign_id=campaign.id, contacts=[NewContact(phone=PHONE, name=NAME)]
    )
    await control(store, name="Recall", command=Command.START)
    return campaign.id


async def _collect(events: AsyncIterator[LiveCallEvent], into: list[LiveCallEvent]) -> None:
    async for event in events:
        into.append(event)
        if event.kind == "ended":
            return


async def _follow(
    statuses: AsyncIterator[CampaignStatus], into: list[CampaignStatus], attempts: int
) -> None:
    async for status in statuses:
        into.append(status)
        if status.attempts == attempts and status.in_progress == 0:
            return


@pytest.mark.slow
@pytest.mark.asyncio
@pytest.mark.parametrize("workers", [0, 1], ids=["in-process", "one-worker"])
async def test_staff_end_an_answered_campaign_call_and_it_is_recorded(
    tmp_path: Path,
    store: Store,
    clinic: Any,
    clock: FixedClock,
    run_settings: AppSettings,
    livekit: FakeLiveKitServer,
    monkeypatch: pytest.MonkeyPatch,
    workers: int,
) -> None:
    clock.now = START
    # A subscriber that stops reading overflows after two changes and is resynchronised.
    monkeypatch.setattr(live_calls, "QUEUE_SIZE", 2)
    livekit.script(PHONE, SipScript("answered", ring_secs=0.2))
    campaign_id = await _campaign(store)
    # Elo greets, then the patient stays on the line until someone hangs up.
    async with GeminiLiveEmulator([*greeting(), WaitForHangUp(timeout=GUARD_S)]) as emu:
        async with service(tmp_path, emu, run_settings, store, clinic, clock, workers=workers) as (
            board,
            progress,
        ):
            follower = board.subscribe()
            first = await anext(follower)
            stalled = board.subscribe()
            assert (await anext(stalled)).kind == "snapshot"  # ... and then it reads no more
            events: list[LiveCallEvent] = []
            collecting = asyncio.create_task(_collect(follower, events))
            statuses: list[CampaignStatus] = []
            following = asyncio.create_task(
                _follow(progress.watch(campaign_id), statuses, attempts=1)
            )

            async def answered() -> bool:
                return any(call.answered for call in board.snapshot())

            async def greeted() -> bool:
                # Elo was told the patient is there (the script's first step): ending earlier
                # would close the model's socket in the middle of that step.
                return bool(emu.client_contents)

            await until(answered)
            await until(greeted)
            (call,) = board.snapshot()
            assert await board.end("no-such-call", by="web:ana") is False
            assert await board.end(call.call_id, by="web:ana") is True
            await asyncio.wait_for(collecting, GUARD_S)
            await asyncio.wait_for(following, GUARD_S)
            assert board.snapshot() == []
            resync = await asyncio.wait_for(anext(stalled), GUARD_S)
            await follower.aclose()
            await stalled.aclose()
            assert board.subscribers == 0

    assert first.kind == "snapshot" and first.calls == ()
    assert (call.direction, call.campaign_id, call.worker) == (
        "outbound",
        campaign_id,
        1 if workers else None,
    )
    assert call.phone_masked == mask_phone(PHONE) and call.started_at.tzinfo is not None
    assert PHONE not in call.model_dump_json() and PHONE[4:] not in call.model_dump_json()
    assert [(e.kind, e.call.call_id if e.call else None) for e in events] == [
        ("started", call.call_id),
        ("answered", call.call_id),
        ("ended", call.call_id),
    ]
    # The stalled subscriber missed three changes: it gets the state now, not stale changes.
    assert (resync.kind, resync.calls) == ("snapshot", ())
    record = await store.calls.get(call_id=call.call_id)
    assert record is not None
    assert (record.outcome, record.outcome_reason) == ("cancelled", ENDED_BY_STAFF)
    (contact,) = await store.campaigns.contacts(campaign_id=campaign_id)
    (attempt,) = await store.campaigns.attempts(contact_id=contact.id)
    assert attempt.outcome == "failed" and attempt.call_id == call.call_id
    (entry,) = [e for e in await store.audit.list() if e.action == "call.end"]
    assert (entry.actor, entry.subject) == ("web:ana", call.call_id)
    assert PHONE not in str(entry.detail)
    # The progress feed saw the call in progress, then its attempt recorded.
    assert any(s.in_progress == 1 for s in statuses)
    last = statuses[-1]
    assert (last.attempts, last.in_progress) == (1, 0)
    assert {outcome: n for outcome, n in last.outcomes.items() if n} == {"failed": 1}
    assert last.service_state == "active"


@pytest.mark.slow
@pytest.mark.asyncio
async def test_staff_end_a_ringing_call_and_the_dial_stops(
    tmp_path: Path,
    store: Store,
    clinic: Any,
    clock: FixedClock,
    run_settings: AppSettings,
    livekit: FakeLiveKitServer,
) -> None:
    clock.now = START
    livekit.script(PHONE, SipScript("no_answer", ring_secs=None))  # rings until hung up
    campaign_id = await _campaign(store)
    async with GeminiLiveEmulator([]) as emu:
        async with service(tmp_path, emu, run_settings, store, clinic, clock, workers=0) as (
            board,
            _,
        ):

            async def ringing() -> bool:
                return bool(board.snapshot()) and bool(livekit.calls_to(PHONE))

            await until(ringing)
            (call,) = board.snapshot()
            assert not call.answered
            assert await board.end(call.call_id, by="web:ana") is True

            async def recorded() -> bool:
                (contact,) = await store.campaigns.contacts(campaign_id=campaign_id)
                attempts = await store.campaigns.attempts(contact_id=contact.id)
                return bool(attempts) and attempts[0].outcome is not None

            # Not the pause of a campaign: its runner goes on (and the call was never answered).
            await until(recorded)
            await eventually(lambda: board.snapshot() == [])

    record = await store.calls.get(call_id=call.call_id)
    assert record is not None
    assert (record.outcome, record.outcome_reason) == ("not_answered", ENDED_BY_STAFF)
    # The room was closed, which ends the ringing leg at LiveKit.
    rooms = [r.body["room"] for r in livekit.requests_for("DeleteRoom")]
    assert rooms and all(room.startswith("elo-") for room in rooms)


@pytest.mark.slow
@pytest.mark.asyncio
async def test_an_inbound_call_is_on_the_http_apps_board_and_staff_end_it(
    tmp_path: Path, store: Store, clinic: Any, clock: FixedClock
) -> None:
    script = [*greeting(), WaitForHangUp(timeout=GUARD_S)]
    async with GeminiLiveEmulator(script) as emu, FakeLiveKitServer(API_KEY, API_SECRET) as lk:
        creds = {"url": lk.url, "api_key": SecretStr(API_KEY), "api_secret": SecretStr(API_SECRET)}
        settings = call_settings(tmp_path, emu, pipeline=NO_IDLE_END, livekit=creds)
        app = emulator_app(settings, clinic, store, clock, emu)
        board = LiveCallBoard(clock=clock, audit=store.audit)

        def transport(call: InboundCall) -> Any:
            lk.answer_inbound(InboundLeg(call.room, call.participant_identity, call.sip_call_id))
            return file_transport(tmp_path)

        calls = InboundCalls(
            app, transport_factory=transport, timeouts=CallTimeouts(goodbye=120.0), tracker=board
        )
        http = create_http_app(app, start_inbound=calls.start, live=board)
        assert http.state.live is board
        try:
            async with serving(http) as base:
                lk.send_webhooks_to(base + PATH)
                events = board.subscribe()
                assert (await anext(events)).kind == "snapshot"
                leg = await lk.inbound_call(PHONE)
                await lk.flush_webhooks()
                kinds = [(await asyncio.wait_for(anext(events), GUARD_S)).kind for _ in range(2)]
                (call,) = board.snapshot()
                assert await board.end(call.call_id, by="web:ana") is True
                ended = await asyncio.wait_for(anext(events), GUARD_S)
                await asyncio.wait_for(calls.wait(call.call_id), GUARD_S)
                await events.aclose()
        finally:
            await calls.aclose()

    assert kinds == ["started", "answered"] and ended.kind == "ended"
    assert call.call_id == f"in-{leg.sip_call_id}"
    assert (call.direction, call.campaign_id, call.worker) == ("inbound", None, None)
    assert call.phone_masked == mask_phone(PHONE) and PHONE not in call.model_dump_json()
    record = await store.calls.get(call_id=call.call_id)
    assert record is not None and record.direction == "inbound"
    assert (record.outcome, record.outcome_reason) == ("cancelled", ENDED_BY_STAFF)
    assert board.snapshot() == []
