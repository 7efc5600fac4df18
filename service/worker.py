"""A worker process of ``elo serve``: runs the voice pipeline of the calls the service gives it.

One event loop is one core, and a call's audio (VAD, resampling, the model's stream) is the heavy
part of the service; so calls run in worker processes (``ELO_SERVER__WORKERS``) while the
service keeps the runners, the database's queue and HTTP. Started by :class:`service.workers.
WorkerPool` as ``python -m service.worker --events-fd N``; it reads commands on stdin and
answers on file descriptor N (:mod:`service.worker_protocol`).

It ignores Ctrl-C and SIGTERM (the service drains and tells it when to stop); when its stdin
closes, because the service stopped or died, it ends its calls, each recorded, and exits.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import signal
import ssl
import sys
from typing import Any

from loguru import logger

from campaign.calls import CallEnd
from service import worker_protocol as protocol
from storage.models import CallOutcome


class _Events:
    """The worker's side of the events pipe."""

    def __init__(self, fd: int) -> None:
        self._file = os.fdopen(fd, "wb", buffering=0)

    def send(self, message: dict[str, Any]) -> None:
        # Small writes to a pipe are atomic and the service reads continuously.
        self._file.write(protocol.encode(message))


class _PipeTracker:
    """Tells the service when an inbound call's line is up (it knows the start and the end)."""

    def __init__(self, events: _Events) -> None:
        self._events = events

    def started(self, call: Any, *, end: Any) -> None:
        """The service put the call on its board when it sent it here."""

    def answered(self, call_id: str) -> None:
        """The line is up: the service's board shows it."""
        self._events.send({"ev": "answered", "id": call_id})

    def ended(self, call_id: str) -> None:
        """The service learns it from ``ended``."""


async def _commands() -> asyncio.StreamReader:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=protocol.MAX_LINE)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    return reader


async def serve_calls(events: _Events) -> int:
    """Run calls until told to stop or until the service goes away; returns the exit code."""
    from app.application import open_application
    from campaign.dialer import LiveKitDialer
    from campaign.launcher import PipelineLauncher
    from config.logs import configure_logging
    from service.inbound import InboundCalls

    commands = await _commands()
    first = await commands.readline()
    if not first:
        return 0  # the service gave up before saying hello
    hello = protocol.decode(first)
    settings = protocol.settings_from(hello["settings"])
    log_file = settings.logging.file
    if log_file is not None:
        # One file per worker: rotating one file from several processes would lose lines.
        worker_log = log_file.with_name(f"{log_file.stem}.worker-{hello['index']}{log_file.suffix}")
        settings = settings.model_copy(
            update={"logging": settings.logging.model_copy(update={"file": worker_log})}
        )
    configure_logging(
        settings.logging,
        console=False,
        phone_regions=settings.validation.allowed_phone_regions,
        retention_days=settings.privacy.retention_days,
    )
    calls: dict[str, Any] = {}
    reports: set[asyncio.Task[None]] = set()
    async with open_application(settings) as app:
        rehearsal = hello.get("rehearsal")
        options: dict[str, Any] = {}
        if rehearsal is not None:
            from service.rehearsal import wav_calls

            context = ssl.create_default_context(cadata=rehearsal["ca_pem"])
            app = dataclasses.replace(app, http_client_args={"ssl": context})
            options["transport_factory"] = wav_calls(rehearsal)
        launcher = PipelineLauncher(app, **options)
        dialer = LiveKitDialer.from_settings(settings)
        inbound = InboundCalls(app, dialer=dialer, tracker=_PipeTracker(events))
        events.send({"ev": "up", "pid": os.getpid()})
        try:
            while True:
                line = await commands.readline()
                if not line:
                    logger.warning("worker: the service went away; ending the calls")
                    break
                message = protocol.decode(line)
                if message.get("op") == "stop":
                    break
                if message.get("op") in ("inbound", "cancel_inbound"):
                    await _obey_inbound(message, inbound, events, reports)
                else:
                    await _obey(message, calls, launcher, dialer, events, reports)
        finally:
            await inbound.aclose()
            for live in list(calls.values()):
                with contextlib.suppress(Exception):
                    await live.cancel(reason="the service is stopping")
            if reports:
                await asyncio.wait(reports)
            await dialer.aclose()
    return 0


async def _obey(
    message: dict[str, Any],
    calls: dict[str, Any],
    launcher: Any,
    dialer: Any,
    events: _Events,
    reports: set[asyncio.Task[None]],
) -> None:
    op, call_id = message.get("op"), str(message.get("id"))
    if op == "start":
        job = protocol.job_from(message["job"], dialer)
        try:
            live = await launcher.start(job)
        except Exception as exc:  # one call that cannot start never stops the worker
            logger.error("worker: call could not start: {}", type(exc).__name__)
            end = CallEnd(outcome=CallOutcome.FAILED, reason="the call could not start")
            events.send(protocol.end_message(call_id, end))
            return
        calls[call_id] = live
        task = asyncio.create_task(_report(call_id, live, calls, events))
        reports.add(task)
        task.add_done_callback(reports.discard)
        return
    live = calls.get(call_id)
    if live is None:
        return  # ended meanwhile: the service learns it from "ended"
    if op == "answered":
        await live.callee_answered()
    elif op == "cancel":
        await live.cancel(reason=str(message.get("reason", "cancelled"))[:200])


async def _obey_inbound(
    message: dict[str, Any], inbound: Any, events: _Events, reports: set[asyncio.Task[None]]
) -> None:
    from service.inbound import InboundCall

    call_id = str(message.get("id"))
    if message["op"] == "cancel_inbound":
        await inbound.cancel(call_id, reason=str(message.get("reason", "cancelled"))[:200])
        return
    await inbound.start(InboundCall(**message["call"]))

    async def report() -> None:
        await inbound.wait(call_id)
        # The session in this worker recorded the call; the service only counts it as ended.
        events.send({"ev": "ended", "id": call_id, "outcome": CallOutcome.COMPLETED.value})

    task = asyncio.create_task(report())
    reports.add(task)
    task.add_done_callback(reports.discard)


async def _report(call_id: str, live: Any, calls: dict[str, Any], events: _Events) -> None:
    try:
        await live.ready.wait()
        events.send({"ev": "ready", "id": call_id})
        end = await live.wait()
    except Exception as exc:
        logger.error("worker: call failed: {}", type(exc).__name__)
        end = CallEnd(outcome=CallOutcome.FAILED, reason="the call failed in its worker")
    finally:
        calls.pop(call_id, None)
    events.send(protocol.end_message(call_id, end))


def main(argv: list[str] | None = None) -> int:
    """Entry point of a worker process."""
    parser = argparse.ArgumentParser(prog="elo-worker")
    parser.add_argument("--events-fd", type=int, required=True)
    args = parser.parse_args(argv)
    # The service decides when calls end: a Ctrl-C meant for it must not cut calls short here.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    logger.remove()
    events = _Events(args.events_fd)
    return asyncio.run(serve_calls(events))


if __name__ == "__main__":
    sys.exit(main())
