"""Many bookings of one slot at once, through the real tool: exactly as many winners as chairs.

The issue asks for 50 concurrent bookings of one slot from separate connections and again from
separate processes; the losers must get the "slot taken" answer with alternatives. Each runs on
SQLite (writers queue on the file's lock) and on PostgreSQL (bookings run side by side and the
constraints pick the winner: the slot key, the chair/start index, the exclusion constraint).
"""

from __future__ import annotations

import asyncio
import itertools
import multiprocessing
import os
import queue
import sqlite3
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio

from config.clinic import ClinicProfile
from config.settings import load_settings
from storage import Store
from storage.appointments import is_slot_conflict
from tests.conftest import DEFAULT_NOW, SAMPLE_PROFILE, TIRANE, FixedClock
from tools.catalog import default_registry
from tools.context import ToolContext
from tools.registry import ToolRegistry

# Wednesday 2 December 2026 10:00, a free 30-minute check-up slot the day after "now".
SLOT_TEXT = "2026-12-02T10:00"
SLOT_START = datetime(2026, 12, 2, 10, 0, tzinfo=TIRANE)
# Generous: on a loaded 2-core machine 50 writers may queue for a while, but never fail.
BUSY_TIMEOUT_MS = 30_000
PROCESSES = 50


def booking_args(n: int) -> dict[str, str]:
    """The same slot and service for everyone; a different patient each time."""
    return {
        "patient_name": "Arta Hoxha",
        "preferred_date": SLOT_TEXT,
        "service_type": "checkup",
        "phone_number": f"+35569{n:07d}",
    }


def assert_outcomes(results: list[dict[str, Any]], winners: int) -> None:
    """Exactly ``winners`` bookings; every other result is the taken answer with alternatives."""
    booked = [r for r in results if r.get("status") == "booked"]
    lost = [r for r in results if r.get("status") != "booked"]
    assert len(booked) == winners, results
    for result in booked:
        assert result["start"] == "2026-12-02T10:00+01:00"
    for result in lost:
        assert result.get("error", "").startswith("slot taken"), result
        assert result["nearest_free_slots"], result
        # The alternatives really are other times: the slot itself is full.
        assert all(s["start"] != "2026-12-02T10:00+01:00" for s in result["nearest_free_slots"])


async def active_at_slot(store: Store) -> list[Any]:
    return await store.appointments.list(start=SLOT_START, end=SLOT_START + timedelta(minutes=30))


async def book_from_separate_connections(
    *,
    count: int,
    open_store: Callable[..., Any],
    clinic: ClinicProfile,
    make_context: Callable[..., ToolContext],
    registry: ToolRegistry,
    clock: FixedClock,
) -> list[dict[str, Any]]:
    """Open ``count`` stores on one database and fire one booking through each at once."""
    stores = [
        # pool_size 2 (PostgreSQL): 50 stores stay well inside the server's connection limit.
        await open_store(busy_timeout_ms=BUSY_TIMEOUT_MS, clock=clock, pool_size=2)
        for _ in range(count)
    ]
    contexts = [make_context(store=s, clinic=clinic) for s in stores]
    return list(
        await asyncio.gather(
            *(
                registry.call("schedule_appointment", booking_args(n), ctx)
                for n, ctx in enumerate(contexts)
            )
        )
    )


@pytest.mark.asyncio
async def test_fifty_connections_one_chair_one_winner(
    store: Store,
    open_store: Callable[..., Any],
    one_chair_clinic: ClinicProfile,
    make_context: Callable[..., ToolContext],
    registry: ToolRegistry,
    clock: FixedClock,
) -> None:
    results = await book_from_separate_connections(
        count=50,
        open_store=open_store,
        clinic=one_chair_clinic,
        make_context=make_context,
        registry=registry,
        clock=clock,
    )
    assert_outcomes(results, winners=1)
    (appointment,) = await active_at_slot(store)
    assert appointment.chair == 1
    # Losers leave no trace: only the winner became a patient.
    assert await store.patients.count() == 1
    assert await store.appointments.count() == 1
    # One set of slot rows, held by the one appointment.
    slots = await store.db.rows("SELECT chair, slot_start, appointment_id FROM appointment_slots")
    assert [tuple(r) for r in slots] == [(1, "2026-12-02T09:00:00Z", appointment.id)]


