"""Gemini Live emulators in a child process, standing in for Google's servers.

The emulators (TLS, JSON, base64 of every caller audio chunk) would otherwise share the
benchmark's event loop and CPU account with the pipelines under test. In their own process they
cost what the remote service costs a real deployment: nothing on our side. ``perf_counter`` is
the system-wide monotonic clock on Linux, so the child's send stamps compare with the parent's.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import random
import ssl
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from devtools.gemini_emulator import (
    GeminiLiveEmulator,
    Send,
    Step,
    _Connection,
    model_audio,
    pause,
    turn_complete,
    wait_for_client_content,
)

TURN_AUDIO_S = 0.4  # each model turn: 10 chunks of 40 ms, sent back to back as Gemini does


@dataclass
class StampedSend(Send):
    """A ``Send`` that notes when its first message is about to go on the socket."""

    stamps: list[float] = field(default_factory=list, repr=False)

    async def run(self, emu: GeminiLiveEmulator, conn: _Connection) -> None:
        """Send each message in order, stamping the first (after encoding, before sending)."""
        for i, message in enumerate(self.messages):
            text = json.dumps(message)
            if i == 0:
                self.stamps.append(time.perf_counter())
            await conn.ws.send(text)


def script(turns: int, gap_s: float, sent: list[float], rng: random.Random) -> list[Step]:
    """Wait for the greeting, then ``turns`` model turns ``gap_s`` apart on average (±50%)."""
    steps: list[Step] = [wait_for_client_content()]
    audio = model_audio(TURN_AUDIO_S)
    for _ in range(turns):
        steps += [
            pause(gap_s * rng.uniform(0.5, 1.5)),
            StampedSend(audio.label, audio.messages, stamps=sent),
            turn_complete(),
        ]
    return steps


async def _serve(pipe: Connection, calls: int, turns: int, gap_s: float) -> None:
    loop = asyncio.get_running_loop()
    sent: list[list[float]] = [[] for _ in range(calls)]
    async with AsyncExitStack() as stack:
        emus = []
        for i in range(calls):
            steps = script(turns, gap_s, sent[i], random.Random(i))
            emu = GeminiLiveEmulator(steps, step_timeout=60)
            emus.append(await stack.enter_async_context(emu))
        # The emulator offers its CA only as an SSLContext, which cannot cross processes.
        pipe.send([(emu.port, emu.ca_pem) for emu in emus])
        await asyncio.gather(*(emu.finished() for emu in emus), return_exceptions=True)
        pipe.send((sent, [str(e) for emu in emus for e in emu.errors]))
        # Keep serving until the parent has closed its pipelines (no reconnect storms).
        await loop.run_in_executor(None, pipe.recv)


def _child(pipe: Connection, calls: int, turns: int, gap_s: float) -> None:
    from loguru import logger

    logger.remove()
    asyncio.run(_serve(pipe, calls, turns, gap_s))


class EmulatorHost:
    """Starts ``calls`` scripted emulators in a child process.

    Use as ``with EmulatorHost(...) as host``: ``host.http_options(i)`` points call ``i`` at its
    emulator; :meth:`results` waits for every script to finish and returns the send stamps.
    """

    def __init__(self, calls: int, *, turns: int, gap_s: float) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._pipe, child_end = ctx.Pipe()
        self._proc = ctx.Process(target=_child, args=(child_end, calls, turns, gap_s), daemon=True)
        self._endpoints: list[tuple[int, bytes]] = []

    def __enter__(self) -> EmulatorHost:
        self._proc.start()
        self._endpoints = self._pipe.recv()
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._pipe.send("bye")
        except OSError:
            pass
        self._proc.join(10)
        if self._proc.is_alive():
            self._proc.kill()

    def http_options(self, i: int) -> Any:
        """google-genai ``HttpOptions`` for emulator ``i``, trusting its test CA."""
        from google.genai.types import HttpOptions

        port, ca_pem = self._endpoints[i]
        ctx = ssl.create_default_context(cadata=ca_pem.decode())
        return HttpOptions(base_url=f"https://127.0.0.1:{port}", async_client_args={"ssl": ctx})

    async def results(self) -> tuple[list[list[float]], list[str]]:
        """Each call's send stamps and any script errors (waits for the scripts to end)."""
        return await asyncio.get_running_loop().run_in_executor(None, self._pipe.recv)
