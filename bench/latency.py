"""The latency phase: p50/p99 of the tools, sequential calls on one connection."""

from __future__ import annotations

import cProfile
import io
import pstats
import random
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from bench.common import (
    CHECK_DAYS,
    NOW,
    GridCache,
    Series,
    fresh_copy,
    logged_settings,
    open_context,
)
from bench.workload import BookingPlanner, Outcomes, check_arguments, run_calls
from config.clinic import ClinicProfile
from storage import Store
from storage.timefmt import to_db
from tools.catalog import default_registry
from tools.context import ToolContext
from tools.registry import ToolRegistry


@dataclass
class LatencyResult:
    check: Series
    check_free: Series
    check_nearest: Series
    schedule: Series
    schedule_checkpoint: Series
    schedule_plain: Series
    occupancy_store: Series
    occupancy_sqlite: Series
    round_trip: Series
    hops: dict[str, float]
    check_outcomes: Outcomes
    schedule_outcomes: Outcomes
    profile_text: str = ""


async def latency_phase(
    work: Path,
    base: Path,
    clinic: ClinicProfile,
    grid: GridCache,
    rng: random.Random,
    *,
    calls: int,
    warmup: int,
    profile: bool,
) -> LatencyResult:
    """Sequential calls on one connection: N checks, then N bookings."""
    db = fresh_copy(work, base, "latency")
    settings = logged_settings(db, work / "logs" / "latency.jsonl")
    store, ctx = await open_context(db, settings, clinic, "bench")
    try:
        registry = default_registry()
        checks = check_arguments(rng, warmup + calls)
        bookings = BookingPlanner(db, clinic, grid, settings).plan(rng, warmup + calls)

        await run_calls(registry, ctx, "check_available_slots", checks[:warmup])
        await run_calls(registry, ctx, "schedule_appointment", bookings[:warmup])

        profiler = cProfile.Profile() if profile else None
        if profiler:
            profiler.enable()
        split = {
            "free": Series("  of which: day with free slots"),
            "nearest": Series("  of which: closed/full day, nearest search"),
        }
        check_outcomes = Outcomes()
        check = Series("check_available_slots")
        check.ms = await run_calls(
            registry, ctx, "check_available_slots", checks[warmup:], check_outcomes, split
        )
        schedule_outcomes = Outcomes()
        schedule = Series("schedule_appointment")
        flags: list[bool] = []
        schedule.ms = await run_calls(
            registry,
            ctx,
            "schedule_appointment",
            bookings[warmup:],
            schedule_outcomes,
            checkpoints=(db, flags),
        )
        if profiler:
            profiler.disable()
        timed = list(zip(schedule.ms, flags, strict=True))
        schedule_checkpoint = Series(
            "  of which: commit ran a WAL checkpoint", [ms for ms, hit in timed if hit]
        )
        schedule_plain = Series("  of which: no checkpoint", [ms for ms, hit in timed if not hit])

        # What the storage part of a check costs: one opening day of occupancy, through the store
        # (aiosqlite thread hop and row parsing) and through the sqlite3 module directly.
        days = [NOW.date() + timedelta(days=rng.randrange(CHECK_DAYS)) for _ in range(calls)]
        windows = [
            (day_grid[0][0][0], day_grid[-1][0][-1] + clinic.slot)
            for day_grid in map(grid.day, days)
            if day_grid
        ]
        occupancy_store = Series("AppointmentRepository.occupancy, one opening day")
        for start, end in windows:
            started = time.perf_counter()
            await store.appointments.occupancy(start=start, end=end)
            occupancy_store.ms.append((time.perf_counter() - started) * 1000)
        occupancy_sqlite = Series("same query via sqlite3 directly")
        raw = sqlite3.connect(db)
        try:
            for start, end in windows:
                started = time.perf_counter()
                raw.execute(
                    "SELECT slot_start, chair FROM appointment_slots"
                    " WHERE slot_start >= ? AND slot_start < ?",
                    (to_db(start), to_db(end)),
                ).fetchall()
                occupancy_sqlite.ms.append((time.perf_counter() - started) * 1000)
        finally:
            raw.close()

        # The fixed cost of every statement: one round trip to aiosqlite's connection thread.
        round_trip = Series("aiosqlite round trip (`SELECT 1`)")
        for _ in range(calls):
            started = time.perf_counter()
            await store.db.conn.execute_fetchall("SELECT 1")
            round_trip.ms.append((time.perf_counter() - started) * 1000)
        extra = BookingPlanner(db, clinic, grid, settings).plan(rng, 200)
        hops = await count_round_trips(store, registry, ctx, checks[:200], extra)
    finally:
        await store.close()

    return LatencyResult(
        check=check,
        check_free=split["free"],
        check_nearest=split["nearest"],
        schedule=schedule,
        schedule_checkpoint=schedule_checkpoint,
        schedule_plain=schedule_plain,
        occupancy_store=occupancy_store,
        occupancy_sqlite=occupancy_sqlite,
        round_trip=round_trip,
        hops=hops,
        check_outcomes=check_outcomes,
        schedule_outcomes=schedule_outcomes,
        profile_text=profile_summary(profiler) if profiler else "",
    )


def profile_summary(profiler: cProfile.Profile) -> str:
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(25)
    stats.sort_stats("cumulative").print_stats(40)
    return out.getvalue()


async def count_round_trips(
    store: Store,
    registry: ToolRegistry,
    ctx: ToolContext,
    checks: Sequence[dict[str, str]],
    bookings: Sequence[dict[str, str]],
) -> dict[str, float]:
    """Mean round trips to the connection thread per call (untimed: the counter wraps them)."""
    conn = store.db.conn
    original = conn._execute
    count = 0

    async def counting(fn, *args, **kwargs):
        nonlocal count
        count += 1
        return await original(fn, *args, **kwargs)

    conn._execute = counting  # type: ignore[method-assign]
    try:
        means = {}
        for name, calls in (("check_available_slots", checks), ("schedule_appointment", bookings)):
            if calls:
                count = 0
                await run_calls(registry, ctx, name, calls)
                means[name] = count / len(calls)
        return means
    finally:
        del conn._execute  # back to the class's method
