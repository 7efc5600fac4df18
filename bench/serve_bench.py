"""The service benchmark (issue 11): HTTP answers of `elo serve`, and calls across processes.

Run ``python -m bench.serve_bench`` (``make bench-serve``); it rewrites the "Service (issue 11)"
section of docs/benchmarks.md (``--quick`` or ``--no-doc`` leave the file alone).

1. HTTP: a real ``elo serve --rehearsal`` process (two workers, its scripted campaign running
   at first) answers ``/healthz``, ``/readyz`` and ``/metrics`` over one keep-alive connection;
   latency per request as the client sees it, on 127.0.0.1.
2. Calls: the pipeline benchmark's call (``bench/pipeline_latency.py``: the real Gemini Live
   service against the local emulator, caller audio at real-time pace, the call's observers)
   run ``N`` at once, first in one process (what the service did before worker processes), then
   spread over ``P`` processes as the service's workers spread them (each process its own event
   loop and emulator). The measure is the latency the pipeline adds to the first audio of each
   model turn; a level "fits" when its p95 stays under 50 ms, as in the pipeline benchmark.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

from bench.common import ROOT, log, percentile, table
from bench.report import machine, publish

HEADING = "## Service (issue 11)"
LOAD_P95_MS = 50.0
TARGETS_MS = {"/healthz": 5.0, "/metrics": 20.0}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests per HTTP path")
    parser.add_argument("--levels", default="20,40,60", help="concurrent calls, in all")
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--turns", type=int, default=15, help="model turns per call")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="small run; docs left alone")
    parser.add_argument("--no-doc", action="store_true", help="do not write docs/benchmarks.md")
    args = parser.parse_args(argv)
    if args.quick:
        args.requests, args.levels, args.turns = 200, "10", 5
    return args


# ---------------------------------------------------------------------------------------- HTTP


def http_phase(requests: int) -> dict[str, list[float]]:
    """Time each path of a real rehearsal service; returns milliseconds per request."""
    with tempfile.TemporaryDirectory(prefix="elo-bench-serve-") as folder:
        # An env file of its own (the environment's ELO_* would still win, as always).
        env_file = Path(folder) / "bench.env"
        env_file.write_text(
            f"ELO_DATABASE__PATH={Path(folder) / 'elo.db'}\n"
            f"ELO_LOGGING__FILE={Path(folder) / 'elo.jsonl'}\n"
            "ELO_SERVER__WORKERS=2\n",
            encoding="utf-8",
        )
        command = ["serve", "--env-file", str(env_file), "--rehearsal", "--port", "0"]
        process = subprocess.Popen(
            [sys.executable, "-m", "cli.main", *command],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            if "listening on" not in line:
                raise RuntimeError(f"elo serve did not start: {line!r}")
            base = line.split("listening on ", 1)[1].strip()
            return _time_paths(base, requests)
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=120)
            except subprocess.TimeoutExpired:
                process.kill()


def _time_paths(base: str, requests: int) -> dict[str, list[float]]:
    found: dict[str, list[float]] = {}
    with httpx.Client(base_url=base, timeout=30) as client:
        for path, count in (
            ("/healthz", requests),
            ("/metrics", requests),
            ("/readyz", max(50, requests // 10)),
        ):
            status = client.get(path).status_code
            if status == 404:
                continue  # a service without this route
            if status != 200:
                raise RuntimeError(f"{path} answered {status}")
            for _ in range(20):  # warm-up
                client.get(path)
            times = []
            for _ in range(count):
                began = time.perf_counter()
                client.get(path)
                times.append((time.perf_counter() - began) * 1000)
            found[path] = times
            log(f"  {path}: p50 {percentile(times, 50):.2f} ms, p99 {percentile(times, 99):.2f}")
    return found


# --------------------------------------------------------------------------------------- calls


def child(calls: int, turns: int) -> int:
    """One process of the calls phase: run ``calls`` at once, print the result as JSON."""
    from loguru import logger

    from bench.pipeline_latency import run_calls

    logger.remove()
    logger.add(sys.stderr, level="ERROR")
    result = asyncio.run(run_calls(calls, turns=turns + 1, gap_s=0.5))
    print(
        json.dumps(
            {
                "latencies_ms": result.latencies_ms,
                "errors": result.errors,
                "cpu_s": result.cpu_s,
                "wall_s": result.wall_s,
            }
        )
    )
    return 0


def calls_phase(total: int, processes: int, turns: int) -> dict[str, object]:
    """Run ``total`` calls spread over ``processes`` processes at once; merged results."""
    shares = [total // processes + (1 if i < total % processes else 0) for i in range(processes)]
    children = [
        subprocess.Popen(
            [sys.executable, "-m", "bench.serve_bench", "--child", str(n), "--turns", str(turns)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        for n in shares
        if n
    ]
    latencies: list[float] = []
    errors: list[str] = []
    cpu = 0.0
    for process in children:
        out, _ = process.communicate(timeout=1800)
        result = json.loads(out.strip().splitlines()[-1])
        latencies += result["latencies_ms"]
        errors += result["errors"]
        cpu += result["cpu_s"] / result["wall_s"] if result["wall_s"] else 0.0
    return {
        "calls": total,
        "processes": len(children),
        "latencies": latencies,
        "errors": errors,
        "cores_busy": cpu,
    }


# -------------------------------------------------------------------------------------- report


def _met(ok: bool) -> str:
    return "yes" if ok else "**no**"


def report(
    host: dict[str, str],
    http: dict[str, list[float]],
    levels: list[dict[str, object]],
    total_s: float,
) -> str:
    rows = []
    for path, times in http.items():
        target = TARGETS_MS.get(path)
        p99 = percentile(times, 99)
        rows.append(
            [
                f"`{path}`",
                f"{len(times):,}",
                f"{percentile(times, 50):.2f}",
                f"{percentile(times, 95):.2f}",
                f"{p99:.2f}",
                "-"
                if target is None
                else f"< {target:.0f} ms: {'yes' if p99 < target else '**no**'}",
            ]
        )
    call_rows = []
    for level in levels:
        ms = level["latencies"]
        assert isinstance(ms, list)
        p95 = percentile(ms, 95)
        call_rows.append(
            [
                str(level["calls"]),
                str(level["processes"]),
                f"{len(ms):,}",
                f"{percentile(ms, 50):.1f}",
                f"{p95:.1f}",
                f"{max(ms):.1f}" if ms else "-",
                f"{level['cores_busy']:.2f}",
                str(len(level["errors"])),  # type: ignore[arg-type]
                "yes" if p95 <= LOAD_P95_MS and not level["errors"] else "**no**",
            ]
        )
    fits: dict[int, int] = {}
    for level in levels:
        ms = level["latencies"]
        assert isinstance(ms, list)
        if percentile(ms, 95) <= LOAD_P95_MS and not level["errors"]:
            count = level["processes"]
            assert isinstance(count, int) and isinstance(level["calls"], int)
            fits[count] = max(fits.get(count, 0), level["calls"])
    reading = ", ".join(
        f"{fits.get(count, 0)} in {count} process{'es' if count > 1 else ''}"
        for count in sorted({int(str(level["processes"])) for level in levels})
    )
    return "\n".join(
        [
            HEADING,
            "",
            f"Measured {host['date']} with `make bench-serve` (`python -m bench.serve_bench`,"
            f" {total_s:.0f} s in all) on:",
            "",
            f"- CPU: {host['cpu']}, {host['cores']}",
            f"- OS: {host['os']}, Python {host['python']}",
            "",
            "HTTP, a real `elo serve --rehearsal` (two workers) over one keep-alive connection"
            " on 127.0.0.1, milliseconds per request as the client sees it:",
            "",
            table(["Path", "Requests", "p50 ms", "p95 ms", "p99 ms", "Goal (p99)"], rows),
            "",
            "Calls at once, the pipeline benchmark's call (real Gemini Live service against the"
            " local emulator, caller audio at real-time pace): latency the pipeline adds to the"
            " first audio of each model turn, all calls' turns together. One process is what the"
            " service did before its worker processes; several is how the workers spread calls."
            f" A level fits when p95 <= {LOAD_P95_MS:.0f} ms.",
            "",
            table(
                [
                    "Calls",
                    "Processes",
                    "Turns timed",
                    "p50 ms",
                    "p95 ms",
                    "max ms",
                    "Cores busy",
                    "Errors",
                    "Fits",
                ],
                call_rows,
            ),
            "",
            f"Most calls at once that fit, of the levels tried: {reading}. The service's workers"
            " are such processes (`ELO_SERVER__WORKERS`, one per core by default), while the"
            " service process itself keeps HTTP, the runners and the queue. /metrics reads every"
            " process's files and runs the readiness checks, hence its few milliseconds.",
            "",
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child is not None:
        return child(args.child, args.turns)
    began = time.perf_counter()
    host = machine()
    log("HTTP: elo serve --rehearsal ...")
    http = http_phase(args.requests)
    levels = []
    for total in (int(n) for n in args.levels.split(",")):
        for processes in sorted({1, args.processes}):
            log(f"calls: {total} at once in {processes} process(es) ...")
            level = calls_phase(total, processes, args.turns)
            levels.append(level)
            ms = level["latencies"]
            assert isinstance(ms, list)
            log(f"  p95 {percentile(ms, 95):.1f} ms, {len(level['errors'])} errors")  # type: ignore[arg-type]
    section = report(host, http, levels, total_s=time.perf_counter() - began)
    print(section)
    publish(section, heading=HEADING, keep_doc=args.quick or args.no_doc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
