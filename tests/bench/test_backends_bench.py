"""The backends benchmark at a tiny size, on SQLite and on a throwaway PostgreSQL cluster.

It checks that every case runs and that its invariants hold (bookings all distinct, no contact
claimed twice, the campaign drained, planning returns full batches), never its timings.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

import pytest

from bench.backends_bench import (
    HEADING,
    Engine,
    booking_case,
    claims_case,
    parse_args,
    planning_case,
)
from bench.backends_report import Results, section
from devtools.postgres import PostgresCluster

pytestmark = pytest.mark.slow


def _args() -> argparse.Namespace:
    sizes = ("--bookings", "3", "--writers", "2", "--pace-ms", "5", "--claim-contacts", "30")
    sizes += ("--processes", "1,2")
    return parse_args([*sizes, "--contacts", "1500", "--runs", "2", "--no-doc"])


def _engines(tmp_path: Path, pg_cluster: PostgresCluster) -> tuple[Engine, Engine]:
    # A prefix per test: the session's cluster holds other tests' databases too.
    prefix = f"bench_{tmp_path.name.replace('-', '_')}_"
    return Engine("SQLite", tmp_path), Engine("PostgreSQL", tmp_path, pg_cluster, prefix)


def test_booking_books_every_planned_slot_once_on_both_engines(
    tmp_path: Path, pg_cluster: PostgresCluster
) -> None:
    out = Results(booking_path="transaction()")
    booking_case(list(_engines(tmp_path, pg_cluster)), _args(), out)
    # SQLite, PostgreSQL, and PostgreSQL's what-if without the one-writer lock, back to back
    # and then paced.
    labels = ["SQLite", "PostgreSQL", "PostgreSQL, what-if exclusive=False"]
    assert [run.label for run, _ in out.booking] == [
        "SQLite, 1 writer",
        "PostgreSQL, 1 writer",
        *labels,
        *(f"{x}, paced" for x in labels),
    ]
    for run, check in out.booking:
        writers = 1 if "1 writer" in run.label else 2
        assert run.processes == writers and len(run.ms) == writers * 3
        assert run.counts == {"booked": writers * 3}
        # A warm-up booking per writer too; every appointment holds its own (slot, chair).
        assert check == dict.fromkeys(("appointments", "slots", "distinct_slots"), writers * 4)
    assert set(out.round_trip_ms) == {"SQLite", "PostgreSQL"}
    assert "what-if" in section(HEADING, _host(), ((0, 0, 0), (0, 0, 0)), out, _args(), 1.0)


def test_claims_drain_the_campaign_without_claiming_a_contact_twice(
    tmp_path: Path, pg_cluster: PostgresCluster
) -> None:
    out = Results()
    claims_case(list(_engines(tmp_path, pg_cluster)), _args(), out)
    for label, run, check in out.claims:
        assert run.counts["claimed"] == 30, label
        assert check == {"most_attempts": 1, "attempted": 30, "left": 0}, label
    assert out.failures == []
    assert [(label, run.processes) for label, run, _ in out.claims] == [
        ("SQLite", 1),
        ("SQLite", 2),
        ("PostgreSQL", 1),
        ("PostgreSQL", 2),
    ]


def test_planning_loads_both_engines_alike_and_plans_full_batches(
    tmp_path: Path, pg_cluster: PostgresCluster
) -> None:
    out = Results()
    sqlite, pg = _engines(tmp_path, pg_cluster)
    asyncio.run(planning_case(sqlite, pg, _args(), out))
    assert out.failures == []
    assert out.seeded["contacts"] == 1_500 and out.seeded["attempts"] > 0
    returned = {(t.engine, t.label): t.returned for t in out.planning}
    for engine in ("SQLite", "PostgreSQL"):
        assert returned[(engine, "plan_batch, limit 10")] == "10"
        assert returned[(engine, "plan_batch, limit 100")] == "100"
        assert returned[(engine, "next_wake")] == "now"
    assert all(len(t.ms) == 2 for t in out.planning)
    assert "campaign_contacts" in out.explain


def _host() -> dict[str, str]:
    keys = ("date", "cpu", "cores", "os", "python", "sqlite", "aiosqlite")
    return {key: "x" for key in keys}