@pytest.mark.asyncio
async def test_twenty_connections_three_chairs_three_winners(
    store: Store,
    open_store: Callable[..., Any],
    clinic: ClinicProfile,
    make_context: Callable[..., ToolContext],
    registry: ToolRegistry,
    clock: FixedClock,
) -> None:
    assert clinic.chairs == 3
    results = await book_from_separate_connections(
        count=20,
        open_store=open_store,
        clinic=clinic,
        make_context=make_context,
        registry=registry,
        clock=clock,
    )
    assert_outcomes(results, winners=3)
    appointments = await active_at_slot(store)
    assert sorted(a.chair for a in appointments) == [1, 2, 3]
    assert len({a.patient_id for a in appointments}) == 3
    assert await store.patients.count() == 3


@pytest.mark.asyncio
async def test_one_connection_many_tasks_one_chair(
    store: Store,
    one_chair_clinic: ClinicProfile,
    make_context: Callable[..., ToolContext],
    registry: ToolRegistry,
) -> None:
    # Concurrent tool calls sharing one Store (as in one call) queue on its write lock.
    ctx = make_context(clinic=one_chair_clinic)
    results = await asyncio.gather(
        *(registry.call("schedule_appointment", booking_args(n), ctx) for n in range(20))
    )
    assert_outcomes(list(results), winners=1)
    assert len(await active_at_slot(store)) == 1


# --- separate processes -----------------------------------------------------------------------


def book_in_process(db_url: str, hash_key: str | None, n: int, barrier: Any, results: Any) -> None:
    """Worker run in a spawned process: its own settings, clinic, Store and event loop."""
    try:
        outcome = asyncio.run(_book_in_process(db_url, hash_key, n, barrier))
    except BaseException as exc:  # report instead of hanging the parent on the queue
        outcome = {"worker_failed": f"{type(exc).__name__}: {exc}"}
    results.put(outcome)


async def _book_in_process(
    db_url: str, hash_key: str | None, n: int, barrier: Any
) -> dict[str, Any]:
    from config.clinic import load_clinic_profile
    from tools.context import build_context

    where = {"url": db_url} if "://" in db_url else {"path": db_url}
    settings = load_settings(
        env_file=None,
        database={**where, "busy_timeout_ms": BUSY_TIMEOUT_MS, "pool_size": 2},
        privacy={"hash_key": hash_key or ""},
    )
    clinic = load_clinic_profile(SAMPLE_PROFILE)
    clinic = ClinicProfile.model_validate({**clinic.model_dump(), "chairs": 1})
    clock = FixedClock(DEFAULT_NOW)
    store = await Store.open(
        settings.database.target(),
        tz=clinic.tz,
        busy_timeout_ms=settings.database.busy_timeout_ms,
        clock=clock,
        hash_key=settings.privacy.hash_key.get_secret_value() or None,
        pool_size=settings.database.pool_size,
    )
    try:
        ctx = build_context(store=store, settings=settings, clinic=clinic, clock=clock)
        registry = default_registry()
        # Everyone has imported, opened and migrated: now all book at once.
        await asyncio.to_thread(barrier.wait, 300)
        return await registry.call("schedule_appointment", booking_args(n), ctx)
    finally:
        await store.close()


def collect_results(
    workers: list[Any], barrier: Any, results_queue: Any, deadline_s: float = 600
) -> list[dict[str, Any]]:
    """Gather one answer per worker; if one dies without answering, release the rest at once.

    A worker that crashes before the barrier (e.g. an import error) would otherwise leave the
    others waiting out the barrier timeout and the parent waiting on the queue.
    """
    results: list[dict[str, Any]] = []
    waited = 0.0
    while len(results) < len(workers) and waited < deadline_s:
        try:
            results.append(results_queue.get(timeout=1))
            continue
        except queue.Empty:
            waited += 1
        if any(w.exitcode not in (None, 0) for w in workers):
            barrier.abort()
        if all(w.exitcode is not None for w in workers):
            # Everyone has exited: whatever they sent is already in the pipe.
            while True:
                try:
                    results.append(results_queue.get(timeout=1))
                except queue.Empty:
                    break
            break
    return results


