"""Latency and booking throughput of the clinic tools on a database of 100,000 appointments.

Issue 2 asks for p50/p99 of ``check_available_slots`` and ``schedule_appointment`` with 100,000
existing appointments, and booking throughput with 8 concurrent writers. Targets on the 2-core
reference machine: check_available_slots p99 < 5 ms, schedule_appointment p99 < 10 ms.

Run ``make bench`` (full run; rewrites the "Clinic core tools (issue 2)" section of
docs/benchmarks.md) or ``.venv/bin/python -m bench.tools_bench --quick`` (smaller N, prints only).
``--profile`` adds a cProfile summary of the measured calls.

Every call goes through the real path: ``ToolRegistry.call`` (argument validation, handler,
logging) with a ``ToolContext`` from ``build_context``, the sample clinic profile and a Store
opened (and migrated) by ``Store.open``. Loguru writes JSON lines with PII masking to a file in the
temp dir, as in production; nothing is printed per call. Seeding uses raw SQL because it is setup.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench.common import PROFILE_PATH, GridCache, log, make_settings
from bench.latency import latency_phase
from bench.report import filesystem, machine, publish, report
from bench.seed import migrate, seed
from bench.throughput import throughput_phases
from bench.workload import BookingPlanner
from config.clinic import load_clinic_profile


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.tools_bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer calls; do not write the doc")
    parser.add_argument("--calls", type=int, help="calls per tool (default 2000, quick 300)")
    parser.add_argument("--bookings", type=int, help="bookings per throughput run (2000/400)")
    parser.add_argument("--appointments", type=int, default=100_000)
    parser.add_argument("--patients", type=int, default=20_000)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--seed", type=int, default=20261201, help="random seed")
    parser.add_argument("--profile", action="store_true", help="print a cProfile summary")
    parser.add_argument("--no-doc", action="store_true", help="do not write docs/benchmarks.md")
    parser.add_argument("--tmpdir", type=Path, help="where the temp databases go")
    args = parser.parse_args(argv)
    args.calls = args.calls or (300 if args.quick else 2000)
    args.bookings = args.bookings or (400 if args.quick else 2000)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    began = time.perf_counter()
    rng = random.Random(args.seed)
    clinic = load_clinic_profile(PROFILE_PATH)
    grid = GridCache(clinic)
    host = machine()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="elo-bench-", dir=args.tmpdir) as tmp:
        work = Path(tmp)
        base = work / "base.db"
        asyncio.run(migrate(base, clinic))
        log(f"seeding {args.appointments:,} appointments ...")
        seeded = seed(
            base, clinic, grid, rng, appointments=args.appointments, patients=args.patients
        )
        log(f"  {seeded.seconds:.1f} s; measuring tool latency ({args.calls} calls each) ...")
        latency = asyncio.run(
            latency_phase(
                work,
                base,
                clinic,
                grid,
                rng,
                calls=args.calls,
                warmup=args.warmup,
                profile=args.profile,
            )
        )
        settings = make_settings(base, work / "logs" / "plan.jsonl")
        plan = BookingPlanner(base, clinic, grid, settings).plan(
            rng, args.bookings, single_slot=True
        )
        throughput = throughput_phases(work, base, clinic, plan)
        fs = filesystem(work)
    section = report(
        args,
        host,
        fs,
        seeded,
        latency,
        throughput,
        total_s=time.perf_counter() - began,
        load=(load_before, os.getloadavg()),
    )
    print(section)
    if latency.profile_text:
        print("\n```\n" + latency.profile_text + "```")
    publish(section, keep_doc=args.quick or args.no_doc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
