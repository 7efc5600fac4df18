"""A small local web server for talking to Elo from a browser over WebRTC.

It serves the project's own page (``pipeline/web/``, no CDN, so it works offline) and
``POST /api/offer``: the browser's SDP offer becomes a pipecat ``SmallWebRTCConnection``, the
SDP answer goes back, and the call for that connection starts in the background through the
caller's ``on_connection`` callback. The server knows nothing about calls; ``bot.py`` passes a
callback that builds the transport and runs a ``CallSession``::

    async def on_connection(connection):
        transport = make_transport(settings, webrtc_connection=connection)
        await CallSession(deps, CallSpec(metadata, transport)).run()

    await serve(on_connection, guard=guard_from_settings(settings.pipeline, token),
                host=settings.pipeline.webrtc_host, port=settings.pipeline.webrtc_port)

Every browser call costs model time and can book appointments, so the page is guarded:

- every request must name an allowed host in ``Host`` (and in ``Origin`` when a browser sends
  one), with the server's own port: a DNS-rebinding page or another site's script gets 403;
- an offer needs the secret token as ``Authorization: Bearer ...`` (401 otherwise; the page
  reads it from its address, ``#token=...``, which browsers never send to the server), or a
  one-time link token signed with that secret (``elo browser-link``,
  :func:`pipeline.browser_access.make_link_token`):
  it expires and starts one call only, so the secret itself is never handed out;
- one client address may make ``offers_per_minute`` offers a minute (429 with Retry-After);
- at most ``max_calls`` browser calls run at once (503 with Retry-After).

Refusals are JSON ``{"error": ...}`` and never echo the token or what was sent.
"""

from __future__ import annotations

import asyncio
import hmac
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.responses import FileResponse, JSONResponse
from loguru import logger

# Module-level on purpose: FastAPI resolves the endpoints' (string) annotations in the module's
# globals, so request models imported inside create_app would be read as query parameters.
from pipecat.transports.smallwebrtc.connection import SmallWebRTCConnection
from pipecat.transports.smallwebrtc.request_handler import (
    SmallWebRTCPatchRequest,
    SmallWebRTCRequest,
    SmallWebRTCRequestHandler,
)

from pipeline.browser_access import check_link_token

if TYPE_CHECKING:
    from config.settings_call import PipelineSettings

WEB_DIR = Path(__file__).parent / "web"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
DEFAULT_ALLOWED_HOSTS = ("localhost", "127.0.0.1", "::1")
OFFER_PATH = "/api/offer"
# How long a browser refused for capacity should wait before trying again, in seconds.
BUSY_RETRY_SECS = 30
_WINDOW_SECS = 60.0

OnConnection = Callable[[SmallWebRTCConnection], Awaitable[None]]
"""Runs one call for a new browser connection; returns when the call is over."""


@dataclass(frozen=True)
class BrowserGuard:
    """Who may start a browser call, and how many.

    Attributes:
        token: The secret an offer must carry (``Authorization: Bearer TOKEN``); never empty.
        allowed_hosts: Host names (or IP addresses) accepted in ``Host`` and ``Origin``.
        max_calls: Browser calls in progress at once.
        offers_per_minute: Offers one client address may make in any 60 seconds.
        clock: Monotonic seconds; tests pass one they can move.
        wall_clock: Unix seconds, for the expiry of one-time links.
    """

    token: str
    allowed_hosts: Sequence[str] = DEFAULT_ALLOWED_HOSTS
    max_calls: int = 2
    offers_per_minute: int = 10
    clock: Callable[[], float] = field(default=time.monotonic, compare=False)
    wall_clock: Callable[[], float] = field(default=time.time, compare=False)

    def __post_init__(self) -> None:
        if not self.token:
            raise ValueError("the browser page needs a token")
        hosts = tuple(host.strip().strip("[]").lower() for host in self.allowed_hosts)
        object.__setattr__(self, "allowed_hosts", hosts)


def guard_from_settings(pipeline: PipelineSettings, token: str | None = None) -> BrowserGuard:
    """The guard the settings ask for.

    Args:
        pipeline: The pipeline settings (``webrtc_*``).
        token: The token to require; None takes ``webrtc_token`` from the settings.
    """
    return BrowserGuard(
        token=token if token is not None else pipeline.webrtc_token.get_secret_value(),
        allowed_hosts=pipeline.webrtc_allowed_hosts,
        max_calls=pipeline.webrtc_max_calls,
        offers_per_minute=pipeline.webrtc_offers_per_minute,
    )