def reap(workers: list[Any], grace_s: float = 60) -> None:
    """Join the workers, killing any still alive once the shared grace period is over."""
    deadline = time.monotonic() + grace_s
    for worker in workers:
        worker.join(max(0.0, deadline - time.monotonic()))
    for worker in workers:
        if worker.is_alive():
            worker.kill()
            worker.join(5)


@pytest.mark.slow
@pytest.mark.asyncio
async def test_fifty_processes_one_chair_one_winner(
    store: Store, db_url: str, hash_key: str | None
) -> None:
    # The store fixture has already created and migrated the database.
    spawn = multiprocessing.get_context("spawn")
    barrier = spawn.Barrier(PROCESSES)
    results_queue = spawn.Queue()
    workers = [
        spawn.Process(
            target=book_in_process, args=(db_url, hash_key, n, barrier, results_queue), daemon=True
        )
        for n in range(PROCESSES)
    ]
    for worker in workers:
        worker.start()
    try:
        results = await asyncio.to_thread(collect_results, workers, barrier, results_queue)
    finally:
        await asyncio.to_thread(reap, workers)

    crashed = {n: w.exitcode for n, w in enumerate(workers) if w.exitcode != 0}
    assert crashed == {}, f"workers that died without answering (index: exit code): {crashed}"
    assert [r for r in results if "worker_failed" in r] == []
    assert len(results) == PROCESSES
    assert_outcomes(results, winners=1)
    (appointment,) = await active_at_slot(store)
    assert appointment.chair == 1
    assert await store.patients.count() == 1
    assert await store.appointments.count() == 1
    # One set of slot rows, held by the one appointment.
    slots = await store.db.rows("SELECT chair, slot_start, appointment_id FROM appointment_slots")
    assert [tuple(r) for r in slots] == [(1, "2026-12-02T09:00:00Z", appointment.id)]


# --- the PostgreSQL exclusion constraint itself -----------------------------------------------


@pytest_asyncio.fixture
async def pg_store(pg_cluster: Any, pg_template: str) -> Any:
    """A store on a fresh PostgreSQL database (this test is about PostgreSQL's constraint)."""
    from tests.backends import PG_HASH_KEY

    name = f"excl_{os.getpid()}_{next(_pg_names)}"
    pg_cluster.create_database(name, template=pg_template)
    store = await Store.open(pg_cluster.url(name), tz=TIRANE, hash_key=PG_HASH_KEY)
    yield store
    await store.close()
    pg_cluster.drop_database(name)


_pg_names = itertools.count(1)


async def _insert(store: Store, *, chair: int, starts: str, ends: str, status: str) -> int:
    """One appointment written by plain SQL, past every repository check."""
    async with store.db.transaction() as conn:
        (patient,) = await conn.execute_fetchall(
            "INSERT INTO patients (phone, name, created_at, updated_at) VALUES (?, 'A', ?, ?)"
            " ON CONFLICT(phone) DO UPDATE SET name = patients.name RETURNING id",
            ("+355691234567", starts, starts),
        )
        (row,) = await conn.execute_fetchall(
            "INSERT INTO appointments (patient_id, service_id, chair, starts_at, ends_at,"
            " status, price_lek, source, created_at)"
            " VALUES (?, 'checkup', ?, ?, ?, ?, 0, 'cli', ?) RETURNING id",
            (patient[0], chair, starts, ends, status, starts),
        )
    return row[0]


