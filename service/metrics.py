"""``GET /metrics``: every process's metrics in Prometheus' text format.

The recorded metrics come from :mod:`telemetry.export` (in ``elo serve``, the files all worker
processes share); the campaign queue depths and the readiness checks are read at scrape time,
so they are as fresh as the scrape. With ``ELO_SERVER__METRICS_TOKEN`` set, a scrape must send
``Authorization: Bearer <token>``; anything else is 401 with ``WWW-Authenticate``.
"""

from __future__ import annotations

import asyncio
import hmac

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from loguru import logger

from app.application import Application
from service.readiness import check_readiness
from telemetry import record
from telemetry.export import CONTENT_TYPE, exposition
from telemetry.metrics import scrape_families
from telemetry.vocabulary import UNKNOWN_TOOL
from tools.context import ToolMode

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="elo-metrics"'}


def metrics_router(app: Application) -> APIRouter:
    """The ``/metrics`` route of one service process.

    Args:
        app: The open application (its database and settings).
    """
    router = APIRouter()
    token = app.settings.server.metrics_token.get_secret_value()
    # Every tool a call may use has its series from the start (the workers do not start them).
    offered = app.registry.offered(
        mode=ToolMode.CALL, expose_confidential=app.settings.security.expose_stats_to_model
    )
    record.tools_offered([*(spec.name for spec in offered), UNKNOWN_TOOL])

    @router.get("/metrics")
    async def metrics(request: Request) -> Response:
        if token and not _authorised(request.headers.get("authorization"), token):
            return JSONResponse(
                {"error": "a valid bearer token is required (ELO_SERVER__METRICS_TOKEN)"},
                status_code=401,
                headers=_CHALLENGE,
            )
        readiness = {check.name: check.ok for check in await check_readiness(app)}
        try:
            depths: dict[int, int] | None = await app.store.campaigns.queue_depths()
        except Exception as exc:  # the scrape still answers: that is when it matters most
            logger.warning("metrics: the campaign queues could not be read: {}", type(exc).__name__)
            depths = None
        families = scrape_families(queue_depths=depths, readiness=readiness)
        # Reading every process's files is file work: off the event loop that serves calls.
        body = await asyncio.to_thread(exposition, families)
        return Response(body, media_type=CONTENT_TYPE)

    return router


def _authorised(header: str | None, token: str) -> bool:
    """Whether ``header`` is ``Bearer <token>``, compared in constant time."""
    scheme, _, given = (header or "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())
