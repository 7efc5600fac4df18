"""Live parts of a page: server-sent events carrying HTML fragments rendered on the server.

One mechanism for every live part (calls in progress, a campaign's progress): the page has an
element ``<div data-live="/the/stream">`` holding the fragment's first rendering, and
``static/live.js`` opens an ``EventSource`` on that URL and replaces the element's content with
each event. The fragments are Jinja2 templates rendered with the same values as a page
(autoescaped, translated, with ``csrf_input()`` for a form such as "end this call"), so no
patient data is ever assembled into HTML in the browser.

A comment line goes out when nothing happened for :data:`KEEP_ALIVE_SECS`, so proxies keep the
connection and a closed browser is noticed; the stream ends when the client goes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, TypeVar

from fastapi import Request
from fastapi.responses import StreamingResponse

from dashboard.templating import environment, page_values

KEEP_ALIVE_SECS = 15.0

T = TypeVar("T")


def sse_event(html: str) -> str:
    """One server-sent event whose data is ``html`` (each line its own ``data:`` field)."""
    return "".join(f"data: {line}\n" for line in html.splitlines() or [""]) + "\n"


async def live_fragments(
    request: Request,
    updates: AsyncIterator[T],
    template: str,
    context: Callable[[T], Mapping[str, Any]],
) -> StreamingResponse:
    """Stream ``template`` rendered for each of ``updates`` as server-sent events.

    Args:
        request: The request of the ``EventSource``.
        updates: What to show, newest last (e.g. ``LiveCalls.subscribe()``); closed when the
            client goes.
        template: A fragment in ``dashboard/templates`` (not extending ``base.html``).
        context: The fragment's own values for one update.
    """
    language, values = await page_values(request)
    fragment = environment(language).get_template(template)

    async def stream() -> AsyncIterator[str]:
        pending: asyncio.Future[T] | None = None
        try:
            while not await request.is_disconnected():
                if pending is None:
                    pending = asyncio.ensure_future(anext(updates))
                done, _ = await asyncio.wait({pending}, timeout=KEEP_ALIVE_SECS)
                if not done:
                    yield ": keep-alive\n\n"
                    continue
                update, pending = pending.result(), None
                yield sse_event(fragment.render({**values, **context(update)}))
        except StopAsyncIteration:
            return
        finally:
            if pending is not None:
                pending.cancel()
                # Until the cancelled read has finished, the generator is still running and
                # aclose() would raise "asynchronous generator is already running".
                await asyncio.wait({pending})
            aclose = getattr(updates, "aclose", None)
            if aclose is not None:
                await aclose()

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
