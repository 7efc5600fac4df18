"""The backends benchmark's markdown section (see bench/backends_bench.py)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field

from bench.backends_plan import PlanTiming
from bench.backends_work import RunResult
from bench.common import percentile, table

BOOKING_GOAL_MS = 10.0
PLAN_GOAL_MS = 1000.0


@dataclass
class Results:
    """Everything the report shows."""

    booking: list[tuple[RunResult, dict[str, int]]] = field(default_factory=list)
    claims: list[tuple[str, RunResult, dict[str, int]]] = field(default_factory=list)
    planning: list[PlanTiming] = field(default_factory=list)
    seeded: dict[str, int] = field(default_factory=dict)
    seed_s: dict[str, float] = field(default_factory=dict)
    explain: str = ""
    booking_path: str = ""
    failures: list[str] = field(default_factory=list)
    round_trip_ms: dict[str, float] = field(default_factory=dict)
    settings: dict[str, str] = field(default_factory=dict)


def _met(ok: bool) -> str:
    return "yes" if ok else "**no**"


def _booking(out: Results) -> list[str]:
    rows = []
    for run, check in out.booking:
        distinct = check["distinct_slots"] == check["slots"] == check["appointments"]
        rows.append(
            [
                run.label,
                str(run.processes),
                f"{run.counts['booked']:,}",
                f"{run.counts['slot_taken']:,}",
                *run.stats(),
                f"{run.rate('booked'):,.0f}",
                "yes" if distinct else "**no**",
            ]
        )
    return [
        table(
            [
                "Run",
                "Writers",
                "Booked",
                "Slot taken",
                "p50 ms",
                "p99 ms",
                "max ms",
                "Bookings/s",
                "All distinct",
            ],
            rows,
        )
    ]


def _claims(out: Results) -> list[str]:
    rows = []
    for label, run, check in out.claims:
        skipped = {k: v for k, v in run.counts.items() if k != "claimed"}
        rows.append(
            [
                label,
                str(run.processes),
                f"{run.counts['claimed']:,}",
                f"{run.rate('claimed'):,.0f}",
                *run.stats(),
                ", ".join(f"{k} {v}" for k, v in sorted(skipped.items())) or "none",
                str(check["most_attempts"]),
                str(check["left"]),
            ]
        )
    return [
        table(
            [
                "Engine",
                "Processes",
                "Claimed",
                "Claims/s",
                "claim p50 ms",
                "claim p99 ms",
                "claim max ms",
                "Skipped claims",
                "Most attempts per contact",
                "Left queued",
            ],
            rows,
        )
    ]


def _planning(out: Results) -> list[str]:
    rows = [
        [
            t.engine,
            t.label,
            str(len(t.ms)),
            f"{percentile(t.ms, 50):.1f}",
            f"{max(t.ms):.1f}",
            t.returned,
            _met(max(t.ms) < PLAN_GOAL_MS) if t.label.startswith("plan_batch") else "",
        ]
        for t in out.planning
    ]
    return [
        table(["Engine", "Call", "Runs", "p50 ms", "max ms", "Returned", "< 1 s"], rows),
    ]


def _run(out: Results, label: str) -> RunResult | None:
    return next((run for run, _ in out.booking if run.label == label), None)


def _p(run: RunResult | None, pct: float) -> float:
    return percentile(run.ms, pct) if run else float("nan")


def targets(out: Results) -> list[str]:
    """The issue's goals against this run."""
    rows = []
    for label in ("PostgreSQL", "PostgreSQL, paced"):
        run = _run(out, label)
        if run:
            p99 = _p(run, 99)
            rows.append(
                [f"Booking p99, 8 writers ({label})", "< 10 ms", f"{p99:.1f} ms", _met(p99 < 10)]
            )
    for engine in ("SQLite", "PostgreSQL"):
        plans = [t for t in out.planning if t.engine == engine and t.label.startswith("plan_")]
        if plans:
            worst = max(max(t.ms) for t in plans)
            rows.append(
                [
                    f"Plan the next batch, {out.seeded.get('contacts', 0):,} contacts ({engine})",
                    "< 1 s",
                    f"{worst:.0f} ms (slowest plan_batch)",
                    _met(worst < PLAN_GOAL_MS),
                ]
            )
    return [table(["Target", "Goal", "Measured", "Met"], rows)] if rows else []


