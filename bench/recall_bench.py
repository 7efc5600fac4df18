"""Benchmark of recalls and attendance figures (issue 13 §3).

``python -m bench.recall_bench`` (``make bench-recall``) seeds 100,000 patients with 300,000
past appointments (and some future ones, do-not-call entries and sent reminders), then times
``store.recalls.count`` (``elo recall build --dry-run``), ``store.recalls.build`` (the campaign
and every contact in one ``INSERT ... SELECT``; also with erased people's hashed do-not-call
entries, which cost an HMAC per candidate), and ``store.attendance.figures`` over 30 and 365
days; it writes its section of docs/benchmarks.md. ``--quick`` seeds 5,000 patients and leaves
the file alone.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, date, timedelta
from pathlib import Path

from bench.common import NOW, log, percentile, table
from bench.report import machine, publish
from storage import Store
from storage.privacy_keys import phone_hash
from storage.timefmt import to_db

HEADING = "## Recalls and attendance figures (issue 13)"
CUTOFF = NOW.replace(month=6)  # six calendar months before 1 December 2026


@dataclass
class Result:
    """What was timed (milliseconds per run) and the rows involved."""

    patients: int
    appointments: int
    timings: dict[str, list[float]]
    rows: dict[str, int]
    seed_s: float


async def seed(store: Store, patients: int) -> int:
    """``patients`` patients with three past appointments each; returns appointments written.

    A tenth also have a future appointment, 1% are on the do-not-call list, half of the past
    appointments had an SMS reminder sent the day before.
    """
    rng = random.Random(13)
    now = to_db(NOW)
    start = NOW.astimezone(UTC).replace(hour=8, minute=0) - timedelta(days=730)
    async with store.db.transaction() as conn:
        await conn.executemany(
            "INSERT INTO patients (phone, name, language, created_at, updated_at)"
            " VALUES (?, 'Pacient', ?, ?, ?)",
            (
                (f"+35569{n:07d}", rng.choice(("sq", "sq", "en", "it")), now, now)
                for n in range(patients)
            ),
        )
        rows = []
        step = 730 * 86400 // (patients * 3)  # spread evenly over the two years up to now
        for n in range(patients * 3):
            begin = start + timedelta(seconds=step * n // 60 * 60)
            status = rng.choices(("completed", "no_show", "cancelled"), (85, 8, 7))[0]
            rows.append((rng.randrange(1, patients + 1), n % 40 + 1, begin, status))
        future = NOW.astimezone(UTC) + timedelta(days=2)
        for n in range(patients // 10):
            begin = future + timedelta(minutes=30 * (n // 40))
            rows.append((rng.randrange(1, patients + 1), n % 40 + 1, begin, "scheduled"))
        await conn.executemany(
            "INSERT INTO appointments (patient_id, service_id, chair, starts_at, ends_at, status,"
            " price_lek, source, created_at) VALUES (?, 'checkup', ?, ?, ?, ?, 2000, 'agent', ?)",
            (
                (pid, chair, to_db(b), to_db(b + timedelta(minutes=30)), status, now)
                for pid, chair, b, status in rows
            ),
        )
        await conn.executemany(
            "INSERT INTO do_not_call (phone, source, added_at) VALUES (?, 'cli', ?)",
            ((f"+35569{n:07d}", now) for n in range(0, patients, 100)),
        )
        await conn.execute(
            "INSERT INTO messages (patient_id, appointment_id, channel, kind, language, due_at,"
            " status, next_attempt_at, idempotency_key, created_at, sent_at)"
            " SELECT patient_id, id, 'sms', 'reminder', 'sq', starts_at, 'sent', starts_at,"
            " 'bench:' || id, created_at, strftime('%Y-%m-%dT%H:%M:%SZ', starts_at, '-1 day')"
            " FROM appointments WHERE id % 2 = 0 AND status != 'scheduled'"
        )
    await store.db.conn.execute("ANALYZE")
    return len(rows)


async def _hash_some(store: Store, patients: int) -> None:
    """Erased people's hashed do-not-call entries (1 in 200 patients' numbers)."""
    key = bytes(range(32))
    store.recalls._keys._key = key  # the bench's own key, as ELO_PRIVACY__HASH_KEY would be
    async with store.db.transaction() as conn:
        await conn.executemany(
            "INSERT INTO do_not_call_hashed (phone_hash, source, added_at, hashed_at)"
            " VALUES (?, 'cli', ?, ?)",
            (
                (phone_hash(key, f"+35569{n:07d}"), to_db(NOW), to_db(NOW))
                for n in range(7, patients, 200)
            ),
        )


async def run(path: Path, patients: int, *, runs: int) -> Result:
    """Seed a database at ``path`` and time every query ``runs`` times."""
    store = await Store.open(path, clock=lambda: NOW)
    timings: dict[str, list[float]] = {}
    rows: dict[str, int] = {}

    async def timed(label: str, make: object) -> None:
        for n in range(runs):
            began = time.perf_counter()
            value = await make(n)  # type: ignore[operator]
            timings.setdefault(label, []).append((time.perf_counter() - began) * 1000)
            rows[label] = value

    async def build(n: int, limit: int | None = None, tag: str = "") -> int:
        _, added = await store.recalls.build(
            campaign={"name": f"Recall {tag}{limit} {n}", "purpose": "recall"},
            cutoff=CUTOFF,
            now=NOW,
            time_zone="Europe/Tirane",
            limit=limit,
            actor="bench",
        )
        return added

    async def figures(days: int) -> int:
        last = date(2026, 11, 30)
        result = await store.attendance.figures(
            first_day=last - timedelta(days=days - 1), last_day=last
        )
        return result.appointments

    try:
        began = time.perf_counter()
        appointments = await seed(store, patients)
        seed_s = time.perf_counter() - began
        await timed("count", lambda n: store.recalls.count(cutoff=CUTOFF, now=NOW))
        await timed("build", lambda n: build(n))
        await timed("build, limit 1,000", lambda n: build(n, 1000))
        await timed("attendance, 30 days", lambda n: figures(30))
        await timed("attendance, 365 days", lambda n: figures(365))
        await _hash_some(store, patients)
        await timed("build, with hashed entries", lambda n: build(n, tag="hashed "))
    finally:
        await store.close()
    return Result(patients, appointments, timings, rows, seed_s)


def section(result: Result, runs: int) -> str:
    """The markdown section of docs/benchmarks.md."""
    host = machine()
    what = {
        "count": "`store.recalls.count` (`--dry-run`), 6 months",
        "build": "`store.recalls.build`: campaign + every contact + audit, one transaction",
        "build, limit 1,000": "the same with `--limit 1000` (longest overdue first)",
        "build, with hashed entries": "the build with erased people's hashed entries present",
        "attendance, 30 days": "`store.attendance.figures`, 30 days",
        "attendance, 365 days": "`store.attendance.figures`, 365 days",
    }
    lines = [
        HEADING,
        "",
        f"Measured {host['date']} with `make bench-recall` (`python -m bench.recall_bench`) on:",
        "",
        f"- CPU: {host['cpu']}, {host['cores']}",
        f"- {host['os']}; database in a temp dir",
        f"- Python {host['python']}, SQLite {host['sqlite']}, aiosqlite {host['aiosqlite']}",
        f"- Load average (1 min) {os.getloadavg()[0]:.2f} after the run"
        " (other work on the machine inflates every number)",
        "",
        table(
            ["What", "Runs", "p50 ms", "max ms", "Rows"],
            [
                [
                    what[label],
                    str(len(ms)),
                    f"{percentile(ms, 50):.0f}",
                    f"{max(ms):.0f}",
                    f"{result.rows[label]:,}",
                ]
                for label, ms in result.timings.items()
            ],
        ),
        "",
        f"- Seed (not timed, {result.seed_s:.1f} s): {result.patients:,} patients,"
        f" {result.appointments:,} appointments (three past ones per patient on average over"
        " two years, 85% completed, 8% no-show, 7% cancelled; one future appointment per ten"
        " patients), 1% of the numbers on the do-not-call list, an SMS reminder sent for every"
        " second past appointment; `ANALYZE` run, as `elo db init` does not.",
        "- The choice walks the patients once and searches each one's appointments by"
        " `appointments_patient`/`appointments_patient_start` and the do-not-call keys"
        " (tests/storage/test_recalls.py checks the plan); the rows are the contacts written"
        f" (or counted). Each build is a new campaign; {runs} runs each.",
        "- Hashed do-not-call entries (erased people, 1 in 200 numbers here) add one HMAC-SHA256"
        " per candidate through a SQLite function.",
        "- Where the time goes: finding each patient's last completed visit reads that patient's"
        " appointment rows from the table (the index has no status or end); an index on"
        " `appointments(patient_id, status, ends_at)` would make it a covering search (a"
        " migration, left for later). A build adds writing every contact row and its four"
        " indexes. A recall is built by staff now and then, not on a request path.",
        "- The attendance figures look at every appointment starting in the range"
        " (`appointments_starts_at`) and its sent messages (`messages_appointment`); the rows"
        " are the appointments counted.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    """Run the benchmark; write docs/benchmarks.md unless ``--quick``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="5,000 patients; no doc update")
    args = parser.parse_args()
    patients, runs = (5_000, 2) if args.quick else (100_000, 5)
    with tempfile.TemporaryDirectory() as tmp:
        log(f"seeding {patients:,} patients")
        result = asyncio.run(run(Path(tmp) / "recall.db", patients, runs=runs))
    text = section(result, runs)
    print(text)
    publish(text, heading=HEADING, keep_doc=args.quick)


if __name__ == "__main__":
    main()
