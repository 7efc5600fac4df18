"""`elo campaign status NAME` run as a real subprocess."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.cli.test_main import ok_json, run_elo


def test_status_reports_counts_and_rates_and_unknown_names_exit_2(tmp_path: Path) -> None:
    ok_json(run_elo(tmp_path, "campaign", "create", "Winter recall", "--purpose", "recall"))
    csv = tmp_path / "contacts.csv"
    csv.write_text(
        "name,phone\nArta Hoxha,069 123 4567\nBen Duka,068 222 3344\nCela Marku,067 234 5678\n",
        encoding="utf-8",
    )
    ok_json(run_elo(tmp_path, "campaign", "import", "Winter recall", str(csv)))
    # Two attempts for the first contact, one for the second, as a runner would record them.
    with sqlite3.connect(tmp_path / "env.db") as conn:
        conn.executemany(
            "INSERT INTO call_attempts (contact_id, started_at, ended_at, outcome)"
            " VALUES (?, '2026-12-02T09:00:00Z', '2026-12-02T09:01:00Z', ?)",
            [(1, "no_answer"), (1, "booked"), (2, "declined")],
        )

    status = ok_json(run_elo(tmp_path, "campaign", "status", "Winter recall"))
    assert status["outcomes"]["booked"] == 1 and status["outcomes"]["no_answer"] == 1
    del status["outcomes"], status["campaign_id"]
    assert status == {
        "name": "Winter recall",
        "status": "draft",
        "contacts_total": 3,
        "contacts_attempted": 2,
        "attempts": 3,
        "in_progress": 0,
        "contact_rate": 1.0,
        "booking_rate": 0.5,
        "revenue_booked_lek": 0,
        "remaining_contacts": 1,
        "queued_contacts": 3,
        "system_faults": 0,
        "pause_reason": None,
        "service_state": "manual",
        # The funnel (issue 12): of the 2 contacts dialled, 2 answered and 1 booked.
        "contacts_reached": 2,
        "contacts_booked": 1,
        # Issue 14: the runners working it now (none: it is not running).
        "runners": 0,
        "runner_hosts": [],
    }

    result = run_elo(tmp_path, "campaign", "status", "Nope")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip().splitlines() == ["elo: no campaign named 'Nope'"]
