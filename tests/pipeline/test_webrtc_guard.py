"""The browser page's guard, over real HTTP against the real server on 127.0.0.1.

Each refusal is checked with httpx: a missing or wrong token or a used, expired or forged
one-time link (401), a Host or Origin header not on the allow-list (403, the DNS-rebinding and
cross-site defence), too many offers from one client address (429) and too many calls at once
(503). Offers that must reach the WebRTC
handler carry a real SDP offer made by aiortc; the calls they start wait until the test ends
them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from aiortc import RTCPeerConnection

from config.settings import load_settings
from config.settings_call import PipelineSettings
from pipeline.browser_access import check_link_token, make_link_token, page_url
from pipeline.webrtc_server import BrowserGuard, bound_port, create_server, guard_from_settings

TOKEN = "s3cret-token-for-tests-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
BAD_BODY = {"type": "offer"}  # passes the guard, then fails validation (422): starts no call


async def wait_until(check: Any) -> None:
    """Polls ``check()`` until true (the server exposes no event to wait on); fails after 10 s."""
    async with asyncio.timeout(10):
        while True:
            if check():
                return
            await asyncio.sleep(0.02)


class MovableClock:
    """Monotonic seconds the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Calls:
    """The server's on_connection: each call runs until the test releases it."""

    def __init__(self) -> None:
        self.started = 0
        self.release = asyncio.Event()

    async def __call__(self, connection: Any) -> None:
        self.started += 1
        await self.release.wait()
        await connection.disconnect()


class Page:
    """A running server and what it was built with."""

    def __init__(self, server: Any, calls: Calls, clock: MovableClock) -> None:
        self.server = server
        self.calls = calls
        self.clock = clock

    @property
    def port(self) -> int:
        return bound_port(self.server)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, *, source: str = "127.0.0.1") -> httpx.AsyncClient:
        transport = httpx.AsyncHTTPTransport(local_address=source)
        return httpx.AsyncClient(transport=transport, base_url=self.base, timeout=20)


@pytest_asyncio.fixture
async def page_factory() -> AsyncIterator[Any]:
    servers: list[tuple[Any, asyncio.Task[None], Calls]] = []

    async def start(**guard: Any) -> Page:
        clock = MovableClock()
        calls = Calls()
        server = create_server(calls, guard=BrowserGuard(token=TOKEN, clock=clock, **guard), port=0)
        task = asyncio.create_task(server.serve())
        await wait_until(lambda: server.started)
        servers.append((server, task, calls))
        return Page(server, calls, clock)

    yield start
    for server, task, calls in servers:
        calls.release.set()
        server.should_exit = True
        await asyncio.wait_for(task, timeout=15)


async def sdp_offer() -> dict[str, str]:
    """A real browser-like SDP offer (one audio transceiver, host candidates)."""
    pc = RTCPeerConnection()
    try:
        pc.addTransceiver("audio", direction="sendrecv")
        await pc.setLocalDescription(await pc.createOffer())
        return {"sdp": pc.localDescription.sdp, "type": pc.localDescription.type}
    finally:
        await pc.close()


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}, {"X-Token": TOKEN}],
    ids=["none", "wrong", "no-bearer", "other-header"],
)
async def test_an_offer_without_the_token_is_401(page_factory: Any, headers: dict) -> None:
    page = await page_factory()
    async with page.client() as client:
        response = await client.post("/api/offer", json=BAD_BODY, headers=headers)
        patch = await client.patch("/api/offer", json={}, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert TOKEN not in response.text
    assert set(response.json()) == {"error"}
    assert patch.status_code == 401
    assert page.calls.started == 0


@pytest.mark.asyncio
async def test_the_right_token_passes_the_guard(page_factory: Any) -> None:
    page = await page_factory()
    async with page.client() as client:
        response = await client.post("/api/offer", json=BAD_BODY, headers=AUTH)
    assert response.status_code == 422  # past the guard, refused by validation


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "host",
    ["evil.example:{port}", "attacker.localhost.example:{port}", "127.0.0.1:1", "localhost"],
)
async def test_a_host_not_on_the_allow_list_is_403(page_factory: Any, host: str) -> None:
    """DNS rebinding: a foreign name resolving to 127.0.0.1 still names itself in Host."""
    page = await page_factory()
    headers = {"Host": host.format(port=page.port)}
    async with page.client() as client:
        index = await client.get("/", headers=headers)
        offer = await client.post("/api/offer", json=BAD_BODY, headers={**AUTH, **headers})
    assert index.status_code == 403
    assert offer.status_code == 403
    assert TOKEN not in offer.text
    assert page.calls.started == 0


