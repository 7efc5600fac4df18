"""SQLite and PostgreSQL side by side (issue 14): booking, claiming, planning on the same machine.

Run ``python -m bench.backends_bench`` (``make bench-backends``); it rewrites the "SQLite and
PostgreSQL side by side" section of docs/benchmarks.md (``--quick`` or ``--no-doc`` leave the
file alone). Progress goes to stderr, the section to stdout.

Every PostgreSQL database lives in a throwaway cluster that this benchmark starts
(:class:`devtools.postgres.PostgresCluster`, on 127.0.0.1) and deletes at the end: one with
fsync, synchronous commit and full-page writes off (the test cluster's settings), and one with
PostgreSQL's durable defaults for the booking case, to compare with SQLite in WAL mode with
``synchronous = NORMAL``. SQLite files and clusters live on the same filesystem (under /tmp).

1. Booking: 8 writer processes, each with its own Store, book distinct free slots through
   ``store.appointments.book``; each booking is timed.
2. Claims: 1, 2 and 4 processes plan, claim (``store.queue.claim_contact``) and complete
   attempts until a campaign is drained; afterwards no contact may have two attempts.
3. Planning: ``plan_batch`` and ``next_wake`` on a campaign of 1,000,000 contacts.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.backends_plan import Loader, explain_due, time_planning
from bench.backends_report import Results, section
from bench.backends_work import (
    HASH_KEY,
    booking_check,
    booking_run,
    claims_check,
    claims_run,
    open_store,
    round_trip_ms,
    seed_campaign,
)
from bench.common import log
from bench.report import filesystem, machine, publish
from devtools.postgres import PostgresCluster, new_base_dir

HEADING = "## SQLite and PostgreSQL side by side (issue 14)"
WRITERS = 8


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.backends_bench", description=__doc__)
    parser.add_argument("--bookings", type=int, default=200, help="bookings per writer process")
    parser.add_argument("--writers", type=int, default=WRITERS, help="booking writer processes")
    parser.add_argument(
        "--pace-ms",
        type=float,
        default=80.0,
        help="also book at random arrivals, this mean interval per writer (0: saturation only)",
    )
    parser.add_argument("--claim-contacts", type=int, default=2_000, help="contacts per claim run")
    parser.add_argument("--processes", default="1,2,4", help="claimer process counts")
    parser.add_argument("--contacts", type=int, default=1_000_000, help="planning campaign size")
    parser.add_argument("--runs", type=int, default=10, help="timed runs per planning call")
    parser.add_argument("--seed", type=int, default=20261204, help="random seed")
    parser.add_argument("--skip", default="", help="cases to skip: booking,claims,planning")
    parser.add_argument("--quick", action="store_true", help="small run; docs left alone")
    parser.add_argument("--no-doc", action="store_true", help="do not write docs/benchmarks.md")
    args = parser.parse_args(argv)
    if args.quick:
        args.bookings, args.claim_contacts, args.contacts, args.runs = 5, 60, 3_000, 3
    return args


@dataclass
class Engine:
    """Where one engine's databases are made: an SQLite directory or a running cluster."""

    label: str
    work: Path
    cluster: PostgresCluster | None = None
    prefix: str = ""

    def new_database(self, name: str) -> str:
        """A fresh, empty database's URL (Store.open migrates it)."""
        if self.cluster is None:
            return str(self.work / f"{self.prefix}{name}.db")
        self.cluster.create_database(self.prefix + name)
        return self.cluster.url(self.prefix + name)


async def _migrate(url: str) -> None:
    store = await open_store(url, pool_size=1)
    await store.close()


def booking_case(engines: list[Engine], args: argparse.Namespace, out: Results) -> None:
    """Each engine's booking run, plus PostgreSQL without the one-writer lock (a what-if).

    The what-if runs only while the booking path still takes the lock.
    """
    runs = [(engine, engine.label, False) for engine in engines]
    if "exclusive=False" not in out.booking_path:
        runs += [(e, f"{e.label}, what-if exclusive=False", True) for e in engines if e.cluster]
    paces = [0.0] + ([args.pace_ms] if args.pace_ms else [])
    plan = [(1, 0.0, engine, f"{engine.label}, 1 writer", False) for engine in engines]
    plan += [(args.writers, pace, *run) for pace in paces for run in runs]
    for number, (writers, pace, engine, name, shared) in enumerate(plan):
        url = engine.new_database(f"booking{number}")
        asyncio.run(_migrate(url))
        if writers == 1:
            out.round_trip_ms[engine.label] = asyncio.run(round_trip_ms(url))
        label = f"{name}, paced" if pace else name
        log(f"booking: {label}, {writers} writer(s) x {args.bookings} ...")
        run = booking_run(label, url, writers, args.bookings, shared=shared, pace_ms=pace)
        check = asyncio.run(booking_check(url))
        log(
            f"  p50 {run.stats()[0]} p99 {run.stats()[1]} max {run.stats()[2]} ms,"
            f" {run.rate('booked'):.0f}/s, {dict(run.counts)}, {check}"
        )
        out.booking.append((run, check))


