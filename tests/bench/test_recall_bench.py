"""The recall benchmark's seed and queries, run at a tiny size so they cannot rot."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.recall_bench import HEADING, run, section


@pytest.mark.asyncio
async def test_the_recall_benchmark_seeds_and_times_every_query(tmp_path: Path) -> None:
    result = await run(tmp_path / "recall.db", 600, runs=2)
    assert result.patients == 600 and result.appointments == 1_860
    assert set(result.timings) == {
        "count",
        "build",
        "build, limit 1,000",
        "build, with hashed entries",
        "attendance, 30 days",
        "attendance, 365 days",
    }
    assert all(len(ms) == 2 and min(ms) > 0 for ms in result.timings.values())
    # Counting and building agree; a limit caps; hashed entries keep some numbers out.
    assert 0 < result.rows["build"] == result.rows["count"]
    assert result.rows["build, limit 1,000"] == min(1000, result.rows["build"])
    assert result.rows["build, with hashed entries"] < result.rows["build"]
    assert result.rows["attendance, 365 days"] > result.rows["attendance, 30 days"] > 0
    assert section(result, 2).startswith(HEADING)
