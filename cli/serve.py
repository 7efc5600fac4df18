"""``elo serve``: the long-running service.

It runs every campaign staff started (``elo campaign start``) inside its calling windows and
answers ``/healthz`` and ``/readyz``. SIGTERM or Ctrl-C: no new calls, the calls in progress get
``ELO_SERVER__DRAIN_SECS`` to finish, the rest are hung up (every attempt recorded), exit 0; a
second Ctrl-C hangs up at once.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
from collections.abc import Callable, Iterator
from typing import Any

from loguru import logger

from cli.failures import EnvironmentFailure, UsageError
from config.settings import AppSettings

COMMAND = "serve"


def add_parser(commands: Any, common: argparse.ArgumentParser, parser_class: type) -> None:
    """Add ``elo serve`` to the command line."""
    serve = commands.add_parser(
        COMMAND,
        parents=[common],
        help="run the service: active campaigns, /healthz, /readyz (SIGTERM drains)",
    )
    serve.add_argument("--host", help="address to listen on (default: ELO_SERVER__HOST)")
    serve.add_argument("--port", type=int, help="TCP port to listen on (default: ELO_SERVER__PORT)")
    serve.add_argument(
        "--rehearsal",
        action="store_true",
        help="no keys, no phones: a scripted model and scripted phones on this machine",
    )
    serve.add_argument(
        "--rehearsal-waits",
        action="store_true",
        help="with --rehearsal: its campaign waits until someone starts it on the dashboard",
    )


def _listen(host: str, port: int) -> socket.socket:
    """Bind the listening socket here, so a taken port is one clear line, not uvicorn's exit."""
    if not 0 <= port <= 65535:
        raise UsageError(f"--port must be between 0 and 65535, not {port}")
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except (OSError, UnicodeError, ValueError) as exc:
        # UnicodeError/ValueError: a host name no resolver accepts (too long, bad characters).
        sock.close()
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise UsageError(f"cannot listen on {host[:80]}:{port}: {reason}") from None
    # Each response goes out at once: with Nagle on, a keep-alive client (a scraper, a load
    # balancer) waited ~40 ms for the body behind its own delayed ACK (bench/serve_bench.py).
    # Accepted connections inherit the option.
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    # Listening from here on: whoever reads "listening on" below may connect at once (uvicorn
    # would start listening only later, inside serve()).
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _server(config: Any, *, on_stop: Callable[[], None], on_hurry: Callable[[], None]) -> Any:
    """A uvicorn server for which SIGTERM and Ctrl-C start a drain instead of stopping at once.

    The first signal calls ``on_stop`` (dial no one new, let calls finish, then set
    ``should_exit``); a second Ctrl-C calls ``on_hurry`` (hang up now). uvicorn itself would
    re-raise the signal after shutting down, so a supervisor would see the process killed by
    SIGTERM instead of a clean exit 0.
    """
    import uvicorn

    class Server(uvicorn.Server):
        stopping = False

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            loop = asyncio.get_running_loop()
            stops = (signal.SIGINT, signal.SIGTERM)
            for sig in stops:
                loop.add_signal_handler(sig, self._stop, sig)
            try:
                yield
            finally:
                for sig in stops:
                    loop.remove_signal_handler(sig)

        def _stop(self, sig: int) -> None:
            if not self.stopping:
                self.stopping = True
                on_stop()
            elif sig == signal.SIGINT:
                on_hurry()

    return Server(config)


async def run(args: argparse.Namespace, settings: AppSettings) -> int:
    """Serve until SIGTERM or Ctrl-C; returns the exit code (0 after a clean stop)."""
    if args.rehearsal_waits and not args.rehearsal:
        raise UsageError("--rehearsal-waits goes with --rehearsal")
    host = args.host or settings.server.host
    port = settings.server.port if args.port is None else args.port
    sock = _listen(host, port)
    if not args.rehearsal:
        return await _serve(sock, settings)
    from service.rehearsal import RehearsalUnavailable, rehearsal_world

    try:
        async with rehearsal_world(settings, start=not args.rehearsal_waits) as world:
            return await _serve(sock, world.settings, rehearsal=world)
    except RehearsalUnavailable as exc:
        raise UsageError(str(exc)) from None


