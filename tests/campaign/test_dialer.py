"""LiveKitDialer against the LiveKit fake: SIP answers become outcomes, failures one line."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from campaign.dialer import DialerError, DialRequest, DialResult, LiveKitDialer
from campaign.sip_outcomes import outcome_for_sip
from config.settings import AppSettings, load_settings
from devtools.livekit_fake import FakeLiveKitServer, SipScript, SipTransferScript
from tools.call_port import TransferOutcome

KEY = "APIdialerkey"
SECRET = "dialer-secret-long-enough-for-hs256-abcdefghijklmnop"
PHONE = "+355691234567"
CLINIC = "+35542000000"


def _request(*, ring_s: float = 5.0, caller_id: str | None = "+35542111222") -> DialRequest:
    return DialRequest(
        room="call-7",
        phone=PHONE,
        participant_identity="patient-7",
        trunk_id="ST_trunk",
        caller_id=caller_id,
        ringing_timeout_s=ring_s,
        metadata='{"attempt_id":7}',
    )


def _free_port() -> int:
    # Bound then closed: nothing listens there afterwards.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest_asyncio.fixture
async def server() -> AsyncIterator[FakeLiveKitServer]:
    async with FakeLiveKitServer(KEY, SECRET) as running:
        yield running


@pytest_asyncio.fixture
async def dialer(server: FakeLiveKitServer) -> AsyncIterator[LiveKitDialer]:
    made = LiveKitDialer(url=server.url, api_key=KEY, api_secret=SECRET)
    yield made
    await made.aclose()


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        (SipScript("answered"), DialResult(True, None, "200 OK", False)),
        (SipScript("busy"), DialResult(False, "busy", "486 Busy Here", False)),
        (SipScript("busy", sip_code=600), DialResult(False, "busy", "600 Busy Everywhere", False)),
        (
            SipScript("no_answer"),
            DialResult(False, "no_answer", "480 Temporarily Unavailable", False),
        ),
        (
            SipScript("no_answer", sip_code=408),
            DialResult(False, "no_answer", "408 Request Timeout", False),
        ),
        (SipScript("declined"), DialResult(False, "busy", "603 Decline", False)),
        (SipScript("not_found"), DialResult(False, "failed", "404 Not Found", True)),
        (
            SipScript("not_found", sip_code=484),
            DialResult(False, "failed", "484 Address Incomplete", True),
        ),
        (
            SipScript("unavailable"),
            DialResult(
                False,
                "failed",
                "503 Service Unavailable",
                False,
                "the trunk or carrier failed (SIP 503 Service Unavailable)",
            ),
        ),
    ],
)
@pytest.mark.asyncio
async def test_scripted_outcomes_become_dial_results(
    server: FakeLiveKitServer, dialer: LiveKitDialer, script: SipScript, expected: DialResult
) -> None:
    server.script(PHONE, script)
    assert await dialer.dial(_request()) == expected
    assert server.participants("call-7") == (["patient-7"] if expected.answered else [])


@pytest.mark.asyncio
async def test_dial_sends_what_livekit_needs(
    server: FakeLiveKitServer, dialer: LiveKitDialer
) -> None:
    await dialer.dial(_request(ring_s=25))
    await dialer.dial(_request(caller_id=None))

    with_id, without_id = server.calls_to(PHONE)
    assert with_id.body == {
        "sip_trunk_id": "ST_trunk",
        "sip_call_to": PHONE,
        "sip_number": "+35542111222",
        "room_name": "call-7",
        "participant_identity": "patient-7",
        "participant_metadata": '{"attempt_id":7}',
        "ringing_timeout": "25s",
        "wait_until_answered": True,
        "hide_phone_number": True,
    }  # play_dialtone is False: proto JSON leaves false booleans out
    assert "sip_number" not in without_id.body


@pytest.mark.asyncio
async def test_ringing_longer_than_the_timeout_is_no_answer(
    server: FakeLiveKitServer, dialer: LiveKitDialer
) -> None:
    server.script(PHONE, SipScript("answered", ring_secs=1.0))

    result = await dialer.dial(_request(ring_s=0.2))

    assert result == DialResult(False, "no_answer", None, False)
    assert server.calls_to(PHONE)[0].body["ringing_timeout"] == "0.200s"
    assert server.participants("call-7") == []


@pytest.mark.asyncio
async def test_create_room_then_hang_up_deletes_it_and_is_idempotent(
    server: FakeLiveKitServer, dialer: LiveKitDialer
) -> None:
    await dialer.create_room(room="call-7", metadata='{"attempt_id":7}', empty_timeout_s=30)
    await dialer.create_room(room="call-7", metadata='{"attempt_id":7}', empty_timeout_s=30)
    assert server.rooms["call-7"].empty_timeout == 30
    await dialer.dial(_request())
    assert server.participants("call-7") == ["patient-7"]

    await dialer.hang_up(room="call-7")
    await dialer.hang_up(room="call-7")

    assert server.rooms == {}
    assert len(server.requests_for("DeleteRoom")) == 2


@pytest.mark.asyncio
async def test_transfer_ok(server: FakeLiveKitServer, dialer: LiveKitDialer) -> None:
    await dialer.dial(_request())

    result = await dialer.transfer(
        room="call-7", participant_identity="patient-7", transfer_to=f"tel:{CLINIC}"
    )

    assert result == TransferOutcome(ok=True, reason=None)
    (sent,) = server.requests_for("TransferSIPParticipant")
    assert sent.body["transfer_to"] == f"tel:{CLINIC}"
    assert not sent.body.get("play_dialtone", False)


@pytest.mark.parametrize(
    ("script", "reason"),
    [
        (SipTransferScript("fail", sip_code=603), "603 Decline"),
        (SipTransferScript("fail", sip_code=408), "408 Request Timeout"),
        (SipTransferScript("fail", sip_code=482), "482 Loop Detected"),
        (SipTransferScript("fail", sip_code=603, via_response=True), "603 Decline"),
    ],
)
@pytest.mark.asyncio
async def test_transfer_failure_is_a_result_not_an_exception(
    server: FakeLiveKitServer, dialer: LiveKitDialer, script: SipTransferScript, reason: str
) -> None:
    await dialer.dial(_request())
    server.script_transfer(script)

    result = await dialer.transfer(
        room="call-7", participant_identity="patient-7", transfer_to=f"tel:{CLINIC}"
    )

    assert result == TransferOutcome(ok=False, reason=reason)
    assert server.participants("call-7") == ["patient-7"]


@pytest.mark.asyncio
async def test_transfer_of_someone_not_there_or_unreachable_server_is_not_ok(
    dialer: LiveKitDialer,
) -> None:
    gone = await dialer.transfer(
        room="call-7", participant_identity="nobody", transfer_to=f"tel:{CLINIC}"
    )
    assert not gone.ok and gone.reason and "not_found" in gone.reason
    assert CLINIC not in gone.reason

    offline = LiveKitDialer(url=f"http://127.0.0.1:{_free_port()}", api_key=KEY, api_secret=SECRET)
    try:
        down = await offline.transfer(
            room="call-7", participant_identity="patient-7", transfer_to=f"tel:{CLINIC}"
        )
    finally:
        await offline.aclose()
    assert not down.ok and down.reason and "unreachable" in down.reason


@pytest.mark.asyncio
async def test_unreachable_server_is_a_one_line_dialer_error_without_secret() -> None:
    url = f"http://127.0.0.1:{_free_port()}"
    offline = LiveKitDialer(url=url, api_key=KEY, api_secret=SECRET)
    try:
        for attempt in (
            offline.dial(_request()),
            offline.create_room(room="call-7", metadata="", empty_timeout_s=30),
            offline.hang_up(room="call-7"),
        ):
            with pytest.raises(DialerError) as caught:
                await attempt
            message = str(caught.value)
            assert message.startswith(f"LiveKit API unreachable at {url}")
            assert "\n" not in message and SECRET not in message and PHONE not in message
    finally:
        await offline.aclose()


@pytest.mark.asyncio
async def test_refused_credentials_are_a_dialer_error_without_secret(
    server: FakeLiveKitServer,
) -> None:
    wrong = "wrong-secret-long-enough-for-hs256-abcdefghijklmnopqr"
    refused = LiveKitDialer(url=server.url, api_key=KEY, api_secret=wrong)
    try:
        with pytest.raises(DialerError) as caught:
            await refused.dial(_request())
    finally:
        await refused.aclose()
    message = str(caught.value)
    assert "refused the API credentials (unknown)" in message
    assert wrong not in message and SECRET not in message


@pytest.mark.asyncio
async def test_bad_trunk_is_a_dialer_error(dialer: LiveKitDialer) -> None:
    request = DialRequest(
        room="call-7",
        phone=PHONE,
        participant_identity="patient-7",
        trunk_id="",
        caller_id=None,
        ringing_timeout_s=5,
    )
    with pytest.raises(DialerError, match=r"invalid_argument.*trunk") as caught:
        await dialer.dial(request)
    assert PHONE not in str(caught.value)


@pytest.mark.parametrize("scheme", ["ws", "wss"])
@pytest.mark.asyncio
async def test_websocket_urls_are_accepted(server: FakeLiveKitServer, scheme: str) -> None:
    if scheme == "wss":
        # The fake is plain HTTP; wss:// must become https://, which this only checks by error.
        url = server.url.replace("http://", "wss://")
        made = LiveKitDialer(url=url, api_key=KEY, api_secret=SECRET)
        try:
            with pytest.raises(DialerError, match=r"at https://127\.0\.0\.1:\d+"):
                await made.hang_up(room="call-7")
        finally:
            await made.aclose()
        return
    made = LiveKitDialer(url=server.url.replace("http://", "ws://"), api_key=KEY, api_secret=SECRET)
    try:
        assert (await made.dial(_request())).answered
    finally:
        await made.aclose()


def test_missing_settings_name_the_variables(settings: AppSettings) -> None:
    with pytest.raises(DialerError) as caught:
        LiveKitDialer.from_settings(settings)
    message = str(caught.value)
    for name in ("ELO_LIVEKIT__URL", "ELO_LIVEKIT__API_KEY", "ELO_LIVEKIT__API_SECRET"):
        assert name in message

    partial = load_settings(env_file=None, livekit={"url": "wss://lk.example", "api_key": KEY})
    with pytest.raises(DialerError) as caught:
        LiveKitDialer.from_settings(partial)
    assert "ELO_LIVEKIT__API_SECRET" in str(caught.value)
    assert "ELO_LIVEKIT__URL" not in str(caught.value)


@pytest.mark.asyncio
async def test_from_settings_dials(server: FakeLiveKitServer) -> None:
    configured = load_settings(
        env_file=None, livekit={"url": server.url, "api_key": KEY, "api_secret": SECRET}
    )
    made = LiveKitDialer.from_settings(configured)
    try:
        assert (await made.dial(_request())).answered
    finally:
        await made.aclose()


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (486, ("busy", False)),
        (600, ("busy", False)),
        (408, ("no_answer", False)),
        (480, ("no_answer", False)),
        (487, ("no_answer", False)),
        (603, ("busy", False)),
        (None, ("no_answer", False)),
        (404, ("failed", True)),
        (410, ("failed", True)),
        (484, ("failed", True)),
        (604, ("failed", True)),
        (500, ("failed", False)),
        (503, ("failed", False)),
        (403, ("failed", False)),
    ],
)
def test_outcome_for_sip(code: int | None, expected: tuple[str, bool]) -> None:
    assert outcome_for_sip(code) == expected


@pytest.mark.asyncio
async def test_a_server_that_never_answers_is_a_dialer_error() -> None:
    release = asyncio.Event()
    held: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)  # take the request, never answer it
        held.append(writer)
        await release.wait()

    silent = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    stuck = LiveKitDialer(
        url=f"http://127.0.0.1:{port}", api_key=KEY, api_secret=SECRET, request_timeout_s=0.2
    )
    try:
        for attempt in (
            stuck.hang_up(room="call-7"),
            stuck.create_room(room="call-7", metadata="", empty_timeout_s=30),
        ):
            with pytest.raises(DialerError, match="did not answer in time") as caught:
                await attempt
            assert "\n" not in str(caught.value) and SECRET not in str(caught.value)
    finally:
        await stuck.aclose()
        release.set()
        for writer in held:
            writer.close()
            await writer.wait_closed()
        silent.close()
        await silent.wait_closed()


@pytest.mark.parametrize(
    ("script", "fault"),
    [
        (SipScript("trunk_silent"), "never answered"),
        (SipScript("trunk_auth_failed"), "failed after the call was sent"),
        (SipScript("server_error"), "failed after the call was sent"),
        (SipScript("bridge_shutdown"), "before the ring window ended"),
        (SipScript("unavailable", sip_code=407), "407"),
    ],
)
@pytest.mark.asyncio
async def test_system_faults_are_not_the_patients_outcome(
    server: FakeLiveKitServer, dialer: LiveKitDialer, script: SipScript, fault: str
) -> None:
    """livekit/sip errors.go/outbound.go: no-status failures are the trunk's, not the patient's."""
    server.script(PHONE, script)
    result = await dialer.dial(_request())
    assert (result.answered, result.outcome, result.permanent) == (False, "failed", False)
    assert result.fault is not None and fault in result.fault
    assert PHONE not in result.fault


@pytest.mark.asyncio
async def test_plain_text_401_is_a_configuration_error(server: FakeLiveKitServer) -> None:
    refused = LiveKitDialer(url=server.url, api_key="wrong-key", api_secret=SECRET)
    try:
        with pytest.raises(DialerError) as caught:
            await refused.dial(_request())
    finally:
        await refused.aclose()
    assert caught.value.configuration
    assert server.calls_to(PHONE) == [] or not server.calls_to(PHONE)[0].authorized


@pytest.mark.asyncio
async def test_server_dial_cap_ends_a_long_ring_window(
    server: FakeLiveKitServer, dialer: LiveKitDialer
) -> None:
    """pkg/service/sip.go: a waiting dial gets 80 s in all; the client waits longer."""
    server.dial_cap_s = 0.2
    server.script(PHONE, SipScript("no_answer", ring_secs=None))
    result = await dialer.dial(_request(ring_s=0.3))
    assert (result.answered, result.outcome, result.sip_status) == (False, "no_answer", None)
    assert len(server.calls_to(PHONE)) == 1  # sent once, never replayed


def test_a_ring_window_beyond_the_servers_cap_is_refused() -> None:
    """pkg/service/sip.go: 80 s in all for a waiting dial, so at most 70 s of ringing."""
    from pydantic import ValidationError

    from config.settings_call import LiveKitSettings

    with pytest.raises(ValidationError) as caught:
        LiveKitSettings(ringing_timeout_secs=75)
    assert "ringing_timeout_secs" in str(caught.value)
    assert LiveKitSettings(ringing_timeout_secs=70).ringing_timeout_secs == 70


@pytest.mark.asyncio
async def test_the_answered_sip_participant_carries_ids_but_no_number(
    server: FakeLiveKitServer, dialer: LiveKitDialer
) -> None:
    """livekit/sip outbound.go connectToRoom/setStatus; room.go hides sip.phoneNumber."""
    assert (await dialer.dial(_request())).answered
    participant = server.rooms["call-7"].participants["patient-7"]
    assert participant.attributes["sip.callStatus"] == "active"
    assert participant.attributes["sip.callID"] and participant.attributes["sip.trunkID"]
    assert "sip.phoneNumber" not in participant.attributes
    assert PHONE not in str(dict(participant.attributes))
    assert [s for i, s in server.status_log if i == "patient-7"] == [
        "dialing",
        "ringing",
        "active",
    ]
