"""``elo serve``: the long-running service (today: health and readiness over HTTP)."""

from __future__ import annotations

import argparse
import contextlib
import signal
import socket
from collections.abc import Iterator
from types import FrameType
from typing import Any

from loguru import logger

from cli.failures import UsageError
from config.settings import AppSettings

COMMAND = "serve"


def add_parser(commands: Any, common: argparse.ArgumentParser, parser_class: type) -> None:
    """Add ``elo serve`` to the command line."""
    serve = commands.add_parser(
        COMMAND, parents=[common], help="run the service (/healthz, /readyz) until stopped"
    )
    serve.add_argument("--host", help="address to listen on (default: ELO_SERVER__HOST)")
    serve.add_argument("--port", type=int, help="TCP port to listen on (default: ELO_SERVER__PORT)")


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
    sock.set_inheritable(True)
    return sock


def _server(config: Any) -> Any:
    """A uvicorn server for which SIGTERM and Ctrl-C are the normal end: it drains, exits 0.

    uvicorn re-raises a captured signal once it has shut down, so a supervisor would see the
    process killed by SIGTERM instead of a clean exit.
    """
    import uvicorn

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            stops = (signal.SIGINT, signal.SIGTERM)
            previous = {sig: signal.signal(sig, self._stop) for sig in stops}
            try:
                yield
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)

        def _stop(self, sig: int, frame: FrameType | None) -> None:
            # A second Ctrl-C stops at once, as with uvicorn itself.
            if self.should_exit and sig == signal.SIGINT:
                self.force_exit = True
            self.should_exit = True

    return Server(config)


async def run(args: argparse.Namespace, settings: AppSettings) -> int:
    """Serve until SIGTERM or Ctrl-C; returns the exit code (0 after a clean stop)."""
    import uvicorn

    from app.application import open_application
    from app.preflight import Purpose, missing_settings
    from service.http import create_http_app
    from storage.errors import StoreError
    from telemetry.export import use_directory as use_metrics_directory

    host = args.host or settings.server.host
    port = settings.server.port if args.port is None else args.port
    sock = _listen(host, port)
    async with open_application(settings) as app:
        # Refused at the start rather than reported later by /readyz: a service that cannot
        # write or call would only fail each call it tries.
        problem = await app.store.health.write_problem()
        if problem is not None:
            raise StoreError(problem)
        missing = missing_settings(settings, purpose=Purpose.SERVICE)
        if missing:
            raise UsageError(f"set {', '.join(missing)} (see .env.example)")
        # Before any metric exists here and before any worker starts: they inherit the folder.
        use_metrics_directory(settings.server.metrics_dir)
        config = uvicorn.Config(
            create_http_app(app),
            # Our logging stays ours (masked JSON lines); uvicorn must not reconfigure it.
            log_config=None,
            access_log=False,
            lifespan="off",
        )
        server = _server(config)
        bound_host, bound_port = sock.getsockname()[:2]
        logger.info("elo serve listening on {}:{}", bound_host, bound_port)
        # For whoever started it (a test, a supervisor) to find a port chosen with --port 0.
        print(f"elo serve: listening on http://{bound_host}:{bound_port}", flush=True)
        await server.serve(sockets=[sock])
    logger.info("elo serve stopped")
    return 0