def _refusal(status: int, error: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": error}, status_code=status, headers=headers)


def _port_of(scheme: str, port: int | None) -> int:
    return port if port is not None else (443 if scheme == "https" else 80)


class _OfferRate:
    """Offers per client address in a sliding 60-second window."""

    def __init__(self, per_minute: int, clock: Callable[[], float]) -> None:
        self._per_minute = per_minute
        self._clock = clock
        self._seen: dict[str, deque[float]] = {}

    def wait_secs(self, client: str) -> int:
        """0 when ``client`` may make an offer now (which is then counted), else seconds to wait."""
        now = self._clock()
        # Forget windows that have run out, so the table stays as small as the recent clients.
        for address in [a for a, times in self._seen.items() if now - times[-1] >= _WINDOW_SECS]:
            del self._seen[address]
        times = self._seen.setdefault(client, deque())
        while times and now - times[0] >= _WINDOW_SECS:
            times.popleft()
        if len(times) >= self._per_minute:
            return max(1, math.ceil(_WINDOW_SECS - (now - times[0])))
        times.append(now)
        return 0


def create_app(on_connection: OnConnection, *, guard: BrowserGuard) -> FastAPI:
    """The FastAPI app: the page, its script, and the guarded WebRTC offer endpoints.

    Args:
        on_connection: Called once per new browser peer connection, in a background task.
            Its errors are logged; they do not reach the browser, which already has its answer.
        guard: Token, allowed hosts, and the caps on calls and offers.
    """
    # No ICE servers: the page and the bot are on the same machine or network, and STUN
    # lookups would need the internet.
    handler = SmallWebRTCRequestHandler()
    calls: set[asyncio.Task[None]] = set()
    rate = _OfferRate(guard.offers_per_minute, guard.clock)
    expected = f"Bearer {guard.token}".encode()
    # One-time links taken (or being taken by an offer in progress), until they expire.
    used_links: dict[str, int] = {}

    def link_of(request: Request) -> tuple[str, int] | None:
        given = request.headers.get("authorization", "")
        if not given.startswith("Bearer "):
            return None
        now = guard.wall_clock()
        for nonce in [n for n, expires in used_links.items() if expires <= now]:
            del used_links[nonce]  # an expired link is refused by its expiry anyway
        return check_link_token(guard.token, given.removeprefix("Bearer "), now)

    # Calls running plus offers admitted and still being answered: an offer reserves its place
    # before the (slow) answer, so simultaneous offers cannot all slip under the cap.
    admitted = 0

    def names_this_server(request: Request, url: str) -> bool:
        """``url`` (an origin) names an allowed host on this server's port."""
        server_port = request.scope.get("server", (None, None))[1]
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            return False
        return (
            parts.scheme in ("http", "https")
            and parts.hostname in guard.allowed_hosts
            and (server_port is None or _port_of(parts.scheme, port) == server_port)
        )

    def host_allowed(request: Request) -> bool:
        return names_this_server(request, "http://" + request.headers.get("host", ""))

    def origin_allowed(request: Request) -> bool:
        origin = request.headers.get("origin")
        if origin is None:
            return True  # not a browser's cross-site request; the token still decides
        return names_this_server(request, origin)

    async def run_call(connection: SmallWebRTCConnection) -> None:
        try:
            await on_connection(connection)
        except Exception:
            logger.exception("browser call {} failed", connection.pc_id)

    def release(_task: asyncio.Task[None] | None = None) -> None:
        nonlocal admitted
        admitted = max(0, admitted - 1)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        # Closing the peer connections ends the calls; cancel whatever is left.
        await handler.close()
        for task in list(calls):
            task.cancel()
        await asyncio.gather(*calls, return_exceptions=True)

    app = FastAPI(title="Elo", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)

    @app.middleware("http")
    async def check_request(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        # Before anything else reads the request: a refused one costs no parsing and no call.
        if not host_allowed(request):
            logger.warning("browser page: request refused for its Host header")
            return _refusal(403, "this host name is not allowed")
        if not origin_allowed(request):
            logger.warning("browser page: request refused for its Origin header")
            return _refusal(403, "requests from this origin are not allowed")
        if request.url.path == OFFER_PATH:
            if request.method == "POST":
                client = request.client.host if request.client else "unknown"
                wait = rate.wait_secs(client)
                if wait:
                    # No address in the log: it identifies a person as much as a number does.
                    logger.warning("browser page: a client reached its offers-per-minute cap")
                    return _refusal(
                        429, "too many call attempts; try again later", {"Retry-After": str(wait)}
                    )
            given = request.headers.get("authorization", "").encode()
            if not hmac.compare_digest(given, expected):
                link = link_of(request)
                if link is None or (request.method == "POST" and link[0] in used_links):
                    return _refusal(
                        401,
                        "a valid token is needed to start a call",
                        {"WWW-Authenticate": "Bearer"},
                    )
        return await call_next(request)

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(WEB_DIR / "index.html", media_type="text/html")

    @app.get("/elo.js", include_in_schema=False)
    async def script() -> FileResponse:
        return FileResponse(WEB_DIR / "elo.js", media_type="text/javascript")

    @app.post(OFFER_PATH, response_model=None)
    async def offer(
        request: SmallWebRTCRequest, http: Request
    ) -> dict[str, str] | JSONResponse | None:
        nonlocal admitted
        given = http.headers.get("authorization", "").encode()
        link = None if hmac.compare_digest(given, expected) else link_of(http)
        if link is not None and link[0] in used_links:
            # Another offer took this link since the middleware looked.
            return _refusal(401, "this link has been used", {"WWW-Authenticate": "Bearer"})
        if admitted >= guard.max_calls:
            logger.warning("browser page: call refused, {} calls in progress", admitted)
            return _refusal(
                503,
                "Elo is busy with other calls; try again later",
                {"Retry-After": str(BUSY_RETRY_SECS)},
            )
        admitted += 1
        started = False
        if link is not None:
            used_links[link[0]] = link[1]  # taken now, so a second offer cannot share it

        async def start_call(connection: SmallWebRTCConnection) -> None:
            nonlocal started
            # The handler awaits this before answering, so the call itself must not run here.
            started = True
            task = asyncio.create_task(run_call(connection), name=f"webrtc-call-{connection.pc_id}")
            calls.add(task)
            task.add_done_callback(calls.discard)
            task.add_done_callback(release)

        try:
            return await handler.handle_web_request(request, start_call)
        finally:
            if not started:  # a failed offer or a renegotiation: no new call holds the place
                release()
                if link is not None:
                    used_links.pop(link[0], None)  # the link did not start a call: still good

    @app.patch(OFFER_PATH)
    async def ice_candidates(request: SmallWebRTCPatchRequest) -> dict[str, str]:
        # Trickled candidates; the bundled page sends its candidates inside the offer instead.
        await handler.handle_patch_request(request)
        return {"status": "success"}

    app.state.calls = calls
    return app


def create_server(
    on_connection: OnConnection,
    *,
    guard: BrowserGuard,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
) -> uvicorn.Server:
    """A uvicorn server for :func:`create_app`; ``port=0`` picks a free port.

    Run it with ``await server.serve()``; set ``server.should_exit = True`` to stop it.
    """
    config = uvicorn.Config(
        create_app(on_connection, guard=guard),
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        # The per-client cap keys on the peer's address: a forwarded-for header from a local
        # client must not be able to pose as another address.
        proxy_headers=False,
        server_header=False,
    )
    return uvicorn.Server(config)


def bound_port(server: uvicorn.Server) -> int:
    """The port a started server listens on (useful after ``port=0``)."""
    return int(server.servers[0].sockets[0].getsockname()[1])


async def serve(
    on_connection: OnConnection,
    *,
    guard: BrowserGuard,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
) -> None:
    """Serve the browser page until interrupted (Ctrl+C) or cancelled.

    Args:
        on_connection: Runs one call for a new browser connection.
        guard: Token, allowed hosts, and the caps on calls and offers.
        host: Interface to listen on; the default keeps the page local to this machine.
        port: TCP port of the page, http://HOST:PORT.
    """
    server = create_server(on_connection, guard=guard, host=host, port=port)
    logger.info("browser page listening on {}:{}", host, port)
    await server.serve()
