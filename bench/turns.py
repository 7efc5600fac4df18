"""Turn ends: from the caller's last sound to ``activityEnd`` reaching the model, and missed turns.

Every utterance of the committed corpus (``bench/corpus/turns``, see its ``make_corpus.py``) is
one whole call through Elo's real pipeline: :class:`pipeline.call.session.CallSession` on the
WAV-file transport at real-time pace (20 ms frames on an absolute schedule, as a line delivers
them) -> the user aggregator with the VAD and turn strategy of :mod:`pipeline.stages` -> Elo's
Gemini Live service -> the local emulator (``devtools/gemini_emulator.py``, TLS websocket on
127.0.0.1). Elo greets first (the emulator answers the greeting with 0.2 s of audio), the caller
speaks ``DELAY_S`` after the pipeline starts, and the emulator notes when each client message
arrives.

Measured per utterance: the time from the end of its last sound (the manifest's ``last_sound``
sample, placed on the transport's own schedule) to the arrival of the ``activityEnd`` that
closes the caller's turn. A turn is *missed* when no ``activityStart``/``activityEnd`` pair
follows the speech within ``LISTEN_S``; *split* when the utterance gives more than one pair (a
turn ended in a pause inside it). ``make bench-turns`` runs every configuration of ``CONFIGS``
(Elo's settings before issue 9, Smart Turn as upstream ships it and tuned, and today's VAD stop)
and rewrites the "Turn ends" section of docs/benchmarks.md.

Gemini's own activity detection (``ELO_PIPELINE__VAD=off``) cannot be measured here: the
emulator does not model Google's server VAD, so only the real service could say when it ends a
turn.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import ROOT, log

CORPUS = ROOT / "bench" / "corpus" / "turns"
MANIFEST = CORPUS / "manifest.json"
PROFILE_PATH = ROOT / "config" / "clinic.toml"
DELAY_S = 1.5  # the caller speaks this long after the pipeline starts (Elo greets meanwhile)
LISTEN_S = 5.0  # how long after the last sound a turn end may come (Smart Turn waits 3 s)
SETTLE_S = 0.4  # after the turn ends, how long to watch for a second (split) turn
# What is measured: Elo's settings before issue 9 (Smart Turn and Pipecat's VAD defaults, stop
# 0.5 s), Smart Turn with today's VAD, Smart Turn tuned, and today's defaults (VAD stop). Each is
# a set of ``pipeline`` settings over the defaults.
CONFIGS: dict[str, dict[str, Any]] = {
    "before": {
        "turn_stop": "smart_turn",
        "vad_confidence": 0.7,
        "vad_start_secs": 0.2,
        "vad_stop_secs": 0.5,
        "vad_min_volume": 0.6,
    },
    "smart_turn": {"turn_stop": "smart_turn"},
    # Smart Turn as Pipecat recommends it (VAD stop 0.2 s), its fallback cut to fit 1.2 s.
    "smart_turn_tuned": {
        "turn_stop": "smart_turn",
        "vad_stop_secs": 0.2,
        "smart_turn_fallback_secs": 0.8,
    },
    "vad": {"turn_stop": "vad"},
}


class _StampedList(list):
    """A list that notes ``time.monotonic()`` whenever something is appended."""

    def __init__(self) -> None:
        super().__init__()
        self.stamps: list[float] = []

    def append(self, item: Any) -> None:
        self.stamps.append(time.monotonic())
        super().append(item)


@dataclass
class Outcome:
    """One utterance through one strategy."""

    entry: dict[str, Any]
    strategy: str
    latency_ms: float | None  # None: missed
    pairs: int  # activityStart/activityEnd pairs after the caller started speaking
    error: str | None = None

    @property
    def missed(self) -> bool:
        return self.error is None and self.latency_ms is None

    @property
    def split(self) -> bool:
        return self.pairs > 1


def _activity(message: Any, name: str) -> bool:
    body = message.body if message.kind == "realtime_input" else {}
    return name in body


def _script() -> list[Any]:
    from devtools.gemini_emulator import (
        model_audio,
        output_transcription,
        pause,
        turn_complete,
        wait_for_client_content,
    )

    return [
        wait_for_client_content(),  # Elo is told the patient answered and greets first
        model_audio(0.2),
        output_transcription("Përshëndetje."),
        turn_complete(),
        pause(600),  # then only listen; the emulator records every client message
    ]


async def run_one(
    entry: dict[str, Any], strategy: str, *, store: Any, clinic: Any, work: Path, index: int
) -> Outcome:
    """Play one corpus file as a call; when its turn ended at the emulator, if it did."""
    from app.application import Application
    from config.settings import load_settings
    from devtools.gemini_emulator import GeminiLiveEmulator
    from pipeline.call.session import CallSession
    from pipeline.call.spec import CallSpec, CallTimeouts
    from pipeline.file_transport import WavFileTransport
    from pipeline.metadata import CallMetadata
    from tools.catalog import default_registry

    rate = entry["rate"]
    async with GeminiLiveEmulator(_script(), step_timeout=700) as emu:
        received = _StampedList()
        emu.received = received  # stamps arrival; the emulator only appends to it
        settings = load_settings(
            env_file=None,
            database={"path": work / "elo.db"},
            logging={"file": work / "elo.jsonl", "level": "WARNING"},
            google={"api_key": "bench-key", "base_url": emu.base_url},
            pipeline={
                "transport": "file",
                "input_sample_rate": rate,
                "silence_timeout_secs": 120,
                **CONFIGS[strategy],
            },
        )
        transport = WavFileTransport(
            input_path=CORPUS / entry["file"],
            output_path=work / f"elo-{index}.wav",
            realtime=True,
            delay_secs=DELAY_S,
        )
        call = CallSession(
            Application(
                settings=settings,
                clinic=clinic,
                store=store,
                registry=default_registry(),
                http_client_args={"ssl": emu.ssl_context},
            ),
            CallSpec(
                metadata=CallMetadata(call_id=f"turns-{index}", reason="kontroll"),
                transport=transport,
                timeouts=CallTimeouts(first_audio=60),
            ),
        )
        task = asyncio.create_task(call.run())
        try:
            return await _observe(entry, strategy, transport, received, emu, task)
        finally:
            await call.cancel(reason="benchmark done")
            done, _ = await asyncio.wait({task}, timeout=15)
            if not done:
                task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def _observe(
    entry: dict[str, Any],
    strategy: str,
    transport: Any,
    received: _StampedList,
    emu: Any,
    task: asyncio.Task[Any],
) -> Outcome:
    rate = entry["rate"]
    feeder = transport.input()
    # The input transport paces frame n at _clock_start + n * 20 ms (pipeline/file_transport.py,
    # WavInputTransport._pace), the delay's silence first: that schedule is the caller's clock.
    # The transport offers no event for its start: poll the attribute it sets then.
    while not getattr(feeder, "_clock_start", 0.0) and not task.done():  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    if task.done():
        return Outcome(entry, strategy, None, 0, error=f"call ended early: {task.result()}")
    clock0 = feeder._clock_start
    speech_start = clock0 + DELAY_S + entry["first_sound"] / rate
    speech_end = clock0 + DELAY_S + (entry["last_sound"] + 1) / rate

    def ends_after_speech(messages: list[Any]) -> list[int]:
        return [
            i
            for i, m in enumerate(messages)
            if _activity(m, "activityEnd") and received.stamps[i] > speech_start
        ]

    deadline = speech_end + LISTEN_S
    while time.monotonic() < deadline and not task.done():
        ends = ends_after_speech(received)
        if ends and received.stamps[ends[-1]] >= speech_end:
            # The turn is over; give a split turn (one more pair) the chance to show.
            await asyncio.sleep(SETTLE_S)
            break
        await asyncio.sleep(0.02)
    messages, stamps = list(received), list(received.stamps)
    greeted = [s for m, s in zip(messages, stamps, strict=True) if m.kind == "client_content"]
    if not greeted or greeted[0] > speech_start:
        return Outcome(entry, strategy, None, 0, error="the model was not ready before the speech")
    starts = [
        s
        for m, s in zip(messages, stamps, strict=True)
        if _activity(m, "activityStart") and s > speech_start
    ]
    ends = [stamps[i] for i in ends_after_speech(messages)]
    pairs = min(len(starts), len(ends))
    if not ends or ends[-1] < speech_end:
        return Outcome(entry, strategy, None, pairs)
    return Outcome(entry, strategy, (ends[-1] - speech_end) * 1000, pairs)


async def run_all(
    entries: list[dict[str, Any]], strategies: Sequence[str], concurrency: int
) -> list[Outcome]:
    """Every entry through every strategy, ``concurrency`` calls at a time."""
    from config.clinic import load_clinic_profile
    from storage import Store

    clinic = load_clinic_profile(PROFILE_PATH)
    gate = asyncio.Semaphore(concurrency)
    outcomes: list[Outcome] = []
    with tempfile.TemporaryDirectory(prefix="elo-bench-turns-") as tmp:
        work = Path(tmp)
        store = await Store.open(work / "elo.db", tz=clinic.tz)
        try:
            jobs = [(s, e) for s in strategies for e in entries]

            async def one(index: int, strategy: str, entry: dict[str, Any]) -> None:
                async with gate:
                    try:
                        out = await run_one(
                            entry, strategy, store=store, clinic=clinic, work=work, index=index
                        )
                    except Exception as exc:  # one broken run must not hide the others
                        out = Outcome(entry, strategy, None, 0, error=f"{type(exc).__name__}")
                    outcomes.append(out)
                    shown = "missed" if out.latency_ms is None else f"{out.latency_ms:.0f} ms"
                    log(
                        f"[{len(outcomes)}/{len(jobs)}] {strategy:10} {entry['file']:28} "
                        f"{out.error or shown}{' (split)' if out.split else ''}"
                    )

            await asyncio.gather(*(one(i, s, e) for i, (s, e) in enumerate(jobs)))
        finally:
            await store.close()
    return outcomes


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--configs", default=",".join(CONFIGS), help=f"what to measure: {', '.join(CONFIGS)}"
    )
    parser.add_argument("--concurrency", type=int, default=3, help="calls at a time")
    parser.add_argument("--only", default="", help="only corpus files whose name contains this")
    parser.add_argument("--no-doc", action="store_true", help="do not write docs/benchmarks.md")
    parser.add_argument("--json", type=Path, help="also write every outcome to this file")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; 1 if a turn was missed or a run failed under the default strategy."""
    from loguru import logger

    from bench.report import machine, publish
    from bench.turns_report import report
    from config.settings import load_settings

    args = parse_args(argv)
    logger.remove()
    logger.add(sys.stderr, level="ERROR")
    manifest = json.loads(MANIFEST.read_text(encoding="utf-8"))
    entries = [e for e in manifest["files"] if args.only in e["file"]]
    strategies = [s for s in args.configs.split(",") if s]
    unknown = set(strategies) - set(CONFIGS)
    if unknown:
        raise SystemExit(
            f"unknown config {', '.join(sorted(unknown))}; options: {', '.join(CONFIGS)}"
        )
    default = str(load_settings(env_file=None).pipeline.turn_stop)
    load0 = os.getloadavg()[0]
    started = time.monotonic()
    outcomes = asyncio.run(run_all(entries, strategies, args.concurrency))
    total_s = time.monotonic() - started
    if args.json:
        args.json.write_text(
            json.dumps([o.__dict__ for o in outcomes], indent=1, ensure_ascii=False),
            encoding="utf-8",
        )
    section = report(
        outcomes,
        host=machine(),
        load=(load0, os.getloadavg()[0]),
        total_s=total_s,
        default=default,
        concurrency=args.concurrency,
    )
    print(section)
    publish(section, heading=section.splitlines()[0], keep_doc=args.no_doc or bool(args.only))
    bad = [o for o in outcomes if o.strategy == default and (o.missed or o.error)]
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
