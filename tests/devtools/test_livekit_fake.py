"""The LiveKit fake answers the real ``livekit.api`` client the way LiveKit does."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest
import pytest_asyncio
from google.protobuf.duration_pb2 import Duration
from livekit import api
from livekit.protocol import agent_dispatch, room, sip

from devtools.livekit_fake import FakeLiveKitServer, SipScript, SipTransferScript

KEY = "APIfakekey"
SECRET = "fake-secret-that-is-long-enough-for-hs256-0123456789"
PHONE = "+355691234567"
OTHER = "+355682223344"


@pytest_asyncio.fixture
async def server() -> AsyncIterator[FakeLiveKitServer]:
    async with FakeLiveKitServer(KEY, SECRET) as running:
        yield running


@pytest_asyncio.fixture
async def lk(server: FakeLiveKitServer) -> AsyncIterator[api.LiveKitAPI]:
    client = api.LiveKitAPI(server.url, KEY, SECRET)
    yield client
    await client.aclose()


def _dial(
    phone: str = PHONE, *, ring_s: float | None = None, wait: bool = True, trunk: str = "ST_trunk"
) -> sip.CreateSIPParticipantRequest:
    request = sip.CreateSIPParticipantRequest(
        sip_trunk_id=trunk,
        sip_call_to=phone,
        room_name="call-1",
        participant_identity="patient",
        wait_until_answered=wait,
    )
    if ring_s is not None:
        request.ringing_timeout.CopyFrom(Duration(seconds=int(ring_s), nanos=int(ring_s % 1 * 1e9)))
    return request


@pytest.mark.asyncio
async def test_wrong_secret_is_refused_unauthenticated_and_recorded(
    server: FakeLiveKitServer,
) -> None:
    client = api.LiveKitAPI(server.url, KEY, SECRET[::-1])
    try:
        with pytest.raises(api.ServerError) as caught:
            await client.room.list_rooms(room.ListRoomsRequest())
    finally:
        await client.aclose()
    # livekit/livekit pkg/service/auth.go: plain text, so the client cannot read a Twirp code.
    assert (caught.value.code, caught.value.status) == ("unknown", 401)
    (recorded,) = server.requests
    assert (recorded.method, recorded.authorized, recorded.grants) == ("ListRooms", False, {})


@pytest.mark.asyncio
async def test_missing_grant_is_permission_denied(server: FakeLiveKitServer) -> None:
    token = api.AccessToken(KEY, SECRET).with_grants(api.VideoGrants(room_list=True)).to_jwt()
    client = api.LiveKitAPI.with_token(token, server.url)
    try:
        await client.room.list_rooms(room.ListRoomsRequest())  # the grant it has
        with pytest.raises(api.ServerError) as caught:
            await client.room.create_room(room.CreateRoomRequest(name="r"))
    finally:
        await client.aclose()
    assert (caught.value.code, caught.value.status) == ("permission_denied", 403)
    assert server.rooms == {}


@pytest.mark.asyncio
async def test_rooms_are_created_idempotently_listed_and_recorded(
    server: FakeLiveKitServer, lk: api.LiveKitAPI
) -> None:
    first = await lk.room.create_room(
        room.CreateRoomRequest(name="call-1", metadata='{"attempt":7}', empty_timeout=60)
    )
    again = await lk.room.create_room(room.CreateRoomRequest(name="call-1"))
    listed = await lk.room.list_rooms(room.ListRoomsRequest())

    assert again.sid == first.sid and again.metadata == '{"attempt":7}'
    assert [r.name for r in listed.rooms] == ["call-1"]
    assert server.rooms["call-1"].empty_timeout == 60
    created = server.requests_for("CreateRoom")
    assert created[0].body == {"name": "call-1", "metadata": '{"attempt":7}', "empty_timeout": 60}
    assert created[0].grants["video"]["roomCreate"] is True
    assert [r.service for r in server.requests] == ["RoomService"] * 3


@pytest.mark.asyncio
async def test_unscripted_number_answers_and_joins_an_auto_created_room(
    server: FakeLiveKitServer, lk: api.LiveKitAPI
) -> None:
    info = await lk.sip.create_sip_participant(_dial(ring_s=5))

    assert (info.participant_identity, info.room_name) == ("patient", "call-1")
    assert info.sip_call_id
    assert server.participants("call-1") == ["patient"]
    people = await lk.room.list_participants(room.ListParticipantsRequest(room="call-1"))
    assert [p.identity for p in people.participants] == ["patient"]
    (call,) = server.calls_to(PHONE)
    assert call.body["sip_trunk_id"] == "ST_trunk" and call.body["wait_until_answered"] is True
    assert call.grants["sip"]["call"] is True


@pytest.mark.parametrize(
    ("script", "sip_code", "sip_status", "twirp_code", "http_status"),
    [
        (SipScript("busy"), 486, "Busy Here", "resource_exhausted", 429),
        (SipScript("busy", sip_code=600), 600, "Busy Everywhere", "resource_exhausted", 429),
        (SipScript("no_answer"), 480, "Temporarily Unavailable", "resource_exhausted", 429),
        (SipScript("no_answer", sip_code=408), 408, "Request Timeout", "deadline_exceeded", 408),
        (SipScript("declined"), 603, "Decline", "permission_denied", 403),
        (SipScript("not_found"), 404, "Not Found", "not_found", 404),
        (SipScript("unavailable"), 503, "Service Unavailable", "failed_precondition", 412),
    ],
)
@pytest.mark.asyncio
async def test_scripted_failures_reach_the_client_as_sip_call_errors(
    server: FakeLiveKitServer,
    lk: api.LiveKitAPI,
    script: SipScript,
    sip_code: int,
    sip_status: str,
    twirp_code: str,
    http_status: int,
) -> None:
    server.script(PHONE, script)

    with pytest.raises(api.SipCallError) as caught:
        await lk.sip.create_sip_participant(_dial(ring_s=5))

    error = caught.value
    assert (error.sip_status_code, error.sip_status) == (sip_code, sip_status)
    assert (error.code, error.status) == (twirp_code, http_status)
    assert server.participants("call-1") == []


@pytest.mark.asyncio
async def test_ringing_past_the_timeout_is_canceled_without_sip_status(
    server: FakeLiveKitServer, lk: api.LiveKitAPI
) -> None:
    server.script(PHONE, SipScript("no_answer", ring_secs=None))
    server.script(OTHER, SipScript("answered", ring_secs=1.0))

    for phone in (PHONE, OTHER):
        with pytest.raises(api.ServerError) as caught:
            await lk.sip.create_sip_participant(_dial(phone, ring_s=0.2))
        assert not isinstance(caught.value, api.SipCallError)
        assert (caught.value.code, caught.value.status) == ("canceled", 408)
        assert caught.value.metadata == {}


@pytest.mark.asyncio
async def test_scripts_run_in_order_and_the_last_repeats(
    server: FakeLiveKitServer, lk: api.LiveKitAPI
) -> None:
    server.script(PHONE, SipScript("busy"), SipScript("answered"))

    with pytest.raises(api.SipCallError):
        await lk.sip.create_sip_participant(_dial())
    await lk.sip.create_sip_participant(_dial())
    await lk.sip.create_sip_participant(_dial())

    assert len(server.calls_to(PHONE)) == 3
    assert server.participants("call-1") == ["patient"]


@pytest.mark.asyncio
async def test_missing_trunk_is_invalid_argument(
    server: FakeLiveKitServer, lk: api.LiveKitAPI
) -> None:
    with pytest.raises(api.ServerError) as caught:
        await lk.sip.create_sip_participant(_dial(trunk=""))
    assert (caught.value.code, caught.value.status) == ("invalid_argument", 400)


@pytest.mark.asyncio
async def test_without_waiting_the_call_is_placed_in_the_background(
    server: FakeLiveKitServer, lk: api.LiveKitAPI
) -> None:
    info = await lk.sip.create_sip_participant(_dial(wait=False))
    assert info.participant_identity == "patient"
    for _ in range(200):  # the background dial finishes within a few loop turns
        if server.participants("call-1"):
            break
        await asyncio.sleep(0.01)
    assert server.participants("call-1") == ["patient"]


@pytest.mark.asyncio
async def test_delete_room_removes_participants_and_unknown_room_is_not_found(
    server: FakeLiveKitServer, lk: api.LiveKitAPI
) -> None:
    await lk.sip.create_sip_participant(_dial())
    await lk.room.delete_room(room.DeleteRoomRequest(room="call-1"))

    assert server.rooms == {} and server.participants("call-1") == []
    with pytest.raises(api.ServerError) as caught:
        await lk.room.delete_room(room.DeleteRoomRequest(room="call-1"))
    assert (caught.value.code, caught.value.status) == ("not_found", 404)


@pytest.mark.asyncio
async def test_remove_participant(server: FakeLiveKitServer, lk: api.LiveKitAPI) -> None:
    await lk.sip.create_sip_participant(_dial())
    await lk.room.remove_participant(
        room.RoomParticipantIdentity(room="call-1", identity="patient")
    )
    assert server.participants("call-1") == []
    with pytest.raises(api.ServerError) as caught:
        await lk.room.remove_participant(
            room.RoomParticipantIdentity(room="call-1", identity="patient")
        )
    assert caught.value.code == "not_found"


@pytest.mark.asyncio
async def test_transfer_ok_takes_the_caller_out_of_the_room(
    server: FakeLiveKitServer, lk: api.LiveKitAPI
) -> None:
    await lk.sip.create_sip_participant(_dial())
    answer = await lk.sip.transfer_sip_participant(
        sip.TransferSIPParticipantRequest(
            room_name="call-1", participant_identity="patient", transfer_to="tel:+35542000000"
        )
    )
    # The real success answer is empty (livekit/sip pkg/sip/service.go returns emptypb.Empty).
    assert answer == sip.TransferSIPParticipantResponse()
    assert server.participants("call-1") == []
    assert server.status_log[-1] == ("patient", "hangup")
    (recorded,) = server.requests_for("TransferSIPParticipant")
    assert recorded.grants["video"]["roomAdmin"] and recorded.grants["sip"]["call"]


@pytest.mark.parametrize(
    ("sip_code", "reason", "twirp_code"),
    [
        (603, "STR_REJECTED", "permission_denied"),
        (408, "STR_RINGING_TIMEOUT", "deadline_exceeded"),
        (482, "STR_REJECTED", "failed_precondition"),
    ],
)
@pytest.mark.asyncio
async def test_transfer_failures_carry_sip_status_and_transfer_reason(
    server: FakeLiveKitServer, lk: api.LiveKitAPI, sip_code: int, reason: str, twirp_code: str
) -> None:
    await lk.sip.create_sip_participant(_dial())
    server.script_transfer(SipTransferScript("fail", sip_code=sip_code), room_name="call-1")

    with pytest.raises(api.SipCallError) as caught:
        await lk.sip.transfer_sip_participant(
            sip.TransferSIPParticipantRequest(
                room_name="call-1", participant_identity="patient", transfer_to="tel:+35542000000"
            )
        )
    assert caught.value.sip_status_code == sip_code
    assert (caught.value.sip_transfer_reason, caught.value.code) == (reason, twirp_code)
    assert server.participants("call-1") == ["patient"]


@pytest.mark.asyncio
async def test_transfer_failure_can_come_as_a_failed_status(
    server: FakeLiveKitServer, lk: api.LiveKitAPI
) -> None:
    await lk.sip.create_sip_participant(_dial())
    server.script_transfer(SipTransferScript("fail", sip_code=603, via_response=True))

    answer = await lk.sip.transfer_sip_participant(
        sip.TransferSIPParticipantRequest(
            room_name="call-1", participant_identity="patient", transfer_to="sip:desk@pbx"
        )
    )
    assert answer.status == sip.SIPTransferStatus.STS_TRANSFER_FAILED
    assert (answer.sip_status.code, answer.reason) == (603, sip.SIPTransferReason.STR_REJECTED)


@pytest.mark.asyncio
async def test_dispatch_is_recorded(server: FakeLiveKitServer, lk: api.LiveKitAPI) -> None:
    made = await lk.agent_dispatch.create_dispatch(
        agent_dispatch.CreateAgentDispatchRequest(agent_name="elo", room="call-1", metadata="{}")
    )
    assert made.id and made.room == "call-1"
    assert server.requests_for("CreateDispatch")[0].body["agent_name"] == "elo"


@pytest.mark.asyncio
async def test_json_bodies_get_json_answers(server: FakeLiveKitServer) -> None:
    token = api.AccessToken(KEY, SECRET).with_grants(api.VideoGrants(room_create=True)).to_jwt()
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{server.url}/twirp/livekit.RoomService/CreateRoom",
            json={"name": "json-room", "emptyTimeout": 5},
            headers={"Authorization": f"Bearer {token}"},
        ) as resp,
    ):
        assert resp.status == 200
        assert (await resp.json())["name"] == "json-room"
    assert server.rooms["json-room"].empty_timeout == 5


def test_runs_on_its_own_thread_for_other_loops() -> None:
    async def use(url: str) -> None:
        async with api.LiveKitAPI(url, KEY, SECRET) as client:
            await client.room.create_room(room.CreateRoomRequest(name="threaded"))

    with FakeLiveKitServer(KEY, SECRET) as server:
        asyncio.run(use(server.url))
        assert list(server.rooms) == ["threaded"]
        assert server.requests[0].method == "CreateRoom"


@pytest.mark.asyncio
async def test_sip_participant_lifecycle_and_attributes(server: FakeLiveKitServer) -> None:
    """dialing -> ringing -> active with sip.callID/sip.trunkID; no number when hidden."""

    client = api.LiveKitAPI(server.url, KEY, SECRET)
    try:
        for hide, phone in ((True, "+355690000001"), (False, "+355690000002")):
            server.script(phone, SipScript("answered"))
            await client.sip.create_sip_participant(
                sip.CreateSIPParticipantRequest(
                    sip_trunk_id="ST_t",
                    sip_call_to=phone,
                    room_name=f"r{int(hide)}",
                    participant_identity=f"p{int(hide)}",
                    wait_until_answered=True,
                    hide_phone_number=hide,
                )
            )
        listed = await client.room.list_participants(room.ListParticipantsRequest(room="r1"))
        shown = await client.room.list_participants(room.ListParticipantsRequest(room="r0"))
    finally:
        await client.aclose()
    (hidden,) = listed.participants
    assert hidden.attributes["sip.callStatus"] == "active"
    assert hidden.attributes["sip.callID"].startswith("SCL_")
    assert hidden.attributes["sip.trunkID"] == "ST_t"
    assert "sip.phoneNumber" not in hidden.attributes
    assert shown.participants[0].attributes["sip.phoneNumber"] == "+355690000002"
    assert [s for i, s in server.status_log if i == "p1"] == ["dialing", "ringing", "active"]


@pytest.mark.parametrize(
    ("outcome", "code", "text"),
    [
        ("trunk_silent", "canceled", "(0 intermediate responses)"),
        ("trunk_auth_failed", "failed_precondition", "auth"),
        ("server_error", "failed_precondition", "after INVITE"),
    ],
)
@pytest.mark.asyncio
async def test_trunk_faults_carry_no_sip_status(
    server: FakeLiveKitServer, outcome: str, code: str, text: str
) -> None:

    server.script("+355690000003", SipScript(outcome))  # type: ignore[arg-type]
    client = api.LiveKitAPI(server.url, KEY, SECRET)
    try:
        with pytest.raises(api.ServerError) as caught:
            await client.sip.create_sip_participant(
                sip.CreateSIPParticipantRequest(
                    sip_trunk_id="ST_t",
                    sip_call_to="+355690000003",
                    room_name="r",
                    participant_identity="p",
                    wait_until_answered=True,
                )
            )
    finally:
        await client.aclose()
    assert not isinstance(caught.value, api.SipCallError)
    assert caught.value.code == code and text in caught.value.message
    assert server.participants("r") == [] and server.hangups == [("r", "p")]
