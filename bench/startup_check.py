"""What the quick integrity check costs ``Store.open`` on a clinic-sized database.

Seeds a database the way the tools benchmark does (patients and appointments), adds finished
calls with transcripts (the largest table in practice), then times ``Store.open`` + ``close``
with the quick check (as the app runs it) and without it (the check replaced by a no-op), each
on a warm OS page cache, and the check alone with SQLite's page cache cold (a fresh connection).

    python -m bench.startup_check --appointments 100000 --patients 20000 --calls 30000

Writes its section of docs/benchmarks.md (``--no-doc`` to leave the file alone).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from bench.common import NOW, PROFILE_PATH, GridCache, fixed_clock, log, table
from bench.report import filesystem, machine, publish
from bench.seed import migrate, seed
from config.clinic import load_clinic_profile
from storage import Store, database
from storage.database import Database
from storage.timefmt import to_db


def add_calls(path: Path, calls: int, rng: random.Random) -> None:
    """Finished calls with a plausible transcript (about 20 turns) each."""
    turn = {"role": "user", "text": "Përshëndetje, dua të rezervoj një kontroll të zakonshëm."}
    with sqlite3.connect(path) as conn:
        conn.executemany(
            "INSERT INTO calls (id, phone, started_at, ended_at, outcome, transcript, turns)"
            " VALUES (?, ?, ?, ?, 'completed', ?, 20)",
            (
                (
                    f"call-{i}",
                    f"+35569{rng.randrange(1_000_000, 9_999_999)}",
                    to_db(NOW),
                    to_db(NOW),
                    json.dumps([turn] * 20, ensure_ascii=False),
                )
                for i in range(calls)
            ),
        )


async def time_open(path: Path, *, check: bool, runs: int) -> list[float]:
    """Milliseconds per Store.open + close."""
    original = Database.quick_check

    async def skipped(self: Database) -> str | None:
        return None

    times = []
    try:
        if not check:
            Database.quick_check = skipped  # type: ignore[method-assign]
        for _ in range(runs):
            database._healthy_files.clear()  # every open checks, as a new process would
            started = time.perf_counter()
            store = await Store.open(path, clock=fixed_clock)
            await store.close()
            times.append((time.perf_counter() - started) * 1000)
    finally:
        Database.quick_check = original  # type: ignore[method-assign]
    return times


HEADING = "## Start-up integrity check (issue 8)"


def main() -> None:
    """Seed, measure, print the Markdown section and write it into docs/benchmarks.md."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--appointments", type=int, default=100_000)
    parser.add_argument("--patients", type=int, default=20_000)
    parser.add_argument("--calls", type=int, default=30_000)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--no-doc", action="store_true", help="leave docs/benchmarks.md alone")
    args = parser.parse_args()
    host = machine()
    load_before = os.getloadavg()[0]
    rng = random.Random(7)
    clinic = load_clinic_profile(PROFILE_PATH)
    with tempfile.TemporaryDirectory(prefix="elo-startup-") as tmp:
        path = Path(tmp) / "elo.db"
        fs = filesystem(path)
        asyncio.run(migrate(path, clinic))
        log("seeding ...")
        seed(
            path,
            clinic,
            GridCache(clinic),
            rng,
            appointments=args.appointments,
            patients=args.patients,
        )
        add_calls(path, args.calls, rng)
        size_mb = path.stat().st_size / 1e6
        with_check = asyncio.run(time_open(path, check=True, runs=args.runs))
        without = asyncio.run(time_open(path, check=False, runs=args.runs))
        cold = []
        for _ in range(5):
            started = time.perf_counter()
            with sqlite3.connect(path) as conn:
                conn.execute("PRAGMA ignore_check_constraints = ON")
                conn.execute("PRAGMA quick_check(1)").fetchall()
            cold.append((time.perf_counter() - started) * 1000)
    rows = [
        ["Store.open + close, with the quick check (as the app runs)", with_check],
        ["Store.open + close, check replaced by a no-op", without],
        ["quick_check alone, fresh connection", cold],
    ]
    section = "\n".join(
        [
            HEADING,
            "",
            f"Measured {host['date']} with `python -m bench.startup_check` on:",
            "",
            f"- CPU: {host['cpu']}, {host['cores']}",
            f"- {host['os']}; database in a temp dir on {fs}",
            f"- Python {host['python']}, SQLite {host['sqlite']}, aiosqlite {host['aiosqlite']}",
            f"- Load average (1 min) {load_before:.2f} before and {os.getloadavg()[0]:.2f} after"
            " the run (other work on the machine inflates the times)",
            "",
            f"Database: {size_mb:.1f} MB ({args.appointments:,} appointments,"
            f" {args.patients:,} patients, {args.calls:,} finished calls with transcripts).",
            "",
            table(
                ["What", "runs", "median ms", "max ms"],
                [
                    [label, str(len(ms)), f"{statistics.median(ms):.1f}", f"{max(ms):.1f}"]
                    for label, ms in rows
                ],
            ),
            "",
            "Every `Store.open` runs SQLite's `quick_check` with CHECK constraints switched off"
            " (they are enforced on every write anyway);"
            " a process that already found the same unchanged file healthy skips it. Each timed"
            " open here forgets that, as a new process would.",
        ]
    )
    print(section)
    publish(section, heading=HEADING, keep_doc=args.no_doc)


if __name__ == "__main__":
    main()
