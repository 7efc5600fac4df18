"""A small local web server for talking to Elo from a browser over WebRTC.

It serves the project's own page (``pipeline/web/``, no CDN, so it works offline) and
``POST /api/offer``: the browser's SDP offer becomes a pipecat ``SmallWebRTCConnection``, the
SDP answer goes back, and the call for that connection starts in the background through the
caller's ``on_connection`` callback. The server knows nothing about calls; ``bot.py`` passes a
callback that builds the transport and runs a ``CallSession``::

    async def on_connection(connection):
        transport = make_transport(settings, webrtc_connection=connection)
        await CallSession(..., transport=transport).run()

    await serve(on_connection, host=settings.pipeline.webrtc_host,
                port=settings.pipeline.webrtc_port)
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import uvicorn
from fastapi import FastAPI
from fastapi.responses import FileResponse
from loguru import logger

# Module-level on purpose: FastAPI resolves the endpoints' (string) annotations in the module's
# globals, so request models imported inside create_app would be read as query parameters.
from pipecat.transports.smallwebrtc.connection import SmallWebRTCConnection
from pipecat.transports.smallwebrtc.request_handler import (
    SmallWebRTCPatchRequest,
    SmallWebRTCRequest,
    SmallWebRTCRequestHandler,
)

WEB_DIR = Path(__file__).parent / "web"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860

OnConnection = Callable[[SmallWebRTCConnection], Awaitable[None]]
"""Runs one call for a new browser connection; returns when the call is over."""


def create_app(on_connection: OnConnection) -> FastAPI:
    """The FastAPI app: the page, its script, and the WebRTC offer endpoints.

    Args:
        on_connection: Called once per new browser peer connection, in a background task.
            Its errors are logged; they do not reach the browser, which already has its answer.
    """
    # No ICE servers: the page and the bot are on the same machine or network, and STUN
    # lookups would need the internet.
    handler = SmallWebRTCRequestHandler()
    calls: set[asyncio.Task[None]] = set()

    async def run_call(connection: SmallWebRTCConnection) -> None:
        try:
            await on_connection(connection)
        except Exception:
            logger.exception("browser call {} failed", connection.pc_id)

    async def start_call(connection: SmallWebRTCConnection) -> None:
        # The handler awaits this before answering, so the call itself must not run here.
        task = asyncio.create_task(run_call(connection), name=f"webrtc-call-{connection.pc_id}")
        calls.add(task)
        task.add_done_callback(calls.discard)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        # Closing the peer connections ends the calls; cancel whatever is left.
        await handler.close()
        for task in list(calls):
            task.cancel()
        await asyncio.gather(*calls, return_exceptions=True)

    app = FastAPI(title="Elo", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(WEB_DIR / "index.html", media_type="text/html")

    @app.get("/elo.js", include_in_schema=False)
    async def script() -> FileResponse:
        return FileResponse(WEB_DIR / "elo.js", media_type="text/javascript")

    @app.post("/api/offer")
    async def offer(request: SmallWebRTCRequest) -> dict[str, str] | None:
        return await handler.handle_web_request(request, start_call)

    @app.patch("/api/offer")
    async def ice_candidates(request: SmallWebRTCPatchRequest) -> dict[str, str]:
        # Trickled candidates; the bundled page sends its candidates inside the offer instead.
        await handler.handle_patch_request(request)
        return {"status": "success"}

    app.state.calls = calls
    return app


def create_server(
    on_connection: OnConnection, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT
) -> uvicorn.Server:
    """A uvicorn server for :func:`create_app`; ``port=0`` picks a free port.

    Run it with ``await server.serve()``; set ``server.should_exit = True`` to stop it.
    """
    config = uvicorn.Config(
        create_app(on_connection), host=host, port=port, log_config=None, access_log=False
    )
    return uvicorn.Server(config)


def bound_port(server: uvicorn.Server) -> int:
    """The port a started server listens on (useful after ``port=0``)."""
    return int(server.servers[0].sockets[0].getsockname()[1])


async def serve(
    on_connection: OnConnection, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT
) -> None:
    """Serve the browser page until interrupted (Ctrl+C) or cancelled.

    Args:
        on_connection: Runs one call for a new browser connection.
        host: Interface to listen on; the default keeps the page local to this machine.
        port: TCP port of the page, http://HOST:PORT.
    """
    server = create_server(on_connection, host=host, port=port)
    logger.info("talk to Elo at http://{}:{}", host, port)
    await server.serve()