async def _serve(sock: socket.socket, settings: AppSettings, *, rehearsal: Any = None) -> int:
    import dataclasses

    import uvicorn

    from app.application import open_application
    from app.preflight import Purpose, missing_database_settings, missing_settings
    from campaign.dialer import DialerError, LiveKitDialer
    from campaign.launcher import PipelineLauncher
    from service.campaign_progress import CampaignProgressFeed
    from service.campaigns import CampaignSupervisor
    from service.http import create_http_app
    from service.inbound import InboundCalls
    from service.live_calls import LiveCallBoard
    from service.messages import start_sender, stop_sender
    from service.workers import WorkerPool
    from storage.errors import StoreError
    from telemetry.export import use_directory as use_metrics_directory

    if missing := missing_database_settings(settings):
        raise UsageError(f"set {', '.join(missing)}: a PostgreSQL database needs it on every node")
    async with open_application(settings) as app:
        # Refused at the start rather than reported later by /readyz: a service that cannot
        # write or call would only fail each call it tries.
        problem = await app.store.health.write_problem()
        if problem is not None:
            raise StoreError(problem)
        missing = missing_settings(settings, purpose=Purpose.SERVICE)
        if missing:
            raise UsageError(
                f"set {', '.join(missing)} (see .env.example), or try `elo serve --rehearsal`"
            )
        # Before any metric exists here and before any worker starts: they inherit the folder.
        use_metrics_directory(settings.server.metrics_dir)
        try:
            dialer = LiveKitDialer.from_settings(settings)
        except DialerError as exc:
            raise UsageError(str(exc)) from None
        if rehearsal is not None:
            app = dataclasses.replace(app, http_client_args=rehearsal.http_client_args)
        workers = settings.server.workers
        workers = (os.cpu_count() or 1) if workers is None else workers
        # The dashboard's live view: calls in progress (with "end this call") and progress.
        progress = CampaignProgressFeed(app.store)
        live = LiveCallBoard(clock=app.clock, audit=app.store.audit, on_change=progress.poke)
        pool = None
        if workers:
            pool = WorkerPool(
                settings,
                size=workers,
                rehearsal=rehearsal.worker_spec if rehearsal is not None else None,
                live=live,
            )
            try:
                await pool.open()
            except RuntimeError as exc:
                await dialer.aclose()
                raise EnvironmentFailure(str(exc)) from None
            launcher: Any = pool
        elif rehearsal is not None:
            launcher = PipelineLauncher(app, transport_factory=rehearsal.transport_factory)
        else:
            launcher = PipelineLauncher(app)
        supervisor = CampaignSupervisor(
            app=app,
            dialer=dialer,
            launcher=launcher,
            poll_secs=settings.server.poll_secs,
            live=live,
            progress=progress,
        )
        inbound = InboundCalls(app, dialer=dialer, tracker=live)
        config = uvicorn.Config(
            create_http_app(
                app,
                probes=[supervisor.check, *([pool.check] if pool is not None else [])],
                start_inbound=inbound.start if pool is None else pool.start_inbound,
                live=live,
                progress=progress,
            ),
            # Our logging stays ours (masked JSON lines); uvicorn must not reconfigure it.
            log_config=None,
            access_log=False,
            lifespan="off",
        )
        pending: set[asyncio.Task[Any]] = set()

        def background(coro: Any) -> None:
            task = asyncio.get_running_loop().create_task(coro)
            pending.add(task)
            task.add_done_callback(pending.discard)

        async def drain() -> None:
            logger.info(
                "elo serve stopping: no new calls; {} in progress get {} s",
                supervisor.active_calls,
                settings.server.drain_secs,
            )
            drains = await asyncio.gather(
                supervisor.drain(timeout_s=settings.server.drain_secs),
                inbound.drain(timeout_s=settings.server.drain_secs),
                *([pool.drain_inbound(timeout_s=settings.server.drain_secs)] if pool else []),
            )
            hung_up = sum(drains)
            if hung_up:
                logger.warning("elo serve hung up {} call(s) at the drain deadline", hung_up)
            server.should_exit = True

        server = _server(
            config,
            on_stop=lambda: background(drain()),
            on_hurry=lambda: background(supervisor.hang_up_all()),
        )
        watching = asyncio.create_task(supervisor.run())
        # Confirmations and reminders (only when an email or SMS channel is configured).
        sending = start_sender(app)
        bound_host, bound_port = sock.getsockname()[:2]
        logger.info("elo serve listening on {}:{}", bound_host, bound_port)
        # For whoever started it (a test, a supervisor) to find a port chosen with --port 0.
        print(f"elo serve: listening on http://{bound_host}:{bound_port}", flush=True)
        for line in rehearsal.banner() if rehearsal is not None else ():
            print(line, flush=True)
        try:
            await server.serve(sockets=[sock])
        finally:
            # Also when the server itself failed: no call may be left unrecorded.
            await supervisor.drain(timeout_s=settings.server.drain_secs)
            await inbound.drain(timeout_s=0)
            await watching
            await stop_sender(sending)
            if pool is not None:
                await pool.aclose()
            if pending:
                await asyncio.wait(pending)
            await dialer.aclose()
    logger.info("elo serve stopped")
    return 0
