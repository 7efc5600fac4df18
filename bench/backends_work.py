"""The backends benchmark's writer processes: booking appointments and claiming campaign contacts.

Each worker is a separate process (multiprocessing spawn) with its own :class:`storage.Store`,
so SQLite writers meet in SQLite's busy handler and PostgreSQL writers in the server, as separate
``elo`` processes would. Workers open their store and make one untimed warm-up call, wait on a
barrier, then do their share; the entry points must stay module-level functions (spawn).
"""

from __future__ import annotations

import asyncio
import functools
import multiprocessing as mp
import queue
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bench.common import NOW, PROFILE_PATH, GridCache, fixed_clock, percentile, service_table
from config.clinic import load_clinic_profile
from storage import Booked, NewContact, Store

TIRANE = ZoneInfo("Europe/Tirane")
# PostgreSQL stores need the privacy hash key (no key file); SQLite ones take it too.
HASH_KEY = "bench-hash-key-" + "0" * 18
BARRIER_TIMEOUT_S = 300
# Contacts a claimer plans per round, as the runner plans a batch before claiming.
CLAIM_BATCH = 20


async def open_store(url: str, *, pool_size: int = 2) -> Store:
    """A store on ``url`` on the benchmark's fixed clock (PostgreSQL: a small pool)."""
    return await Store.open(
        url, tz=TIRANE, clock=fixed_clock, hash_key=HASH_KEY, pool_size=pool_size
    )


@dataclass
class RunResult:
    """One multi-process run: per-operation latencies, counts and the wall time."""

    label: str
    processes: int
    ms: list[float] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    wall_s: float = 0.0

    def rate(self, key: str) -> float:
        """Operations of kind ``key`` per second of wall time."""
        return self.counts[key] / self.wall_s if self.wall_s else 0.0

    def stats(self) -> list[str]:
        """p50, p99 and max in ms, formatted."""
        values = [percentile(self.ms, p) for p in (50, 99)] + [max(self.ms, default=0.0)]
        return [f"{v:.2f}" for v in values]


def run_processes(
    label: str, target: Callable[..., None], shares: list[tuple[Any, ...]]
) -> RunResult:
    """Start one spawned process per share, wait for all results, merge them.

    Each process gets ``(index, *share, barrier, results)`` and puts ``(index, dict)`` on
    ``results``: ``{"ms": [...], "counts": {...}, "started": s, "finished": s}`` or
    ``{"error": text}``. Wall time runs from the first start to the last finish
    (``perf_counter`` is the system-wide monotonic clock on Linux).
    """
    spawn = mp.get_context("spawn")
    barrier = spawn.Barrier(len(shares))
    results = spawn.Queue()
    workers = [
        spawn.Process(target=target, args=(i, *share, barrier, results))
        for i, share in enumerate(shares)
    ]
    for worker in workers:
        worker.start()
    collected: dict[int, dict[str, Any]] = {}
    try:
        while len(collected) < len(workers):
            try:
                index, outcome = results.get(timeout=1)
            except queue.Empty:
                dead = [i for i, w in enumerate(workers) if i not in collected and not w.is_alive()]
                if dead:
                    raise RuntimeError(
                        f"{label}: process {dead[0]} died without a result"
                    ) from None
                continue
            if "error" in outcome:
                raise RuntimeError(f"{label}: process {index} failed: {outcome['error']}")
            collected[index] = outcome
    finally:
        for worker in workers:
            worker.join(timeout=30)
            if worker.is_alive():
                worker.kill()
    run = RunResult(label, len(workers))
    for outcome in collected.values():
        run.ms.extend(outcome["ms"])
        run.counts.update(outcome["counts"])
    run.wall_s = max(o["finished"] for o in collected.values()) - min(
        o["started"] for o in collected.values()
    )
    return run


def _entry(work: Callable[..., Any], index: int, args: tuple[Any, ...], results: Any) -> None:
    try:
        results.put((index, asyncio.run(work(index, *args))))
    except Exception as exc:
        results.put((index, {"error": f"{type(exc).__name__}: {exc}".splitlines()[0]}))