@pytest.mark.asyncio
async def test_allowed_host_names_with_the_servers_port_pass(page_factory: Any) -> None:
    page = await page_factory()
    async with page.client() as client:
        for host in (f"localhost:{page.port}", f"127.0.0.1:{page.port}", f"[::1]:{page.port}"):
            assert (await client.get("/", headers={"Host": host})).status_code == 200


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "origin",
    [
        "http://evil.example",
        "http://localhost:1",
        "null",
        "file://",
        "http://localhost.evil:{port}",
    ],
)
async def test_an_origin_not_on_the_allow_list_is_403(page_factory: Any, origin: str) -> None:
    page = await page_factory()
    async with page.client() as client:
        response = await client.post(
            "/api/offer",
            json=BAD_BODY,
            headers={**AUTH, "Origin": origin.format(port=page.port)},
        )
    assert response.status_code == 403
    assert page.calls.started == 0


@pytest.mark.asyncio
async def test_the_pages_own_origin_passes(page_factory: Any) -> None:
    page = await page_factory()
    async with page.client() as client:
        response = await client.post(
            "/api/offer",
            json=BAD_BODY,
            headers={**AUTH, "Origin": f"http://localhost:{page.port}"},
        )
    assert response.status_code == 422


@pytest.mark.asyncio
async def test_too_many_offers_from_one_address_are_429(page_factory: Any) -> None:
    page = await page_factory(offers_per_minute=3)
    async with page.client() as client:
        codes = [
            (await client.post("/api/offer", json=BAD_BODY, headers=AUTH)).status_code
            for _ in range(3)
        ]
        refused = await client.post("/api/offer", json=BAD_BODY, headers=AUTH)
        # Guessing tokens counts too.
        guessed = await client.post("/api/offer", json=BAD_BODY, headers={"Authorization": "x"})
    assert codes == [422, 422, 422]
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert guessed.status_code == 429
    # Another address has its own budget.
    async with page.client(source="127.0.0.2") as other:
        assert (await other.post("/api/offer", json=BAD_BODY, headers=AUTH)).status_code == 422
    # A minute later the first address may try again.
    page.clock.now += 61
    async with page.client() as client:
        assert (await client.post("/api/offer", json=BAD_BODY, headers=AUTH)).status_code == 422


@pytest.mark.asyncio
async def test_more_browser_calls_than_allowed_at_once_are_503(page_factory: Any) -> None:
    page = await page_factory(max_calls=1)
    async with page.client() as client:
        first = await client.post("/api/offer", json=await sdp_offer(), headers=AUTH)
        assert first.status_code == 200, first.text
        assert first.json()["type"] == "answer"
        busy = await client.post("/api/offer", json=await sdp_offer(), headers=AUTH)
        assert busy.status_code == 503
        assert busy.headers["retry-after"].isdigit()
        assert page.calls.started == 1
        # When the call ends its place is free again.
        page.calls.release.set()
        await wait_until(lambda: not page.server.config.app.state.calls)
        again = await client.post("/api/offer", json=await sdp_offer(), headers=AUTH)
    assert again.status_code == 200, again.text
    assert page.calls.started == 2


def test_the_guard_refuses_to_exist_without_a_token() -> None:
    with pytest.raises(ValueError, match="token"):
        BrowserGuard(token="")


