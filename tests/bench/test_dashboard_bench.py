"""The dashboard benchmark's generator and queries, run at a tiny size so they cannot rot."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.dashboard_bench import run, section, sizes_for
from bench.dashboard_seed import Sizes


@pytest.mark.asyncio
async def test_the_benchmark_generates_its_data_and_times_every_page(tmp_path: Path) -> None:
    path = tmp_path / "elo.db"
    sizes = sizes_for(2_000)
    assert sizes == Sizes(calls=2_000, appointments=200, contacts=200, patients=120, campaigns=2)
    report, results, pages = await run(path, sizes, runs=2, warmup=1)
    assert report.calls == 2_000
    assert 0 < report.appointments <= 200
    assert report.contacts == 200 and report.attempts > 0 and report.follow_ups > 0
    queried = {page for page, _ in results}
    assert queried == {
        "Today",
        "Calls",
        "Call",
        "Follow-ups",
        "Patients",
        "Patient",
        "Do-not-call",
        "Campaigns",
    }
    assert all(len(ms) == 2 and min(ms) > 0 for ms in results.values())
    # Whole pages through the dashboard app: every page it serves, each answered 200.
    served = {page for page, _ in pages}
    assert {
        "Today",
        "Calls",
        "Call",
        "Campaigns",
        "Campaign",
        "Patient",
        "Clinic",
        "Audit log",
    } <= served
    assert all(len(ms) == 2 and min(ms) > 0 for ms in pages.values())
    text = section(sizes, report, results, path.stat().st_size / 1e6, pages=pages)
    assert text.startswith("## Dashboard (issue 12)") and "| Calls | list, first page |" in text
    assert "| Today | figures, chart, live part |" in text
    # Reusing the generated file counts what it holds instead of generating again.
    again, _, _ = await run(path, sizes, runs=1, warmup=0)
    assert (again.calls, again.appointments, again.contacts) == (
        report.calls,
        report.appointments,
        report.contacts,
    )
