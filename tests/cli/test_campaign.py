"""`elo campaign create|import` run as a real subprocess, the way clinic staff run it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

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