def _failed(out: Results, case: str, exc: Exception) -> None:
    """Record a case that cannot run on an engine (a repository method failing there)."""
    line = f"{case}: {type(exc).__name__}: {exc}".splitlines()[0]
    log(f"  FAILED {line}")
    out.failures.append(line)


def claims_case(engines: list[Engine], args: argparse.Namespace, out: Results) -> None:
    for engine in engines:
        for processes in (int(p) for p in args.processes.split(",")):
            url = engine.new_database(f"claims{processes}")
            campaign_id = asyncio.run(seed_campaign(url, args.claim_contacts))
            log(f"claims: {engine.label}, {processes} process(es), {args.claim_contacts} ...")
            try:
                run = claims_run(engine.label, url, campaign_id, processes)
            except RuntimeError as exc:
                _failed(out, f"claims on {engine.label}", exc)
                break  # the same failure at every process count
            check = asyncio.run(claims_check(url, campaign_id))
            log(f"  {run.rate('claimed'):.0f} claims/s, {dict(run.counts)}, {check}")
            out.claims.append((engine.label, run, check))


async def planning_case(sqlite: Engine, pg: Engine, args: argparse.Namespace, out: Results) -> None:
    urls = {"SQLite": sqlite.new_database("planning"), "PostgreSQL": pg.new_database("planning")}
    campaign_ids = set()
    for url in urls.values():
        store = await open_store(url, pool_size=1)
        campaign = await store.campaigns.create(name="Recall 2026", purpose="recall")
        campaign_ids.add(campaign.id)
        await store.close()
    (campaign_id,) = campaign_ids
    log(f"planning: seeding {args.contacts:,} contacts into both ...")
    loader = Loader(Path(urls["SQLite"]), urls["PostgreSQL"])
    await loader.load(campaign_id, args.contacts, args.seed)
    out.seeded, out.seed_s = loader.rows, loader.seconds
    log(f"  {loader.rows}, load s {loader.seconds}")
    for engine, url in urls.items():
        try:
            timings = await time_planning(engine, url, campaign_id, args.runs)
        except Exception as exc:
            _failed(out, f"planning on {engine}", exc)
            continue
        for timing in timings:
            out.planning.append(timing)
            log(f"  {engine} {timing.label}: max {max(timing.ms):.1f} ms -> {timing.returned}")
    out.explain = await explain_due(urls["PostgreSQL"], campaign_id)
    log(out.explain)


def booking_path() -> str:
    """Which transaction the booking path takes, read from storage/appointments.py."""
    from storage import appointments

    source = Path(appointments.__file__).read_text(encoding="utf-8")
    body = source[source.index("    async def book(") :]
    body = body[: body.index("\n    async def ", 10)]
    found = re.search(r"transaction\((.*?)\)", body)
    return f"transaction({found.group(1)})" if found else "unknown"


def pg_version(cluster: PostgresCluster) -> str:
    return cluster.sql("SHOW server_version").strip()


def pg_settings(cluster: PostgresCluster) -> str:
    names = ("fsync", "synchronous_commit", "full_page_writes", "shared_buffers")
    return ", ".join(f"{n}={cluster.sql(f'SHOW {n}').strip()}" for n in names)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    skip = set(filter(None, args.skip.split(",")))
    began = time.perf_counter()
    host = machine()
    load_before = os.getloadavg()
    out = Results(booking_path=booking_path())
    work = Path(tempfile.mkdtemp(prefix="elo-backends-", dir="/tmp"))
    fast = durable = None
    try:
        fast = PostgresCluster.start(new_base_dir("elo-bench-pg-"))
        out.settings["PostgreSQL"] = pg_settings(fast)
        host["postgresql"] = pg_version(fast)
        sqlite = Engine("SQLite", work)
        pg = Engine("PostgreSQL", work, fast)
        if "booking" not in skip:
            durable = PostgresCluster.start(new_base_dir("elo-bench-pgd-"), durable=True)
            out.settings["PostgreSQL durable"] = pg_settings(durable)
            booking_case([sqlite, pg, Engine("PostgreSQL durable", work, durable)], args, out)
            durable.stop()
        if "claims" not in skip:
            claims_case([sqlite, pg], args, out)
        if "planning" not in skip:
            asyncio.run(planning_case(sqlite, pg, args, out))
    finally:
        for cluster in (fast, durable):
            if cluster is not None:
                cluster.stop()
        shutil.rmtree(work, ignore_errors=True)
    host["fs"] = filesystem(work)
    host["ram"] = _ram()
    host["asyncpg"] = importlib.metadata.version("asyncpg")
    text = section(
        HEADING, host, (load_before, os.getloadavg()), out, args, time.perf_counter() - began
    )
    print(text)
    publish(text, heading=HEADING, keep_doc=args.quick or args.no_doc)
    return 0


def _ram() -> str:
    """Total memory, from /proc/meminfo."""
    try:
        with open("/proc/meminfo", encoding="utf-8") as handle:
            kib = int(handle.readline().split()[1])
    except (OSError, IndexError, ValueError):
        return "unknown"
    return f"{kib / 1024**2:.0f} GiB"


__all__ = ["HASH_KEY", "main"]

if __name__ == "__main__":
    sys.exit(main())
