"""The service's HTTP face: liveness and readiness for a load balancer or an orchestrator.

``GET /healthz`` answers as long as the event loop does (liveness: restart the process if not).
``GET /readyz`` runs :func:`service.readiness.check_readiness` and answers 200 when every check
passes, 503 otherwise, with each check's finding as JSON. ``POST /livekit/webhook`` takes
LiveKit's signed events and starts the inbound calls they announce (:mod:`service.webhooks`).
``POST /webhooks/twilio/sms`` and ``/webhooks/twilio/status`` take Twilio's signed SMS webhooks
(:mod:`service.sms_webhooks`). ``GET /metrics`` is Prometheus' view (:mod:`service.metrics`).
Every other path is the clinic's dashboard (:func:`dashboard.app.create_dashboard`; ``/`` leads
to its start page).

The dashboard's live parts are kept on the app's state: ``state.live`` (``app.live.LiveCalls``,
the calls in progress) and ``state.progress`` (``app.live.CampaignProgress``), and handed to it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from app.application import Application
from app.live import CampaignProgress, LiveCalls
from dashboard.app import create_dashboard
from messaging.sms_inbox import SmsInbox
from messaging.store_inbox import StoreInbox
from service.campaign_progress import CampaignProgressFeed
from service.inbound import InboundCalls, StartInbound
from service.live_calls import LiveCallBoard
from service.metrics import metrics_router
from service.readiness import Check, check_readiness
from service.sms_webhooks import sms_webhook_router
from service.webhooks import webhook_router


def create_http_app(
    app: Application,
    *,
    probes: Sequence[Callable[[], Check]] = (),
    start_inbound: StartInbound | None = None,
    live: LiveCalls | None = None,
    progress: CampaignProgress | None = None,
    sms_inbox: SmsInbox | None = None,
) -> FastAPI:
    """The ASGI app of one service process.

    Args:
        app: The open application the service runs on.
        probes: Readiness checks of the service's own loops (the campaign supervisor).
        start_inbound: Starts an inbound call announced by LiveKit's webhook; None runs them
            in this process (:class:`service.inbound.InboundCalls`, kept as
            ``state.inbound`` for whoever stops the service to close).
        live: The calls in progress, kept as ``state.live`` for the dashboard; None makes a
            board of this app's own (which shows the inbound calls it runs itself).
        progress: The campaigns' live progress, kept as ``state.progress``; None reads the
            status every few seconds.
        sms_inbox: Where patients' verified SMS replies and delivery reports go; None acts on
            the database (:class:`messaging.store_inbox.StoreInbox`).
    """
    http = FastAPI(title="Elo", docs_url=None, redoc_url=None, openapi_url=None)
    if live is None:
        live = LiveCallBoard(clock=app.clock, audit=app.store.audit)
    http.state.live = live
    http.state.progress = progress or CampaignProgressFeed(app.store)
    if start_inbound is None:
        tracker = live if isinstance(live, LiveCallBoard) else None
        http.state.inbound = InboundCalls(app, tracker=tracker)
        start_inbound = http.state.inbound.start
    http.include_router(webhook_router(app, start_inbound))
    http.include_router(sms_webhook_router(app, sms_inbox or StoreInbox(app.store)))

    @http.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return {"status": "ok"}

    @http.get("/readyz")
    async def readyz() -> JSONResponse:
        checks = await check_readiness(app, probes=probes)
        ready = all(check.ok for check in checks)
        body = {
            "status": "ready" if ready else "not ready",
            "checks": {check.name: {"ok": check.ok, "detail": check.detail} for check in checks},
        }
        return JSONResponse(body, status_code=200 if ready else 503)

    http.include_router(metrics_router(app))
    # Last: the dashboard answers every path the service's own routes do not (``/`` included).
    http.mount("/", create_dashboard(app, live=live, progress=http.state.progress))
    return http
