"""The calls the benchmark makes, and timing them through the tool registry."""

from __future__ import annotations

import random
import sqlite3
import time
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench.common import (
    CHECK_DAYS,
    HORIZON_DAYS,
    NOW,
    GridCache,
    Series,
    pick_service,
    service_table,
)
from bench.seed import existing_phone, random_name
from config.clinic import ClinicProfile
from config.settings import AppSettings
from storage.timefmt import to_db
from tools.context import ToolContext
from tools.registry import ToolRegistry


def check_arguments(rng: random.Random, count: int) -> list[dict[str, str]]:
    """Days within the next 90 (open, closed, nearly full), some with a time, some a service."""
    calls = []
    for _ in range(count):
        day = NOW.date() + timedelta(days=rng.randrange(CHECK_DAYS))
        text = day.isoformat()
        if rng.random() < 0.3:
            text += f"T{rng.randrange(9, 18):02d}:{rng.choice((0, 30)):02d}"
        args = {"preferred_date": text}
        service = rng.choice(("", "", "checkup", "cleaning", "filling", "root_canal"))
        if service:
            args["service_type"] = service
        calls.append(args)
    return calls


class BookingPlanner:
    """Chooses bookings that will all succeed, from the chairs the database says are free.

    It mimics the store (first chair free for the whole appointment), so a plan replayed in order
    books every entry. Plans restricted to single-slot services succeed in any order, which the
    concurrent runs need.
    """

    def __init__(
        self, db_path: Path, clinic: ClinicProfile, grid: GridCache, settings: AppSettings
    ) -> None:
        self._clinic = clinic
        self._taken: dict[str, set[int]] = defaultdict(set)
        conn = sqlite3.connect(db_path)
        try:
            for slot_start, chair in conn.execute(
                "SELECT slot_start, chair FROM appointment_slots WHERE slot_start >= ?",
                (to_db(NOW),),
            ):
                self._taken[slot_start].add(chair)
        finally:
            conn.close()
        earliest = NOW + timedelta(minutes=settings.clinic.min_notice_minutes)
        latest = NOW + timedelta(days=settings.clinic.booking_horizon_days)
        self._candidates = [
            (local, utc, i)
            for offset in range(HORIZON_DAYS + 1)
            for local, utc in grid.day(NOW.date() + timedelta(days=offset))
            for i in range(len(local))
            if earliest <= local[i] <= latest
        ]
        self._new_phones = 0

    def plan(
        self, rng: random.Random, count: int, *, single_slot: bool = False
    ) -> list[dict[str, str]]:
        services = service_table(self._clinic, single_slot=single_slot)
        chairs = range(1, self._clinic.chairs + 1)
        candidates = self._candidates * self._clinic.chairs
        rng.shuffle(candidates)
        plans: list[dict[str, str]] = []
        for local, utc, i in candidates:
            if len(plans) == count:
                break
            service = pick_service(rng, services)
            if i + service.slots > len(local):
                continue
            span = utc[i : i + service.slots]
            busy = set().union(*(self._taken[s] for s in span))
            free = [c for c in chairs if c not in busy]
            if not free:
                continue
            for s in span:
                self._taken[s].add(free[0])
            plans.append(
                {
                    "patient_name": random_name(rng),
                    "preferred_date": local[i].strftime("%Y-%m-%dT%H:%M"),
                    "service_type": service.id,
                    "phone_number": self._phone(rng),
                }
            )
        if len(plans) < count:
            raise RuntimeError(f"only {len(plans)} free slots for {count} planned bookings")
        return plans

    def _phone(self, rng: random.Random) -> str:
        """Half returning patients (national format), half new ones (international)."""
        if rng.random() < 0.5:
            digits = existing_phone(rng.randint(1, 20_000))[6:]
            return f"069 {digits[:3]} {digits[3:]}"
        self._new_phones += 1
        digits = f"{2_000_000 + self._new_phones:07d}"
        return f"+355 68 {digits[:3]} {digits[3:]}"


@dataclass
class Outcomes:
    """How the calls ended."""

    counts: Counter[str] = field(default_factory=Counter)

    def add(self, result: dict[str, Any]) -> None:
        if result.get("status") == "booked":
            self.counts["booked"] += 1
        elif "error" in result:
            kind = "slot taken" if str(result["error"]).startswith("slot taken") else "error"
            self.counts[kind] += 1
        elif result.get("available") is True:
            self.counts["free slots listed"] += 1
        elif result.get("available") is False:
            self.counts["closed/full: nearest offered"] += 1
        else:
            self.counts["other"] += 1

    def merge(self, other: Mapping[str, int]) -> None:
        self.counts.update(other)

    def text(self) -> str:
        return ", ".join(f"{kind} {n:,}" for kind, n in sorted(self.counts.items())) or "none"


async def run_calls(
    registry: ToolRegistry,
    ctx: ToolContext,
    name: str,
    calls: Sequence[dict[str, str]],
    outcomes: Outcomes | None = None,
    series: dict[str, Series] | None = None,
    checkpoints: tuple[Path, list[bool]] | None = None,
) -> list[float]:
    """Call one tool for each argument set, timing each call end to end.

    ``series`` splits the times by answer ("free" or "nearest"). ``checkpoints`` (database file,
    flags) records, per call, whether the main database file was written: in WAL mode only a
    checkpoint writes it. It is read outside the timed span.
    """
    elapsed = []
    for args in calls:
        before = checkpoints[0].stat().st_mtime_ns if checkpoints else 0
        started = time.perf_counter()
        result = await registry.call(name, args, ctx)
        ms = (time.perf_counter() - started) * 1000
        elapsed.append(ms)
        if checkpoints:
            checkpoints[1].append(checkpoints[0].stat().st_mtime_ns != before)
        if outcomes is not None:
            outcomes.add(result)
        if series is not None:
            key = "free" if result.get("available") is True else "nearest"
            series[key].ms.append(ms)
        if "error" in result and not str(result["error"]).startswith("slot taken"):
            raise RuntimeError(f"{name} failed unexpectedly: {result['error']}")
    return elapsed
