"""A local HTTP endpoint for tests that need a real server on the other end of a request."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from aiohttp import web


@asynccontextmanager
async def serve_get(
    path: str, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> AsyncIterator[str]:
    """Serve GET ``path`` with ``handler`` on a free local port until the block ends.

    Args:
        path: The route, e.g. ``"/search"``.
        handler: Answers each request.

    Yields:
        The endpoint's URL, e.g. ``http://127.0.0.1:41234/search``.
    """
    app = web.Application()
    app.router.add_get(path, handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}{path}"
    finally:
        await runner.cleanup()