@pytest.mark.asyncio
async def test_postgresql_exclusion_constraint_refuses_an_overlap_on_another_grid(
    pg_store: Store,
) -> None:
    first = await _insert(
        pg_store, chair=1, starts="2026-12-02T09:00:00Z", ends="2026-12-02T09:30:00Z",
        status="scheduled",
    )  # fmt: skip
    # 09:15-09:45 starts at another time (the chair/start index cannot see it) but overlaps.
    with pytest.raises(sqlite3.IntegrityError) as refused:
        await _insert(
            pg_store, chair=1, starts="2026-12-02T09:15:00Z", ends="2026-12-02T09:45:00Z",
            status="confirmed",
        )  # fmt: skip
    assert refused.value.sqlstate == "23P01"  # type: ignore[attr-defined]
    assert refused.value.constraint == "appointments_no_overlap"  # type: ignore[attr-defined]
    assert is_slot_conflict(refused.value)
    # Touching is not overlapping (half-open ranges); another chair is free; so is a cancelled one.
    await _insert(
        pg_store, chair=1, starts="2026-12-02T09:30:00Z", ends="2026-12-02T10:00:00Z",
        status="scheduled",
    )  # fmt: skip
    await _insert(
        pg_store, chair=2, starts="2026-12-02T09:15:00Z", ends="2026-12-02T09:45:00Z",
        status="scheduled",
    )  # fmt: skip
    await _insert(
        pg_store, chair=1, starts="2026-12-02T09:15:00Z", ends="2026-12-02T09:25:00Z",
        status="cancelled",
    )  # fmt: skip
    with pytest.raises(sqlite3.IntegrityError):  # still refused while the first is active
        await _insert(
            pg_store, chair=1, starts="2026-12-02T08:45:00Z", ends="2026-12-02T09:15:00Z",
            status="scheduled",
        )  # fmt: skip
    async with pg_store.db.transaction() as conn:
        await conn.execute("UPDATE appointments SET status = 'cancelled' WHERE id = ?", (first,))
    await _insert(
        pg_store, chair=1, starts="2026-12-02T08:45:00Z", ends="2026-12-02T09:15:00Z",
        status="scheduled",
    )  # fmt: skip
    assert await pg_store.appointments.count(active_only=True) == 3


@pytest.mark.asyncio
async def test_postgresql_slot_key_refusal_is_a_slot_conflict(pg_store: Store) -> None:
    first = await _insert(
        pg_store, chair=1, starts="2026-12-02T09:00:00Z", ends="2026-12-02T09:30:00Z",
        status="scheduled",
    )  # fmt: skip
    second = await _insert(
        pg_store, chair=1, starts="2026-12-02T10:00:00Z", ends="2026-12-02T10:30:00Z",
        status="scheduled",
    )  # fmt: skip
    async with pg_store.db.transaction() as conn:
        await conn.execute(
            "INSERT INTO appointment_slots VALUES (1, '2026-12-02T09:00:00Z', ?)", (first,)
        )
    with pytest.raises(sqlite3.IntegrityError) as refused:
        async with pg_store.db.transaction() as conn:
            await conn.execute(
                "INSERT INTO appointment_slots VALUES (1, '2026-12-02T09:00:00Z', ?)", (second,)
            )
    assert refused.value.sqlstate == "23505"  # type: ignore[attr-defined]
    assert is_slot_conflict(refused.value)
    # A refusal by another constraint (a bad chair number) is not mistaken for a taken slot.
    with pytest.raises(sqlite3.IntegrityError) as other:
        await _insert(
            pg_store, chair=0, starts="2026-12-03T09:00:00Z", ends="2026-12-03T09:30:00Z",
            status="scheduled",
        )  # fmt: skip
    assert not is_slot_conflict(other.value)


@pytest.mark.asyncio
async def test_postgresql_booking_runs_beside_the_one_writer_lock(pg_store: Store) -> None:
    """A booking does not queue behind other writers: the constraints decide (exclusive=False)."""
    from storage.database_pg import WRITE_LOCK

    holder = await pg_store.db.pool.acquire()  # type: ignore[attr-defined]
    try:
        async with holder.transaction():
            await holder.execute("SELECT pg_advisory_xact_lock($1)", WRITE_LOCK)
            # Were the booking to take the lock it would wait for this transaction forever.
            booked = await asyncio.wait_for(
                pg_store.appointments.book(
                    phone="+355691234567",
                    name="Arta Hoxha",
                    service_id="checkup",
                    starts_at=SLOT_START,
                    ends_at=SLOT_START + timedelta(minutes=30),
                    slot=timedelta(minutes=30),
                    chairs=1,
                    price_lek=2000,
                    source="agent",
                ),
                timeout=60,
            )
    finally:
        await pg_store.db.pool.release(holder)  # type: ignore[attr-defined]
    assert booked.appointment.chair == 1  # type: ignore[union-attr]


