"""`elo campaign create|import|list` run as a real subprocess, the way clinic staff run it."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from cli.main import main
from tests.cli.test_main import ok_json, run_elo

ARTA = "+355691234567"
BEN = "+355682223344"


def test_create_then_import_reports_every_row(tmp_path: Path) -> None:
    created = ok_json(
        run_elo(tmp_path, "campaign", "create", "Winter recall", "--purpose", "recall")
    )
    assert (created["name"], created["status"], created["max_attempts"]) == (
        "Winter recall",
        "draft",
        4,
    )
    db = tmp_path / "env.db"
    with sqlite3.connect(db) as conn:
        conn.execute(
            "INSERT INTO do_not_call (phone, source, added_at) VALUES (?, 'cli', 'x')", (BEN,)
        )
    csv = tmp_path / "contacts.csv"
    csv.write_text(
        "\ufeffname,phone\n"
        "Arta Hoxha,069 123 4567\n"
        "Ben Duka,068 222 3344\n"
        ",069 765 4321\n"
        "Arta Again,+355691234567\n",
        encoding="utf-8",
    )
    report = ok_json(run_elo(tmp_path, "campaign", "import", "Winter recall", str(csv)))
    assert report == {
        "imported": 1,
        "merged": 1,
        "on_do_not_call": 1,
        "rejected": [{"line": 4, "reason": "name: is empty"}],
    }
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT phone, name FROM campaign_contacts").fetchall() == [
            (ARTA, "Arta Hoxha")
        ]


def test_list_shows_every_campaign_with_counts_and_no_contact_data(tmp_path: Path) -> None:
    assert ok_json(run_elo(tmp_path, "campaign", "list")) == {"count": 0, "campaigns": []}
    run_elo(tmp_path, "campaign", "create", "Winter recall", "--purpose", "recall")
    run_elo(tmp_path, "campaign", "create", "Check-ups", "--purpose", "check_up")
    csv = tmp_path / "contacts.csv"
    csv.write_text("name,phone\nArta Hoxha,069 123 4567\nBen Duka,068 222 3344\n", "utf-8")
    run_elo(tmp_path, "campaign", "import", "Winter recall", str(csv))

    result = run_elo(tmp_path, "campaign", "list")
    listed = ok_json(result)
    assert listed["count"] == 2
    assert [
        (c["name"], c["purpose"], c["status"], c["contacts"], c["queued"], c["running_now"])
        for c in listed["campaigns"]
    ] == [
        ("Check-ups", "check_up", "draft", 0, 0, False),
        ("Winter recall", "recall", "draft", 2, 2, False),
    ]
    assert "Arta" not in result.stdout and "+355" not in result.stdout


def test_unknown_campaign_and_bad_files_are_one_line_and_exit_2(tmp_path: Path) -> None:
    latin = tmp_path / "latin.csv"
    latin.write_bytes("name,phone\nArbër Çela,0691234567\n".encode("latin-1"))
    good = tmp_path / "good.csv"
    good.write_text("name,phone\nArta Hoxha,0691234567\n", encoding="utf-8")
    cases = [
        (("campaign", "import", "Nope", str(good)), "no campaign named 'Nope'"),
        (("campaign", "import", "Nope", str(latin)), "is not UTF-8"),
        (("campaign", "create", "X", "--purpose", "sales"), "invalid choice"),
    ]
    for args, expected in cases:
        result = run_elo(tmp_path, *args)
        assert result.returncode == 2, (args, result.stderr)
        assert result.stdout == ""
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("elo: "), (args, result.stderr)
        assert expected in lines[0]


# ---------------------------------------------------------------- create options, in-process


def _create(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], *options: str
) -> tuple[int, str, str]:
    """Run ``elo campaign create`` in this process against tmp_path's database."""
    db = str(tmp_path / "e.db")
    code = main(
        ["campaign", "create", "Winter recall", "--purpose", "recall", "--db", db, *options]
    )
    out, err = capsys.readouterr()
    return code, out, err


def _campaign_rows(db: Path) -> list[tuple[object, ...]]:
    if not db.exists():
        return []
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT * FROM campaigns").fetchall()


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run the CLI from tmp_path (no .env of the developer) with logs kept there."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ELO_LOGGING__FILE", str(tmp_path / "logs" / "elo.jsonl"))
    return tmp_path


def test_create_stores_every_option_canonically(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _create(
        in_tmp,
        capsys,
        "--window-days",
        "Wed, Mon,wed",
        "--window-hours",
        "9:00-12:30, 14:00-18:00",
        "--retry",
        "no_answer=240, busy=30,voicemail=1440",
        "--trunk",
        "ST_abc123",
        "--caller-id",
        "04 222 3344",
        "--max-concurrent",
        "3",
    )
    assert code == 0, err
    created = json.loads(out)
    assert created["window_days"] == "mon,wed"
    assert created["window_intervals"] == "09:00-12:30,14:00-18:00"
    assert created["retry_delays"] == {"no_answer": 240, "busy": 30, "voicemail": 1440}
    assert created["sip_trunk_id"] == "ST_abc123"
    assert created["caller_id"] == "+35542223344"
    assert created["max_concurrent_calls"] == 3
    # The runner's lease is internal: never shown.
    assert not {"runner_token", "runner_pid", "runner_host"} & set(created)
    with sqlite3.connect(in_tmp / "e.db") as conn:
        row = conn.execute(
            "SELECT window_days, window_intervals, retry_delays, sip_trunk_id, caller_id"
            " FROM campaigns"
        ).fetchone()
    assert row[:2] == ("mon,wed", "09:00-12:30,14:00-18:00")
    assert json.loads(row[2]) == {"no_answer": 240, "busy": 30, "voicemail": 1440}
    assert row[3:] == ("ST_abc123", "+35542223344")


def test_create_without_options_leaves_the_settings_in_charge(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _create(in_tmp, capsys)
    assert code == 0, err
    created = json.loads(out)
    assert (created["window_days"], created["window_intervals"]) == (None, None)
    assert created["retry_delays"] == {}
    assert (created["sip_trunk_id"], created["caller_id"]) == (None, None)


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (("--window-hours", "25:00-26:00"), "--window-hours:"),
        (("--window-hours", "14:00-10:00"), "--window-hours:"),
        (("--window-hours", "morning"), "--window-hours:"),
        (("--window-days", "mon,funday"), "--window-days:"),
        (("--retry", "ringing=10"), "--retry: unknown outcome 'ringing'"),
        (("--retry", "declined=10"), "--retry: unknown outcome 'declined'"),
        (("--retry", "busy=ten"), "--retry: busy needs whole minutes"),
        (("--retry", "busy=1.5"), "--retry: busy needs whole minutes"),
        (("--retry", "busy=0"), "--retry: busy needs whole minutes"),
        (("--retry", "busy"), "--retry: busy needs whole minutes"),
        (("--caller-id", "12"), "--caller-id: is not a valid phone number"),
        (
            ("--caller-id", "+1 202 555 0143"),
            "--caller-id: is a number from US",
        ),  # valid, but not an allowed region
        (("--max-concurrent", "0"), "--max-concurrent"),
    ],
)
def test_create_refuses_bad_options_in_one_line_without_writing(
    in_tmp: Path,
    capsys: pytest.CaptureFixture[str],
    options: tuple[str, ...],
    expected: str,
) -> None:
    code, out, err = _create(in_tmp, capsys, *options)
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("elo: "), err
    assert expected in lines[0]
    assert "Traceback" not in err
    assert _campaign_rows(in_tmp / "e.db") == []