# --- booking ------------------------------------------------------------------------------------


def booking_slots(count: int) -> list[str]:
    """``count`` distinct grid slots (ISO text) inside opening hours, from the day after NOW."""
    grid = GridCache(load_clinic_profile(PROFILE_PATH))
    day, slots = NOW.date() + timedelta(days=1), []
    while len(slots) < count:
        for local, _ in grid.day(day):
            slots.extend(moment.isoformat() for moment in local)
        day += timedelta(days=1)
    return slots[:count]


async def _book(
    index: int, url: str, slots: list[str], shared: bool, pace_ms: float, barrier: Any
) -> dict[str, Any]:
    clinic = load_clinic_profile(PROFILE_PATH)
    service = service_table(clinic, single_slot=True)[0]
    store = await open_store(url)
    if shared:
        # What-if (PostgreSQL): the booking's write transaction without the one-writer lock,
        # leaving overlaps to the slot key and the exclusion constraint.
        store.db.transaction = functools.partial(store.db.transaction, exclusive=False)  # type: ignore[method-assign]

    async def book(k: int, text: str) -> bool:
        start = datetime.fromisoformat(text)
        result = await store.appointments.book(
            phone=f"+35569{index}{k:06d}",
            name=f"Patient {index}-{k}",
            service_id=service.id,
            starts_at=start,
            ends_at=start + clinic.slot,
            slot=clinic.slot,
            chairs=clinic.chairs,
            price_lek=service.price_lek,
            source="agent",
        )
        return isinstance(result, Booked)

    try:
        await book(0, slots[0])  # warm-up: connection, statement caches; not timed
        barrier.wait(timeout=BARRIER_TIMEOUT_S)
        ms, counts = [], Counter[str]()
        started = time.perf_counter()
        arrivals = random.Random(index)
        due = started
        for k, text in enumerate(slots[1:], start=1):
            if pace_ms:
                # Random (Poisson) arrivals at a mean of one per pace_ms per writer.
                due += arrivals.expovariate(1000 / pace_ms)
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
            began = time.perf_counter()
            booked = await book(k, text)
            ms.append((time.perf_counter() - began) * 1000)
            counts["booked" if booked else "slot_taken"] += 1
        finished = time.perf_counter()
    finally:
        await store.close()
    return {"ms": ms, "counts": dict(counts), "started": started, "finished": finished}


def book_process(
    index: int,
    url: str,
    slots: list[str],
    shared: bool,
    pace_ms: float,
    barrier: Any,
    results: Any,
) -> None:
    """A booking writer: books each of its slots (the first one untimed) through the Store."""
    _entry(_book, index, (url, slots, shared, pace_ms, barrier), results)


def booking_run(
    label: str,
    url: str,
    writers: int,
    per_writer: int,
    *,
    shared: bool = False,
    pace_ms: float = 0.0,
) -> RunResult:
    """``writers`` processes each book ``per_writer`` distinct free slots (plus one warm-up).

    Args:
        label: The run's name in the report.
        url: The database.
        writers: Writer processes.
        per_writer: Timed bookings per writer.
        shared: Force ``transaction(exclusive=False)`` in the writers (a what-if on
            PostgreSQL).
        pace_ms: 0: each writer books back to back (saturation); otherwise each writer's
            bookings arrive at random with this mean interval.
    """
    slots = booking_slots(writers * (per_writer + 1))
    shares = [(url, slots[i::writers], shared, pace_ms) for i in range(writers)]
    return run_processes(label, book_process, shares)


async def round_trip_ms(url: str, count: int = 200) -> float:
    """The median time of ``SELECT 1`` through the Store: one round trip to the database."""
    store = await open_store(url, pool_size=1)
    try:
        await store.db.rows("SELECT 1")
        ms = []
        for _ in range(count):
            began = time.perf_counter()
            await store.db.rows("SELECT 1")
            ms.append((time.perf_counter() - began) * 1000)
    finally:
        await store.close()
    return percentile(ms, 50)