@pytest.mark.asyncio
async def test_postgresql_a_stalled_transaction_gives_the_write_lock_back(
    pg_cluster: Any, pg_store: Store
) -> None:
    """A node cut off mid-transaction keeps no one waiting: the server ends its session."""
    from tests.backends import PG_HASH_KEY

    url = pg_cluster.url(pg_store.db.display.rsplit("/", 1)[-1])  # type: ignore[attr-defined]
    stalled = await Store.open(url, tz=TIRANE, hash_key=PG_HASH_KEY, stalled_transaction_s=0.5)
    try:
        with pytest.raises(sqlite3.OperationalError, match="lost the database connection"):
            async with stalled.db.transaction() as conn:
                await conn.execute("UPDATE campaigns SET name = name")
                # Holding the one-writer lock, this "node" goes quiet; a writer elsewhere
                # gets the lock once the server has ended the stalled session.
                await asyncio.wait_for(
                    pg_store.dnc.add(phone="+355691234567", reason="asked", source="cli"),
                    timeout=60,
                )
    finally:
        await stalled.close()
    assert await pg_store.dnc.is_listed(phone="+355691234567")


@pytest_asyncio.fixture
async def relayed(pg_cluster: Any, pg_store: Store) -> Any:
    """A proxy to the cluster, and an opener of stores ("a node") on pg_store's database via it."""
    from tests.backends import PG_HASH_KEY
    from tests.severing_proxy import SeveringProxy

    url = pg_cluster.url(pg_store.db.display.rsplit("/", 1)[-1])  # type: ignore[attr-defined]
    opened: list[Store] = []
    async with SeveringProxy(pg_cluster.host, pg_cluster.port) as proxy:

        async def open_node(*, pool_size: int) -> Store:
            node = await Store.open(
                proxy.relay_url(url), tz=TIRANE, hash_key=PG_HASH_KEY, pool_size=pool_size
            )
            opened.append(node)
            return node

        try:
            yield proxy, open_node
        finally:
            for node in opened:
                await node.close()


@pytest.mark.asyncio
async def test_postgresql_sessions_the_server_dropped_fail_as_lost_connections_then_reconnect(
    relayed: Any, pg_store: Store
) -> None:
    """A node back from a network cut finds its sessions ended by the server (a regression).

    Each way to the server (a transaction's start, a statement inside one, a pooled read)
    fails with the one error callers try again on, never asyncpg's own; the next try
    reconnects. Before, a transaction's start raised ``ConnectionDoesNotExistError``, and a
    campaign runner back from a cut crashed on it.
    """
    proxy, open_node = relayed
    # One pooled connection, so each step below meets the dropped session.
    node = await open_node(pool_size=1)
    await node.dnc.add(phone="+355691234567", reason="asked", source="cli")

    async def start() -> None:
        await proxy.sever()
        async with node.db.transaction():
            pass

    async def statement() -> None:
        async with node.db.transaction() as conn:
            await proxy.sever()
            await conn.execute("UPDATE campaigns SET name = name")

    async def read() -> None:
        assert await node.dnc.is_listed(phone="+355691234567")  # a new session
        await proxy.sever()
        await node.dnc.is_listed(phone="+355691234567")

    for step in (start, statement, read):
        with pytest.raises(sqlite3.OperationalError, match="lost the database connection"):
            await step()
    # The pool reconnects again; what the node wrote before the cuts is there.
    assert await node.dnc.is_listed(phone="+355691234567")
    await node.dnc.add(phone="+355697654321", reason="asked", source="cli")
    assert await pg_store.dnc.is_listed(phone="+355697654321")


@pytest.mark.asyncio
async def test_postgresql_one_lost_session_retires_the_pools_others(relayed: Any) -> None:
    """After a cut only the first statement fails: the other stale sessions are replaced unused."""
    proxy, open_node = relayed
    node = await open_node(pool_size=4)

    async def overlapping() -> None:
        async with node.db.transaction(exclusive=False) as conn:
            await conn.execute("SELECT pg_sleep(0.2)")

    await asyncio.gather(*(overlapping() for _ in range(4)))
    assert node.db.pool.get_size() == 4  # type: ignore[attr-defined]
    await proxy.sever()
    with pytest.raises(sqlite3.OperationalError, match="lost the database connection"):
        await node.dnc.is_listed(phone="+355691234567")
    for _ in range(4):
        assert not await node.dnc.is_listed(phone="+355691234567")
