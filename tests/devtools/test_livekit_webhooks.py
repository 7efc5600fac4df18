"""The LiveKit fake's webhooks and inbound callers, checked against livekit-api's own receiver."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import jwt
import pytest
from aiohttp import web
from livekit import api
from livekit.protocol import models, sip

from devtools.livekit_fake import FakeLiveKitServer, SipTransferScript
from devtools.livekit_webhooks import RETRY_MAX, WebhookSender, webhook_event

KEY = "APIfakekey"
SECRET = "fake-secret-that-is-long-enough-for-hs256-0123456789"
CALLER = "+355691234567"


@dataclass
class Received:
    """What a local endpoint got: each request's headers and body."""

    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    def events(self) -> list[str]:
        return [json.loads(body)["event"] for _, body in self.requests]


@asynccontextmanager
async def endpoint(
    answer: Callable[[int], int] = lambda _: 200,
) -> AsyncIterator[tuple[str, Received]]:
    """A local POST endpoint answering the n-th request with ``answer(n)``."""
    received = Received()

    async def handle(request: web.Request) -> web.Response:
        received.requests.append((dict(request.headers), await request.read()))
        return web.Response(status=answer(len(received.requests)))

    app = web.Application()
    app.router.add_post("/hook", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}/hook", received
    finally:
        await runner.cleanup()


@pytest.mark.asyncio
async def test_webhooks_are_signed_so_livekits_own_receiver_accepts_them() -> None:
    async with endpoint() as (url, received), FakeLiveKitServer(KEY, SECRET, webhook_url=url) as lk:
        leg = await lk.inbound_call(CALLER)
        await lk.flush_webhooks()

    assert received.events() == ["room_started", "participant_joined"]
    headers, body = received.requests[1]
    # The bare token, no "Bearer"; LiveKit's content type and user agent.
    token = headers["Authorization"]
    assert not token.startswith("Bearer")
    assert (headers["Content-Type"], headers["User-Agent"]) == (
        "application/webhook+json",
        "LiveKit",
    )
    event = api.WebhookReceiver(api.TokenVerifier(KEY, SECRET)).receive(body.decode(), token)
    assert (event.event, event.room.name, event.participant.identity) == (
        "participant_joined",
        leg.room,
        leg.identity,
    )
    assert event.id.startswith("EV_") and event.created_at > 0
    claims = jwt.decode(token, options={"verify_signature": False})
    assert (claims["iss"], claims["exp"] - claims["nbf"]) == (KEY, 300)
    # protojson: lowerCamelCase names, enums by name.
    raw = json.loads(body)
    assert raw["participant"]["kind"] == "SIP" and "createdAt" in raw
    # Another key's receiver refuses it.
    with pytest.raises(jwt.InvalidSignatureError):
        api.WebhookReceiver(api.TokenVerifier(KEY, SECRET[::-1])).receive(body.decode(), token)


@pytest.mark.asyncio
async def test_an_inbound_caller_rings_in_a_room_of_their_own_until_an_agent_is_there() -> None:
    async with endpoint() as (url, received), FakeLiveKitServer(KEY, SECRET, webhook_url=url) as lk:
        leg = await lk.inbound_call("0691234567", trunk_number="+35542223344")
        client = api.LiveKitAPI(lk.url, KEY, SECRET)
        try:
            (person,) = (
                await client.room.list_participants(api.ListParticipantsRequest(room=leg.room))
            ).participants
            transfer = sip.TransferSIPParticipantRequest(
                room_name=leg.room,
                participant_identity=leg.identity,
                transfer_to="tel:+35542223344",
            )
            with pytest.raises(api.ServerError) as ringing:
                await client.sip.transfer_sip_participant(transfer)
            lk.answer_inbound(leg)
            answered = lk.call_status(leg)
            await client.sip.transfer_sip_participant(transfer)
        finally:
            await client.aclose()
        await lk.flush_webhooks()

    assert leg.room.startswith("call-_0691234567_") and leg.identity == "sip_0691234567"
    assert person.kind == models.ParticipantInfo.Kind.SIP and person.name == "Phone 0691234567"
    attributes = dict(person.attributes)
    assert attributes["sip.phoneNumber"] == "0691234567"
    assert attributes["sip.trunkPhoneNumber"] == "+35542223344"
    assert attributes["sip.callStatus"] == "ringing"
    assert attributes["sip.callID"] == leg.sip_call_id and leg.sip_call_id.startswith("SCL_")
    assert "sip.ruleID" in attributes
    # livekit/sip: no REFER before the call is established.
    assert (ringing.value.code, ringing.value.message) == (
        "failed_precondition",
        "can't transfer non established call",
    )
    assert answered == "active"
    # After the transfer LiveKit's leg hangs up: the caller left the room.
    assert received.events() == ["room_started", "participant_joined", "participant_left"]
    assert lk.call_status(leg) is None


