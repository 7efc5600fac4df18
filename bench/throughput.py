"""The throughput phases: WRITERS concurrent writers booking a shared plan of single slots.

The writer processes are started with multiprocessing's spawn method, so their entry points
(``writer_process`` and what it calls) must stay module-level functions.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import queue
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import (
    PROFILE_PATH,
    WRITERS,
    fresh_copy,
    log,
    logged_settings,
    open_context,
    percentile,
)
from bench.workload import Outcomes, run_calls
from config.clinic import ClinicProfile, load_clinic_profile
from config.settings import AppSettings
from storage import Store
from tools.catalog import default_registry
from tools.context import ToolContext

Plan = list[dict[str, str]]


@dataclass
class ThroughputResult:
    label: str
    bookings: int
    outcomes: Outcomes
    wall_s: float
    ms: list[float]

    def row(self) -> list[str]:
        return [
            self.label,
            f"{self.bookings:,}",
            f"{self.outcomes.counts['booked']:,}",
            f"{self.wall_s:.2f}",
            f"{self.outcomes.counts['booked'] / self.wall_s:,.0f}",
            *(f"{percentile(self.ms, p):.2f}" for p in (50, 99)),
            f"{max(self.ms):.2f}",
        ]


async def _warm_context(
    db: Path, settings: AppSettings, clinic: ClinicProfile, call_id: str
) -> tuple[Store, ToolContext]:
    store, ctx = await open_context(db, settings, clinic, call_id)
    # One read-only call per context so imports and caches are warm before the clock starts.
    await default_registry().call("check_available_slots", {"preferred_date": "2026-12-02"}, ctx)
    return store, ctx


async def _writer(index: int, db: Path, log_file: Path, bookings: Plan, barrier) -> dict[str, Any]:
    clinic = load_clinic_profile(PROFILE_PATH)
    settings = logged_settings(db, log_file)
    store, ctx = await _warm_context(db, settings, clinic, f"bench-w{index}")
    try:
        registry = default_registry()
        barrier.wait(timeout=120)
        outcomes = Outcomes()
        started = time.perf_counter()
        ms = await run_calls(registry, ctx, "schedule_appointment", bookings, outcomes)
        finished = time.perf_counter()
    finally:
        await store.close()
    return {"started": started, "finished": finished, "ms": ms, "counts": dict(outcomes.counts)}


def writer_process(index: int, db: str, log_file: str, bookings: Plan, barrier, results) -> None:
    """One writer process: its own Store connection, booking its share of the plan."""
    try:
        outcome = asyncio.run(_writer(index, Path(db), Path(log_file), bookings, barrier))
        results.put((index, outcome))
    except BaseException as exc:
        results.put((index, {"error": repr(exc)}))
        raise


def processes_phase(work: Path, base: Path, plan: Plan) -> ThroughputResult:
    """WRITERS spawned processes start together on a barrier and book disjoint plans."""
    db = fresh_copy(work, base, "processes")
    spawn = mp.get_context("spawn")
    barrier = spawn.Barrier(WRITERS)
    results = spawn.Queue()
    workers = [
        spawn.Process(
            target=writer_process,
            args=(i, str(db), str(work / "logs" / f"writer{i}.jsonl"), plan[i::WRITERS]),
            kwargs={"barrier": barrier, "results": results},
        )
        for i in range(WRITERS)
    ]
    for worker in workers:
        worker.start()
    collected: list[tuple[int, dict[str, Any]]] = []
    try:
        while len(collected) < WRITERS:
            try:
                collected.append(results.get(timeout=1))
            except queue.Empty:
                done = {index for index, _ in collected}
                dead = [i for i, w in enumerate(workers) if i not in done and not w.is_alive()]
                if dead:
                    raise RuntimeError(f"writer process {dead[0]} died without a result") from None
            if any("error" in r for _, r in collected):
                failed = next(r for _, r in collected if "error" in r)
                raise RuntimeError(f"writer process failed: {failed['error']}")
    finally:
        for worker in workers:
            worker.join(timeout=30 if len(collected) == WRITERS else 0.1)
            if worker.is_alive():
                worker.terminate()
                worker.join()
    outcomes = Outcomes()
    ms: list[float] = []
    for _, r in collected:
        outcomes.merge(r["counts"])
        ms.extend(r["ms"])
    wall = max(r["finished"] for _, r in collected) - min(r["started"] for _, r in collected)
    return ThroughputResult(
        f"{WRITERS} processes, 1 connection each", len(plan), outcomes, wall, ms
    )


async def connections_phase(
    work: Path,
    base: Path,
    clinic: ClinicProfile,
    plan: Plan,
    *,
    writers: int,
    label: str,
    shared: bool = False,
) -> ThroughputResult:
    """``writers`` asyncio tasks in this process booking concurrently, each with its own Store
    connection, or all on one shared Store (whose lock queues the writes) when ``shared``."""
    name = f"{'shared' if shared else 'connections'}{writers}"
    db = fresh_copy(work, base, name)
    settings = logged_settings(db, work / "logs" / f"{name}.jsonl")
    opened = [
        await _warm_context(db, settings, clinic, f"bench-c{i}")
        for i in range(1 if shared else writers)
    ]
    contexts = [opened[0][1]] * writers if shared else [ctx for _, ctx in opened]
    registry = default_registry()
    try:
        outcome_list = [Outcomes() for _ in range(writers)]
        started = time.perf_counter()
        per_writer = await asyncio.gather(
            *(
                run_calls(registry, ctx, "schedule_appointment", plan[i::writers], outcome_list[i])
                for i, ctx in enumerate(contexts)
            )
        )
        wall = time.perf_counter() - started
    finally:
        for store, _ in opened:
            await store.close()
    outcomes = Outcomes()
    for o in outcome_list:
        outcomes.merge(o.counts)
    return ThroughputResult(label, len(plan), outcomes, wall, [m for ms in per_writer for m in ms])


# The in-process runs after the processes run: (progress note, table label, writers, shared).
IN_PROCESS_RUNS = (
    (
        f"{WRITERS} connections in one process",
        f"{WRITERS} connections in 1 process",
        WRITERS,
        False,
    ),
    (
        f"{WRITERS} tasks sharing one connection",
        f"{WRITERS} tasks sharing 1 connection",
        WRITERS,
        True,
    ),
    ("1 connection, sequential", "1 connection (sequential)", 1, False),
)


def throughput_phases(
    work: Path, base: Path, clinic: ClinicProfile, plan: Plan
) -> list[ThroughputResult]:
    """The same plan, each run on a fresh copy of ``base``: processes, then in-process runs."""
    log(f"throughput: {WRITERS} processes x {len(plan) // WRITERS} bookings ...")
    results = [processes_phase(work, base, plan)]
    for note, label, writers, shared in IN_PROCESS_RUNS:
        log(f"throughput: {note} ...")
        results.append(
            asyncio.run(
                connections_phase(
                    work, base, clinic, plan, writers=writers, label=label, shared=shared
                )
            )
        )
    return results