def reading(out: Results) -> list[str]:
    """What the numbers mean, with this run's figures."""
    lines = []
    lite, pg, durable = (_run(out, x) for x in ("SQLite", "PostgreSQL", "PostgreSQL durable"))
    single = _run(out, "PostgreSQL, 1 writer")
    if lite and pg:
        lines.append(
            f"- Booking, back to back: SQLite's median is low ({_p(lite, 50):.1f} ms) and its"
            f" tail long (p99 {_p(lite, 99):.0f} ms, max {max(lite.ms):.0f} ms): a writer that"
            " finds the lock taken sleeps in the busy handler with growing back-off while the"
            " winner books again. PostgreSQL "
            + (
                "runs the bookings side by side (no one-writer lock; the slot key and the"
                " exclusion constraint refuse overlaps)"
                if "exclusive=False" in out.booking_path
                else "serves writers in turn (the advisory lock queues them)"
            )
            + f": median {_p(pg, 50):.1f} ms, p99 {_p(pg, 99):.0f} ms,"
            f" max {max(pg.ms):.0f} ms. "
            + (
                "Neither is under 10 ms at p99 here: 8 writers saturate the cores, and a"
                " booking waits for the ones ahead of it."
                if min(_p(lite, 99), _p(pg, 99)) >= BOOKING_GOAL_MS
                else "Under saturation a booking waits for the ones ahead of it."
            )
        )
    if single:
        trip = out.round_trip_ms.get("PostgreSQL", float("nan"))
        lines.append(
            f"- One PostgreSQL booking alone takes {_p(single, 50):.1f} ms at p50"
            f" (SQLite {_p(_run(out, 'SQLite, 1 writer'), 50):.1f} ms); one round trip costs"
            f" {trip:.2f} ms (SQLite {out.round_trip_ms.get('SQLite', float('nan')):.2f} ms) and"
            " each of the booking's 9 statements (BEGIN, free chairs, patient, appointment,"
            " slots, two outbox inserts, the day's counters, COMMIT) is one, beside the Python"
            " work of both ends on the same 2 cores. Back to back, 8 writers saturate the"
            " cores: a p99 under 10 ms there needs less work per booking or more cores."
        )
    free = _run(out, "PostgreSQL, what-if exclusive=False")
    if free and pg:
        lines.append(
            f"- Without the one-writer lock (what-if) PostgreSQL booked {free.rate('booked'):,.0f}"
            f"/s against {pg.rate('booked'):,.0f}/s with it, p99 {_p(free, 99):.0f} ms against"
            f" {_p(pg, 99):.0f} ms: bookings of different slots then overlap on the server"
            " instead of queueing for the lock; the constraints still refuse any overlap."
        )
    alone = _run(out, "PostgreSQL durable, 1 writer")
    if durable and pg:
        lines.append(
            f"- With fsync on, PostgreSQL's p50 is {_p(durable, 50):.1f} ms against"
            f" {_p(pg, 50):.1f} ms without (1 writer: {_p(alone, 50):.1f} against"
            f" {_p(single, 50):.1f} ms). Each of its commits waits for the WAL flush, which"
            " SQLite with `synchronous = NORMAL` does not do (it syncs at checkpoints), so the"
            " durable row is the stricter of the two"
            + (
                "; here the flush cost less than the load's noise."
                if _p(durable, 50) <= _p(pg, 50)
                else "."
            )
        )
    if out.claims:
        rates = "; ".join(
            f"{label} {run.processes}: {run.rate('claimed'):,.0f}/s" for label, run, _ in out.claims
        )
        most = max(check["most_attempts"] for _, _, check in out.claims)
        left = sum(check["left"] for _, _, check in out.claims)
        lost = "; ".join(
            f"{label} with {run.processes} processes lost"
            f" {sum(v for k, v in run.counts.items() if k != 'claimed'):,}"
            f" claims for {run.counts['claimed']:,} won"
            for label, run, _ in out.claims
            if run.processes == max(r.processes for x, r, _ in out.claims if x == label)
        )
        lines.append(
            f"- Claims per second by processes: {rates}. Every claim and every completion is"
            " a write transaction under the one-writer lock (SQLite's, or PostgreSQL's"
            " advisory lock), so extra processes can only overlap the work outside it."
            " Processes that plan the same contacts race for them, and each lost claim"
            f" (`not_queued`, `in_call`) is a wasted write transaction: {lost}. The slower a"
            " claim, the more the batches overlap and the more claims are lost. PostgreSQL"
            " reads the contact `FOR UPDATE SKIP LOCKED`, but a claim also holds the shared"
            " one-writer lock, so the races remain; giving each runner its own slice of the"
            " batch would end them."
            f" Most attempts any contact got: {most}"
            + (" (no double claim)" if most == 1 else " (**a contact was claimed twice**)")
            + f"; contacts left queued after the runs: {left}."
        )
    pg_plans = [t for t in out.planning if t.engine == "PostgreSQL"]
    if pg_plans:
        lines.append(
            "- Planning on PostgreSQL: `CampaignQueue.zones` walks the zones index one"
            " (time zone, country) pair at a time, a loose index scan"
            " (`storage/dialect.queued_zones_sql`): PostgreSQL before 18 has no index skip"
            " scan, and `SELECT DISTINCT` read every queued contact (283 ms for a million before"
            " this query). SQLite skips through the same index by itself. The due-contacts"
            " query is an index scan that stops after the batch (EXPLAIN ANALYZE below)."
        )
    return lines


