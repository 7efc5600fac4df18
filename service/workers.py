"""Worker processes for calls: the launcher the service's campaign runners use.

:class:`WorkerPool` starts ``ELO_SERVER__WORKERS`` processes (:mod:`service.worker`) and gives
each new call to the one with the fewest calls; :class:`WorkerCall` is that call seen from the
runner (a :class:`campaign.calls.LiveCall`), so the runner does not know where its calls run.

A worker that dies ends its calls as failed (the runner records each attempt and hangs up the
room) and is started again. The workers ignore Ctrl-C; the pool stops them when the service has
drained, and a worker whose service died notices its stdin close and ends its calls itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import sys
from typing import Any

from loguru import logger

from campaign.calls import CallEnd, CallJob
from config.settings import AppSettings
from service import worker_protocol as protocol
from service.inbound import InboundCall
from service.live_calls import LiveCallBoard
from service.readiness import Check
from storage.models import CallDirection, CallOutcome
from telemetry.export import process_exited

# Seconds a new worker may take to import the pipeline and open the database.
START_TIMEOUT_S = 120.0
# Seconds a worker gets to end its calls and exit after "stop", before it is killed.
STOP_TIMEOUT_S = 15.0


class WorkerCall:
    """A call running in a worker process, as the runner sees it."""

    def __init__(self, worker: _Worker, call_id: str) -> None:
        self.worker = worker
        self._worker = worker
        self.call_id = call_id
        self.ready = asyncio.Event()
        self._ended: asyncio.Future[CallEnd] = asyncio.get_running_loop().create_future()

    @property
    def worker_index(self) -> int:
        """Which worker runs the call (1, 2, ...), for the live board."""
        return self._worker.index

    async def callee_answered(self) -> None:
        """Greet now."""
        await self._worker.send({"op": "answered", "id": self.call_id})

    async def cancel(self, *, reason: str) -> None:
        """Stop the pipeline."""
        if not self._ended.done():
            await self._worker.send({"op": "cancel", "id": self.call_id, "reason": reason})

    async def wait(self) -> CallEnd:
        """Wait for the pipeline to end."""
        return await asyncio.shield(self._ended)

    def done(self) -> bool:
        """Whether the pipeline has ended."""
        return self._ended.done()

    def on_end(self, callback: Any) -> None:
        """Call ``callback()`` once the call has ended."""
        self._ended.add_done_callback(lambda _: callback())

    def end(self, end: CallEnd) -> None:
        """The worker reported the end (or died)."""
        self.ready.set()  # a waiter for readiness learns the call ended instead
        if not self._ended.done():
            self._ended.set_result(end)


class _Worker:
    """One worker process and its pipes."""

    def __init__(self, index: int, live: LiveCallBoard | None) -> None:
        self.index = index
        self._live = live
        self.process: asyncio.subprocess.Process | None = None
        self.calls: dict[str, WorkerCall] = {}
        self.pid: int | None = None
        self._events: asyncio.StreamReader | None = None
        self._reader: asyncio.Task[None] | None = None
        self._up = asyncio.Event()
        self._lock = asyncio.Lock()

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.returncode is None and self._up.is_set()

    async def spawn(self, hello: dict[str, Any], on_exit: Any) -> None:
        loop = asyncio.get_running_loop()
        read_fd, write_fd = os.pipe()
        try:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "service.worker",
                "--events-fd",
                str(write_fd),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.DEVNULL,
                pass_fds=(write_fd,),
                # Its own session: a Ctrl-C at the terminal reaches the service only.
                start_new_session=True,
            )
        finally:
            os.close(write_fd)
        self._events = asyncio.StreamReader(limit=protocol.MAX_LINE)
        events = self._events
        await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(events), os.fdopen(read_fd, "rb", buffering=0)
        )
        self._up.clear()
        self._reader = asyncio.create_task(self._read(on_exit))
        await self.send({**hello, "index": self.index})
        await asyncio.wait_for(self._up.wait(), timeout=START_TIMEOUT_S)

    async def send(self, message: dict[str, Any]) -> None:
        process = self.process
        if process is None or process.stdin is None or process.returncode is not None:
            return  # the call ends through the worker's exit
        async with self._lock:
            with contextlib.suppress(ConnectionError):
                process.stdin.write(protocol.encode(message))
                await process.stdin.drain()

    async def _read(self, on_exit: Any) -> None:
        assert self._events is not None and self.process is not None
        try:
            while line := await self._events.readline():
                self._handle(protocol.decode(line))
        except (ValueError, KeyError) as exc:
            logger.error("worker {}: unreadable message: {}", self.index, type(exc).__name__)
        code = await self.process.wait()
        # Its active-calls gauge no longer counts; its counters stay in the sums.
        process_exited(self.process.pid)
        for call in list(self.calls.values()):
            call.end(CallEnd(outcome=CallOutcome.FAILED, reason="the worker process ended"))
        self.calls.clear()
        on_exit(self, code)

    def _handle(self, message: dict[str, Any]) -> None:
        event = message.get("ev")
        if event == "up":
            self.pid = int(message["pid"])
            self._up.set()
            return
        call = self.calls.get(str(message.get("id")))
        if call is None:
            return
        if event == "ready":
            call.ready.set()
        elif event == "answered":
            # An inbound call's line is up in the worker (campaign calls are answered here).
            if self._live is not None:
                self._live.answered(call.call_id)
        elif event == "ended":
            self.calls.pop(call.call_id, None)
            call.end(protocol.end_from(message))

    async def stop(self) -> None:
        process = self.process
        if process is None or process.returncode is not None:
            return
        await self.send({"op": "stop"})
        if process.stdin is not None:
            process.stdin.close()
        try:
            await asyncio.wait_for(process.wait(), timeout=STOP_TIMEOUT_S)
        except TimeoutError:
            logger.error("worker {}: did not stop; killing it", self.index)
            process.kill()
            await process.wait()
        if self._reader is not None:
            await asyncio.wait([self._reader])


class WorkerPool:
    """Runs calls in worker processes: a :class:`campaign.calls.CallLauncher`.

    Args:
        settings: The service's settings (sent to each worker).
        size: How many worker processes.
        rehearsal: The rehearsal's stand-ins as plain data (``RehearsalWorld.worker_spec``).
        live: The board of calls in progress, which shows the inbound calls run here (the
            campaign calls reach it through their runner's launcher).
    """

    def __init__(
        self,
        settings: AppSettings,
        *,
        size: int,
        rehearsal: dict[str, Any] | None = None,
        live: LiveCallBoard | None = None,
    ) -> None:
        self._hello: dict[str, Any] = {
            "op": "hello",
            "settings": protocol.settings_message(settings),
            "rehearsal": rehearsal,
        }
        self._workers = [_Worker(index, live) for index in range(1, size + 1)]
        self._live = live
        self._closing = False
        self._stopping_inbound = False
        self._inbound: dict[str, WorkerCall] = {}
        self._restarts: set[asyncio.Task[None]] = set()
        self.restarted = 0

    async def open(self) -> None:
        """Start every worker and wait until each has opened the database.

        Raises:
            RuntimeError: A worker did not start (its log file says why).
        """
        try:
            await asyncio.gather(*(w.spawn(self._hello, self._exited) for w in self._workers))
        except (TimeoutError, OSError) as exc:
            await self.aclose()
            raise RuntimeError(f"a worker process did not start ({type(exc).__name__})") from None

    async def start(self, job: CallJob) -> WorkerCall:
        """Start the call in the worker with the fewest calls; returns at once."""
        worker = self._least_busy()
        call = WorkerCall(worker, job.call_id)
        worker.calls[job.call_id] = call
        await worker.send({"op": "start", "id": job.call_id, "job": protocol.job_message(job)})
        return call

    async def start_inbound(self, call: InboundCall) -> None:
        """Run an inbound call in the least busy worker (the webhook's ``start_inbound``).

        A retried webhook of a call already running starts nothing.

        Raises:
            RuntimeError: The service is stopping, or no worker runs (the webhook answers 503
                and LiveKit delivers it again).
        """
        if self._stopping_inbound:
            raise RuntimeError("the service is stopping")
        if call.call_id in self._inbound:
            return
        worker = self._least_busy()
        running = WorkerCall(worker, call.call_id)
        worker.calls[call.call_id] = running
        self._inbound[call.call_id] = running
        running.on_end(lambda: self._inbound.pop(call.call_id, None))
        if self._live is not None:
            self._show(call, running)
        message = {"op": "inbound", "id": call.call_id, "call": dataclasses.asdict(call)}
        await worker.send(message)

    def _show(self, call: InboundCall, running: WorkerCall) -> None:
        """Put an inbound call on the live board, with the way to hang it up in its worker."""
        assert self._live is not None
        live = self._live
        running.on_end(lambda: live.ended(call.call_id))

        async def end(reason: str) -> None:
            if not running.done():
                message = {"op": "cancel_inbound", "id": call.call_id, "reason": reason}
                await running.worker.send(message)

        live.started(
            live.call(
                call_id=call.call_id,
                direction=CallDirection.INBOUND,
                phone=call.phone,
                worker=running.worker_index,
            ),
            end=end,
        )

    async def drain_inbound(self, *, timeout_s: float) -> int:
        """Take no new inbound call, let the running ones end for ``timeout_s``, end the rest.

        Returns:
            How many were still running at the deadline.
        """
        self._stopping_inbound = True
        running = list(self._inbound.values())
        if not running:
            return 0
        ends = [asyncio.ensure_future(call.wait()) for call in running]
        _, late = await asyncio.wait(ends, timeout=timeout_s)
        for call in running:
            if not call.done():
                message = {"op": "cancel_inbound", "id": call.call_id}
                await call.worker.send({**message, "reason": "the service is stopping"})
        await asyncio.wait(ends, timeout=STOP_TIMEOUT_S)
        return len(late)

    def check(self) -> Check:
        """The readiness check: every worker process is running."""
        alive = [w for w in self._workers if w.alive]
        calls = sum(len(w.calls) for w in self._workers)
        detail = f"{len(alive)} of {len(self._workers)} running, {calls} call(s)"
        if self.restarted:
            detail += f", {self.restarted} restart(s)"
        return Check("workers", len(alive) == len(self._workers), detail)

    def _least_busy(self) -> _Worker:
        alive = [w for w in self._workers if w.alive]
        if not alive:
            raise RuntimeError("no worker process is running")
        return min(alive, key=lambda w: len(w.calls))

    @property
    def pids(self) -> list[int]:
        """The process ids of the running workers."""
        return [w.pid for w in self._workers if w.alive and w.pid is not None]

    async def aclose(self) -> None:
        """Stop every worker (each ends its calls first; the service has drained by now)."""
        self._closing = True
        await asyncio.gather(*(w.stop() for w in self._workers))
        if self._restarts:
            await asyncio.wait(self._restarts)

    def _exited(self, worker: _Worker, code: int) -> None:
        if self._closing:
            return
        logger.error("worker {} exited ({}); starting it again", worker.index, code)
        self.restarted += 1
        task = asyncio.create_task(self._restart(worker))
        self._restarts.add(task)
        task.add_done_callback(self._restarts.discard)

    async def _restart(self, worker: _Worker) -> None:
        try:
            await worker.spawn(self._hello, self._exited)
        except (TimeoutError, OSError) as exc:
            logger.error("worker {} did not start again: {}", worker.index, type(exc).__name__)