@pytest.mark.asyncio
async def test_a_hidden_number_leaves_no_number_in_the_attributes() -> None:
    async with FakeLiveKitServer(KEY, SECRET) as lk:
        leg = await lk.inbound_call(CALLER, hide_phone_number=True)
        person = lk.rooms[leg.room].participants[leg.identity]
    assert not any(CALLER in value for value in person.attributes.values())
    assert CALLER not in leg.identity and person.name == "Phone 4567"


@pytest.mark.asyncio
async def test_a_deleted_room_sends_its_participants_off_then_finishes() -> None:
    async with endpoint() as (url, received), FakeLiveKitServer(KEY, SECRET, webhook_url=url) as lk:
        leg = await lk.inbound_call(CALLER)
        client = api.LiveKitAPI(lk.url, KEY, SECRET)
        try:
            await client.room.delete_room(api.DeleteRoomRequest(room=leg.room))
        finally:
            await client.aclose()
        await lk.flush_webhooks()
    assert received.events() == [
        "room_started",
        "participant_joined",
        "participant_left",
        "room_finished",
    ]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("answers", "statuses"),
    [
        ({1: 503, 2: 200}, [503, 200]),  # a 5xx is retried with the same body and token
        ({1: 429, 2: 502, 3: 200}, [429, 502, 200]),
        ({1: 401}, [401]),  # any other answer ends the delivery
        ({1: 501}, [501]),
        ({}, [500] * (RETRY_MAX + 1)),  # then LiveKit gives up
    ],
)
async def test_deliveries_are_retried_as_livekits_http_client_does(
    answers: dict[int, int], statuses: list[int]
) -> None:
    async with endpoint(lambda n: answers.get(n, 500)) as (url, received):
        sender = WebhookSender(url, KEY, SECRET, retry_wait_s=0)
        event = webhook_event("room_started", room=models.Room(name="call-_x"))
        await sender.send(event)
    assert [d.status for d in sender.deliveries] == statuses
    assert len({body for _, body in received.requests}) == 1
    assert len({h["Authorization"] for h, _ in received.requests}) == 1


@pytest.mark.asyncio
async def test_an_unreachable_url_is_tried_and_given_up() -> None:
    sender = WebhookSender("http://127.0.0.1:9/hook", KEY, SECRET, retry_wait_s=0)
    assert await sender.send(webhook_event("room_started", room=models.Room(name="r"))) is None
    assert [d.status for d in sender.deliveries] == [None] * (RETRY_MAX + 1)


@pytest.mark.asyncio
async def test_a_transfer_script_still_applies_to_inbound_callers() -> None:
    async with FakeLiveKitServer(KEY, SECRET) as lk:
        lk.script_transfer(SipTransferScript(outcome="fail", sip_code=486))
        leg = await lk.inbound_call(CALLER)
        lk.answer_inbound(leg)
        client = api.LiveKitAPI(lk.url, KEY, SECRET)
        try:
            with pytest.raises(api.SipCallError) as caught:
                await client.sip.transfer_sip_participant(
                    sip.TransferSIPParticipantRequest(
                        room_name=leg.room, participant_identity=leg.identity, transfer_to="tel:+1"
                    )
                )
        finally:
            await client.aclose()
    assert caught.value.sip_status_code == 486
    assert lk.call_status(leg) == "active"