def section(
    heading: str,
    host: dict[str, str],
    load: tuple[tuple[float, float, float], tuple[float, float, float]],
    out: Results,
    args: argparse.Namespace,
    total_s: float,
) -> str:
    """The markdown section for docs/benchmarks.md."""
    before, after = load
    lines = [
        heading,
        "",
        f"Measured {host['date']} with `make bench-backends` (`python -m bench.backends_bench"
        f"{' --quick' if args.quick else ''}`, {total_s:.0f} s in all) on:",
        "",
        f"- CPU: {host['cpu']}, {host['cores']}; RAM {host.get('ram', '?')}",
        f"- {host['os']}; SQLite files and PostgreSQL clusters in /tmp on {host.get('fs', '?')}",
        f"- Python {host['python']}, SQLite {host['sqlite']}, aiosqlite {host['aiosqlite']},"
        f" PostgreSQL {host.get('postgresql', '?')}, asyncpg {host.get('asyncpg', '?')}",
        f"- Load average {before[0]:.2f} / {before[1]:.2f} / {before[2]:.2f} (1/5/15 min)"
        f" before and {after[0]:.2f} / {after[1]:.2f} / {after[2]:.2f} after the run: the"
        " machine is shared, other work inflates the tails",
        "- PostgreSQL clusters: "
        + "; ".join(f"{label}: {text}" for label, text in out.settings.items())
        + ". The plain cluster is the tests' throwaway one (no fsync: a commit never waits"
        " for the disk); the durable one keeps PostgreSQL's defaults and is used for the"
        " booking case only. SQLite runs in WAL mode with `synchronous = NORMAL` (a commit does"
        " not fsync either; a checkpoint does).",
        "",
    ]
    if targets(out):
        lines += ["### Targets", "", *targets(out), ""]
    if out.booking:
        offered = 8000 / args.pace_ms if args.pace_ms else 0.0
        lines += [
            f"### Booking, {args.bookings:,} bookings per writer process",
            "",
            f"Booking path: `store.appointments.book`, which takes `{out.booking_path}` (on"
            " PostgreSQL, `exclusive=False` means no shared one-writer advisory lock: the slot"
            " key and the exclusion constraint refuse overlaps; SQLite always has one writer)."
            f" Goal: p99 under {BOOKING_GOAL_MS:.0f} ms on PostgreSQL."
            + (
                ""
                if "exclusive=False" in out.booking_path
                else " A *what-if* row forces `transaction(exclusive=False)` in the writers:"
                " what the booking path would give without the lock, not what it does today."
            ),
            "",
            "Rows without *paced*: every writer books back to back, so the run shows the"
            " capacity on this machine, and (Little's law) the mean latency is 8 / bookings"
            " per second, whatever the engine: on 2 cores the 8 writers and the server queue"
            " for the CPU. *Paced* rows: each writer's bookings arrive at random (Poisson),"
            f" on average every {args.pace_ms:.0f} ms ({offered:.0f}"
            " bookings/s offered in all), below capacity, so the latency is one booking's"
            " work plus waiting for the writers that arrived at the same time. *1 writer*"
            " rows: one process booking back to back, no contention at all.",
            "",
            "One round trip through the Store (`SELECT 1`, p50): "
            + ", ".join(f"{k} {v:.2f} ms" for k, v in out.round_trip_ms.items())
            + ". SQLite's is a hop to aiosqlite's thread; PostgreSQL's a TCP exchange with"
            " the server process on 127.0.0.1, and every statement of a booking's transaction"
            " (BEGIN, reads, inserts, COMMIT) is one.",
            "",
            *_booking(out),
            "",
        ]
    if out.claims:
        lines += [
            f"### Claims, one campaign of {args.claim_contacts:,} contacts drained by 1, 2 and 4"
            " processes",
            "",
            *_claims(out),
            "",
        ]
    if out.planning:
        seeded = out.seeded
        lines += [
            f"### Planning the next batch, {seeded.get('contacts', 0):,} contacts",
            "",
            *_planning(out),
            "",
            f"Seeded (set-up, not timed): {seeded.get('contacts', 0):,} contacts,"
            f" {seeded.get('attempts', 0):,} finished attempts, {seeded.get('dnc', 0):,}"
            " numbers on the do-not-call list; loading took "
            + ", ".join(f"{k} {v:.1f} s" for k, v in out.seed_s.items())
            + " (SQLite `executemany` in one transaction per chunk, PostgreSQL COPY), then"
            " ANALYZE.",
            "",
        ]
        if out.explain:
            lines += [
                "EXPLAIN ANALYZE of plan_batch's queries on PostgreSQL:",
                "",
                "```",
                out.explain,
                "```",
                "",
            ]
    if reading(out):
        lines += ["### Reading the numbers", "", *reading(out), ""]
    if out.failures:
        lines += [
            "### Not measured: repository methods that failed on an engine",
            "",
            *(f"- {line}" for line in out.failures),
            "",
        ]
    lines += [
        "### Method",
        "",
        "- Re-run: `python -m bench.backends_bench` (`--quick` for a small run that leaves this"
        " file alone; `--skip booking,claims,planning` to leave cases out). It starts its own"
        " PostgreSQL clusters from Debian's binaries on 127.0.0.1 (devtools/postgres.py) and"
        " deletes them and the SQLite files at the end.",
        "- Every worker is a separate process (multiprocessing spawn) with its own `Store`"
        " (PostgreSQL: a pool of at most 2 connections), opened and warmed with one untimed call"
        " before a barrier; wall time runs from the first worker's start to the last one's"
        " finish. Times are `time.perf_counter()` around each call; percentiles nearest-rank.",
        "- Booking: each writer books its own distinct free grid slots (single-slot service,"
        " a new patient per booking) through `store.appointments.book`; afterwards the"
        " appointments, their `appointment_slots` rows and the distinct (slot, chair) pairs"
        " must all be equal.",
        "- Claims: each process repeatedly reads the due contacts (`store.queue.due_contacts`,"
        " 20 at a time, shuffled per process), claims each (`claim_contact`, no attempt"
        " policy, caps far away) and completes the attempt at once (`complete_attempt`,"
        " declined, contact done) until nothing is due. A claim lost to another process is"
        " counted by its reason. Claims/s = attempts opened / wall time; latency is"
        " `claim_contact` alone. Afterwards no contact may have more than one attempt and none"
        " may be left queued.",
        "- Planning: `plan_batch` (the zone list, then the due-contacts query with the zones"
        " whose calling window is open: Albania, Italy, Germany and New York at 17:00 Tirana"
        " time) and `next_wake`, through the Store on each engine, after one warm-up call.",
        "",
    ]
    return "\n".join(lines)
