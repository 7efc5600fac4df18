"""POST /livekit/webhook over real HTTP: the LiveKit fake sends signed webhooks to Elo's service.

Elo's HTTP app runs on uvicorn on 127.0.0.1; the fake signs and delivers webhooks as LiveKit
does (devtools/livekit_webhooks.py). The inbound calls the webhook starts are recorded by a
``start_inbound`` stand-in here (tests/service/test_inbound_calls.py runs real ones).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import jwt
import pytest
from livekit.protocol import models

from app.application import Application, open_application
from campaign.dialer import DialRequest, LiveKitDialer
from config.settings import load_settings
from devtools.livekit_fake import FakeLiveKitServer, SipScript
from devtools.livekit_webhooks import sign_webhook, webhook_event
from service.http import create_http_app
from service.inbound import InboundCall
from service.webhooks import MAX_BODY_BYTES, PATH
from storage.models import CallDirection
from tests.service.live_http import serving

API_KEY = "APIinbound"
API_SECRET = "an-inbound-secret-long-enough-for-hs256-0123456789"
CALLER = "+355691234567"


class Starts:
    """A ``start_inbound`` that records the calls it starts (failing the first ones if told)."""

    def __init__(self, *, failures: int = 0) -> None:
        self.calls: list[InboundCall] = []
        self._failures = failures

    async def __call__(self, call: InboundCall) -> None:
        if self._failures:
            self._failures -= 1
            raise RuntimeError("worker queue full")
        self.calls.append(call)


@asynccontextmanager
async def elo(
    tmp_path: Path, livekit_url: str, starts: Starts
) -> AsyncIterator[tuple[str, Application]]:
    settings = load_settings(
        env_file=None,
        database={"path": tmp_path / "elo.db"},
        logging={"file": tmp_path / "logs" / "elo.jsonl"},
        livekit={"url": livekit_url, "api_key": API_KEY, "api_secret": API_SECRET},
    )
    async with open_application(settings) as app:
        async with serving(create_http_app(app, start_inbound=starts)) as base:
            yield base + PATH, app


def _calls_recorded(tmp_path: Path) -> int:
    with sqlite3.connect(tmp_path / "elo.db") as db:
        return db.execute("SELECT count(*) FROM calls").fetchone()[0]


def _joined(caller: str = CALLER) -> models.ParticipantInfo:
    return models.ParticipantInfo(
        sid="PA_1",
        identity=f"sip_{caller}",
        state=models.ParticipantInfo.State.ACTIVE,
        kind=models.ParticipantInfo.Kind.SIP,
        attributes={
            "sip.callID": "SCL_AbCdEfGhIjKl",
            "sip.phoneNumber": caller,
            "sip.callStatus": "ringing",
        },
    )


def _event(caller: str = CALLER):
    room = models.Room(sid="RM_1", name=f"call-_{caller}_AbCdEfGhIjKl")
    return webhook_event("participant_joined", room=room, participant=_joined(caller))


@pytest.mark.asyncio
async def test_a_caller_in_an_inbound_room_starts_one_call_bound_to_their_own_number(tmp_path):
    starts = Starts()
    async with (
        FakeLiveKitServer(API_KEY, API_SECRET) as lk,
        elo(tmp_path, lk.url, starts) as (
            url,
            _,
        ),
    ):
        lk.send_webhooks_to(url)
        # Carriers send the caller's number in many forms: a national one here.
        leg = await lk.inbound_call("0691234567")
        await lk.flush_webhooks()
        assert lk.webhooks is not None
        deliveries = [(d.event, d.status) for d in lk.webhooks.deliveries]

    assert deliveries == [("room_started", 200), ("participant_joined", 200)]
    (call,) = starts.calls
    assert call.phone == CALLER
    assert (call.room, call.participant_identity) == (leg.room, leg.identity)
    assert call.call_id == f"in-{leg.sip_call_id}"


@pytest.mark.asyncio
async def test_a_retried_webhook_starts_the_call_once(tmp_path):
    starts = Starts()
    async with FakeLiveKitServer(API_KEY, API_SECRET) as lk:
        async with elo(tmp_path, lk.url, starts) as (url, app):
            sender = lk.send_webhooks_to(url)
            await lk.inbound_call(CALLER)
            await lk.flush_webhooks()
            joined = next(w for w in sender.sent if w.event == "participant_joined")
            # LiveKit re-sends a delivery it did not see answered: the same body and token.
            assert await sender.deliver(joined) == 200
            await asyncio.gather(sender.deliver(joined), sender.deliver(joined))
            assert len(starts.calls) == 1
            # The call ran and was recorded; the service restarts and the retry comes again.
            await app.store.calls.start(
                call_id=starts.calls[0].call_id, phone=CALLER, direction=CallDirection.INBOUND
            )
        async with elo(tmp_path, lk.url, starts) as (url, _):
            sender.url = url
            assert await sender.deliver(joined) == 200
    assert len(starts.calls) == 1


@pytest.mark.asyncio
async def test_a_failed_start_is_answered_503_and_livekits_retry_starts_the_call(tmp_path):
    starts = Starts(failures=1)
    async with (
        FakeLiveKitServer(API_KEY, API_SECRET) as lk,
        elo(tmp_path, lk.url, starts) as (
            url,
            _,
        ),
    ):
        sender = lk.send_webhooks_to(url)
        await lk.inbound_call(CALLER)
        await lk.flush_webhooks()
        joined = [d.status for d in sender.deliveries if d.event == "participant_joined"]
    assert joined == [503, 200]
    assert len(starts.calls) == 1


@pytest.mark.asyncio
async def test_a_withheld_number_starts_an_unbound_call(tmp_path):
    starts = Starts()
    async with (
        FakeLiveKitServer(API_KEY, API_SECRET) as lk,
        elo(tmp_path, lk.url, starts) as (
            url,
            _,
        ),
    ):
        lk.send_webhooks_to(url)
        leg = await lk.inbound_call(CALLER, hide_phone_number=True)
        await lk.flush_webhooks()
    (call,) = starts.calls
    # The room name and the identity are never read for a number.
    assert call.phone is None and CALLER in leg.room


@pytest.mark.asyncio
async def test_elos_own_outbound_dial_is_no_inbound_call(tmp_path):
    starts = Starts()
    async with (
        FakeLiveKitServer(API_KEY, API_SECRET) as lk,
        elo(tmp_path, lk.url, starts) as (
            url,
            _,
        ),
    ):
        sender = lk.send_webhooks_to(url)
        lk.script(CALLER, SipScript("answered", ring_secs=0))
        dialer = LiveKitDialer(url=lk.url, api_key=API_KEY, api_secret=API_SECRET)
        try:
            await dialer.create_room(room="elo-0123456789abcdef", metadata="{}", empty_timeout_s=60)
            result = await dialer.dial(
                DialRequest(
                    room="elo-0123456789abcdef",
                    phone=CALLER,
                    participant_identity="patient-1",
                    trunk_id="ST_out",
                    caller_id=None,
                    ringing_timeout_s=30,
                )
            )
        finally:
            await dialer.aclose()
        await lk.flush_webhooks()
    assert result.answered
    assert ("participant_joined", 200) in [(d.event, d.status) for d in sender.deliveries]
    assert starts.calls == []


def _stale():
    return sign_webhook(_event(), API_KEY, API_SECRET, issued_at=time.time() - 600)


def _tampered():
    signed = sign_webhook(_event(), API_KEY, API_SECRET)
    # Another caller's number in the body, under the first body's signature.
    return signed.body.replace(CALLER.encode(), b"+355682345678"), signed.headers


def _refused_requests() -> dict[str, tuple[bytes, dict[str, str]]]:
    good = sign_webhook(_event(), API_KEY, API_SECRET)
    forged = sign_webhook(_event(), API_KEY, "not-the-secret-but-long-enough-for-hs256-0000")
    other_key = sign_webhook(_event(), "APIother", API_SECRET)
    stale = _stale()
    unsigned = {k: v for k, v in good.headers.items() if k != "Authorization"}
    return {
        "unsigned": (good.body, unsigned),
        "forged": (forged.body, forged.headers),
        "wrong key": (other_key.body, other_key.headers),
        "tampered body": _tampered(),
        "stale": (stale.body, stale.headers),
        "garbage token": (good.body, {**good.headers, "Authorization": "not-a-jwt"}),
    }


@pytest.mark.asyncio
@pytest.mark.parametrize("case", list(_refused_requests()))
async def test_an_unverified_webhook_is_refused_and_starts_nothing(tmp_path, case):
    body, headers = _refused_requests()[case]
    starts = Starts()
    async with elo(tmp_path, "http://127.0.0.1:9", starts) as (url, _):
        async with httpx.AsyncClient() as client:
            response = await client.post(url, content=body, headers=headers)
    assert response.status_code == 401
    assert response.json() == {"error": "invalid webhook signature"}
    assert starts.calls == [] and _calls_recorded(tmp_path) == 0


@pytest.mark.asyncio
async def test_an_oversized_body_is_refused_before_it_is_read(tmp_path):
    starts = Starts()
    big = _event()
    big.participant.attributes["sip.h.padding"] = "x" * (MAX_BODY_BYTES + 1)
    signed = sign_webhook(big, API_KEY, API_SECRET)
    async with elo(tmp_path, "http://127.0.0.1:9", starts) as (url, _):
        async with httpx.AsyncClient() as client:
            declared = await client.post(url, content=signed.body, headers=signed.headers)

            async def chunks() -> AsyncIterator[bytes]:
                # No Content-Length: the body is counted as it streams in.
                for start in range(0, len(signed.body), 8192):
                    yield signed.body[start : start + 8192]

            streamed = await client.post(url, content=chunks(), headers=signed.headers)
    assert (declared.status_code, streamed.status_code) == (413, 413)
    assert starts.calls == [] and _calls_recorded(tmp_path) == 0


@pytest.mark.asyncio
async def test_a_signed_body_that_is_no_event_is_a_bad_request(tmp_path):
    starts = Starts()
    body = b'{"event": 42'
    signed = sign_webhook(_event(), API_KEY, API_SECRET)
    # Re-sign the broken body properly: the signature is right, the content is not an event.
    claims = jwt.decode(signed.headers["Authorization"], options={"verify_signature": False})
    claims["sha256"] = base64.b64encode(hashlib.sha256(body).digest()).decode()
    headers = {**signed.headers, "Authorization": jwt.encode(claims, API_SECRET, "HS256")}
    async with elo(tmp_path, "http://127.0.0.1:9", starts) as (url, _):
        async with httpx.AsyncClient() as client:
            response = await client.post(url, content=body, headers=headers)
    assert response.status_code == 400
    assert starts.calls == []


@pytest.mark.asyncio
async def test_other_events_and_rooms_are_answered_and_ignored(tmp_path):
    starts = Starts()
    agent = _event()
    agent.participant.kind = models.ParticipantInfo.Kind.AGENT
    other_room = _event()
    other_room.room.name = "support_+355691234567_x"
    finished = webhook_event("room_finished", room=models.Room(name="call-_x"))
    async with elo(tmp_path, "http://127.0.0.1:9", starts) as (url, _):
        async with httpx.AsyncClient() as client:
            answers = []
            for event in (agent, other_room, finished):
                signed = sign_webhook(event, API_KEY, API_SECRET)
                response = await client.post(url, content=signed.body, headers=signed.headers)
                answers.append((response.status_code, response.json()["status"]))
    assert answers == [(200, "ignored")] * 3
    assert starts.calls == []