def test_settings_keep_the_page_local_with_a_secret_token() -> None:
    pipeline = load_settings(env_file=None).pipeline
    assert pipeline.webrtc_host == "127.0.0.1"
    assert pipeline.webrtc_token.get_secret_value() == ""  # a fresh one is made at each start
    assert "secret" not in repr(PipelineSettings(webrtc_token="secret"))
    guard = guard_from_settings(
        PipelineSettings(webrtc_token="secret", webrtc_allowed_hosts="Clinic-PC, localhost"),
    )
    assert guard.token == "secret"
    assert guard.allowed_hosts == ("clinic-pc", "localhost")
    assert (guard.max_calls, guard.offers_per_minute) == (2, 10)
    with pytest.raises(ValueError, match="without a port"):
        PipelineSettings(webrtc_allowed_hosts="localhost:7860")


@pytest.mark.asyncio
async def test_a_one_time_link_starts_one_call_only(page_factory: Any) -> None:
    page = await page_factory(max_calls=3)
    link = {"Authorization": f"Bearer {make_link_token(TOKEN, valid_secs=600)}"}
    async with page.client() as client:
        first = await client.post("/api/offer", json=await sdp_offer(), headers=link)
        again = await client.post("/api/offer", json=await sdp_offer(), headers=link)
    assert first.status_code == 200, first.text
    assert again.status_code == 401
    assert page.calls.started == 1


@pytest.mark.asyncio
async def test_a_link_refused_for_capacity_can_still_be_used(page_factory: Any) -> None:
    page = await page_factory(max_calls=1)
    link = {"Authorization": f"Bearer {make_link_token(TOKEN, valid_secs=600)}"}
    async with page.client() as client:
        assert (await client.post("/api/offer", json=await sdp_offer(), headers=AUTH)).is_success
        busy = await client.post("/api/offer", json=await sdp_offer(), headers=link)
        assert busy.status_code == 503
        page.calls.release.set()
        await wait_until(lambda: not page.server.config.app.state.calls)
        later = await client.post("/api/offer", json=await sdp_offer(), headers=link)
    assert later.status_code == 200, later.text


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", ["expired", "other-secret", "tampered", "too-long-lived"])
async def test_a_bad_link_is_401(page_factory: Any, kind: str) -> None:
    page = await page_factory()
    now = time.time()
    token = {
        "expired": make_link_token(TOKEN, valid_secs=60, now=now - 120),
        "other-secret": make_link_token("another-secret", valid_secs=600),
        "tampered": make_link_token(TOKEN, valid_secs=600).replace("1.", "1.9", 1),
        # Signed, but claiming to live longer than any link may: not made by make_link_token.
        "too-long-lived": _forged_long_link(now),
    }[kind]
    async with page.client() as client:
        response = await client.post(
            "/api/offer", json=BAD_BODY, headers={"Authorization": f"Bearer {token}"}
        )
    assert response.status_code == 401
    assert token not in response.text


def _forged_long_link(now: float) -> str:
    token = make_link_token(TOKEN, valid_secs=60, now=now + 48 * 3600)
    return token


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("127.0.0.1", "http://localhost:7860/"),
        ("0.0.0.0", "http://localhost:7860/"),
        ("clinic-pc", "http://clinic-pc:7860/"),
        ("::1", "http://[::1]:7860/"),
    ],
)
def test_the_printed_address_is_one_the_host_check_accepts(host: str, url: str) -> None:
    assert page_url(host, 7860) == url


def test_link_tokens_are_checked_by_signature_and_expiry() -> None:
    now = 1_800_000_000.0
    token = make_link_token(TOKEN, valid_secs=600, now=now)
    nonce_and_expiry = check_link_token(TOKEN, token, now)
    assert nonce_and_expiry is not None and nonce_and_expiry[1] == int(now) + 600
    assert check_link_token(TOKEN, token, now + 601) is None
    assert check_link_token("other", token, now) is None
    assert check_link_token(TOKEN, TOKEN, now) is None
    with pytest.raises(ValueError):
        make_link_token("", valid_secs=60)
    with pytest.raises(ValueError):
        make_link_token(TOKEN, valid_secs=25 * 3600)