async def booking_check(url: str) -> dict[str, int]:
    """Appointments, distinct (slot, chair) pairs and slot rows after a booking run."""
    store = await open_store(url, pool_size=1)
    try:
        (row,) = await store.db.rows(
            "SELECT count(*) AS slots,"
            " count(DISTINCT slot_start || '/' || chair) AS distinct_slots,"
            " (SELECT count(*) FROM appointments) AS appointments FROM appointment_slots"
        )
    finally:
        await store.close()
    return {key: int(row[key]) for key in ("appointments", "slots", "distinct_slots")}


# --- claims -------------------------------------------------------------------------------------


async def _claim(index: int, url: str, campaign_id: int, barrier: Any) -> dict[str, Any]:
    store = await open_store(url)
    rng = random.Random(index)
    ms, counts = [], Counter[str]()

    async def claim_and_finish(contact_id: int) -> None:
        call_id = uuid.uuid4().hex
        began = time.perf_counter()
        claim = await store.queue.claim_contact(
            contact_id=contact_id,
            room=f"elo-{call_id[:16]}",
            call_id=call_id,
            campaign_cap=10_000,
            global_cap=10_000,
            max_attempts=4,
            policy=lambda attempts, refusals: None,
            history_since=NOW - timedelta(days=60),
        )
        if claim.attempt is None:
            counts[claim.skipped or "deferred"] += 1
            return
        ms.append((time.perf_counter() - began) * 1000)
        counts["claimed"] += 1
        # The callee declines at once: the attempt ends and the contact is done.
        await store.queue.complete_attempt(
            attempt_id=claim.attempt.id,
            outcome="declined",
            sip_status=None,
            duration_s=0,
            next_call_at=None,
            done_reason="declined",
        )

    try:
        await store.queue.count_queued(campaign_id=campaign_id)  # warm-up
        barrier.wait(timeout=BARRIER_TIMEOUT_S)
        started = time.perf_counter()
        while True:
            # Plan a batch as the runner does, then claim it; shuffled so that processes do
            # not all race for the same first contact.
            due = await store.queue.due_contacts(
                campaign_id=campaign_id, now=NOW, zones=None, limit=CLAIM_BATCH
            )
            if not due:
                break
            rng.shuffle(due)
            for contact in due:
                await claim_and_finish(contact.id)
        finished = time.perf_counter()
    finally:
        await store.close()
    return {"ms": ms, "counts": dict(counts), "started": started, "finished": finished}


def claim_process(index: int, url: str, campaign_id: int, barrier: Any, results: Any) -> None:
    """A runner stand-in: plans, claims and completes until the campaign is drained."""
    _entry(_claim, index, (url, campaign_id, barrier), results)


async def seed_campaign(url: str, contacts: int) -> int:
    """A campaign with ``contacts`` queued contacts (set-up, not timed); returns its id."""
    store = await open_store(url, pool_size=1)
    try:
        campaign = await store.campaigns.create(name="Claims", purpose="recall")
        await store.campaigns.add_contacts(
            campaign_id=campaign.id,
            contacts=[NewContact(phone=f"+35568{n:07d}", name=f"C {n}") for n in range(contacts)],
        )
    finally:
        await store.close()
    return campaign.id


async def claims_check(url: str, campaign_id: int) -> dict[str, int]:
    """Attempts per contact after a run: the most any contact got, and contacts left queued."""
    store = await open_store(url, pool_size=1)
    try:
        (row,) = await store.db.rows(
            "SELECT coalesce(max(n), 0) AS most, count(*) AS attempted FROM"
            " (SELECT contact_id, count(*) AS n FROM call_attempts WHERE campaign_id = ?"
            "  GROUP BY contact_id) AS per_contact",
            (campaign_id,),
        )
        left = await store.queue.count_queued(campaign_id=campaign_id)
    finally:
        await store.close()
    return {"most_attempts": int(row["most"]), "attempted": int(row["attempted"]), "left": left}


def claims_run(label: str, url: str, campaign_id: int, processes: int) -> RunResult:
    """``processes`` claimers drain campaign ``campaign_id``."""
    return run_processes(label, claim_process, [(url, campaign_id)] * processes)
