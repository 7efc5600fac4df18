"""`elo recall build` and `elo figures attendance` as real subprocesses on a real SQLite file."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

from storage import Store
from tests.cli.test_main import ok_json, run_elo
from tests.conftest import TIRANE
from tests.storage.booking import phone
from tests.storage.visits import message, patient, visit


async def _seed(db: Path) -> None:
    """Two patients last seen 8 months ago, one seen last month; one sent reminder."""
    store = await Store.open(db, tz=TIRANE)
    try:
        now = datetime.now(TIRANE).replace(hour=10, minute=0, second=0, microsecond=0)
        for n in (1, 2):
            person = await patient(store, phone(n), f"Patient {n}")
            appointment = await visit(store, person, now - timedelta(days=245), chair=n)
        await message(store, appointment, "sms", now - timedelta(days=246))
        recent = await patient(store, phone(3))
        await visit(store, recent, now - timedelta(days=30), chair=3)
    finally:
        await store.close()


def _rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def test_recall_build_counts_creates_and_audits(tmp_path: Path) -> None:
    db = tmp_path / "env.db"
    asyncio.run(_seed(db))
    dry = ok_json(run_elo(tmp_path, "recall", "build", "Recall", "--months", "6", "--dry-run"))
    assert dry["contacts"] == 2 and dry["dry_run"] is True
    assert _rows(db, "SELECT count(*) FROM campaigns") == [(0,)]
    assert ok_json(run_elo(tmp_path, "recall", "build", "Few", "--limit", "1"))["contacts"] == 1
    built = ok_json(run_elo(tmp_path, "recall", "build", "Recall", "--min-months", "6"))
    assert built["contacts"] == 2 and built["name"] == "Recall"
    assert _rows(
        db, f"SELECT purpose, status FROM campaigns WHERE id = {built['campaign_id']}"
    ) == [("recall", "draft")]
    audit = _rows(db, "SELECT action, subject, detail FROM audit_log ORDER BY id")
    assert audit[-1][:2] == ("campaign.create", f"campaign:{built['campaign_id']}")
    assert phone(1) not in str(audit) and "Patient" not in str(audit)
    # Nine months back: nobody yet.
    nine = ok_json(run_elo(tmp_path, "recall", "build", "X", "--months", "9", "--dry-run"))
    assert nine["contacts"] == 0


def test_recall_build_refuses_bad_input_in_one_line_writing_nothing(tmp_path: Path) -> None:
    db = tmp_path / "env.db"
    asyncio.run(_seed(db))
    ok_json(run_elo(tmp_path, "recall", "build", "Recall"))
    before = _rows(db, "SELECT (SELECT count(*) FROM campaigns), (SELECT count(*) FROM audit_log)")
    for argv, words in (
        (["Recall"], "already exists"),
        (["New", "--months", "0"], "--months must be between 1 and 60"),
        (["New", "--months", "61"], "--months must be between 1 and 60"),
        (["New", "--limit", "0"], "--limit must be between"),
        (["   "], "name"),
    ):
        result = run_elo(tmp_path, "recall", "build", *argv)
        assert result.returncode == 2, (argv, result.stderr)
        assert words in result.stderr, (argv, result.stderr)
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    after = _rows(db, "SELECT (SELECT count(*) FROM campaigns), (SELECT count(*) FROM audit_log)")
    assert after == before


def test_figures_attendance_prints_json_and_refuses_bad_days(tmp_path: Path) -> None:
    db = tmp_path / "env.db"
    asyncio.run(_seed(db))
    day = (datetime.now(TIRANE) - timedelta(days=245)).date()
    figures = ok_json(
        run_elo(tmp_path, "figures", "attendance", "--from", str(day), "--to", str(day))
    )
    assert figures["appointments"] == 2 and figures["attended"] == 2
    assert figures["revenue_kept_lek"] == 2000
    paths = {p["path"]: p["appointments"] for p in figures["by_reminder_path"]}
    assert paths == {"none": 1, "sms": 1, "email": 0, "sms+email": 0}
    for first, last, words in (
        ("2026-13-01", "2026-12-01", "--from needs a day"),
        ("2026-12-01", "tomorrow", "--to needs a day"),
        ("2026-12-02", "2026-12-01", "before the first day"),
        ("2025-01-01", "2026-12-01", "at most 366 days"),
    ):
        result = run_elo(tmp_path, "figures", "attendance", "--from", first, "--to", last)
        assert result.returncode == 2, result.stderr
        assert words in result.stderr and result.stderr.count("\n") == 1
