"""`elo dnc add|remove|list` run as a real subprocess, the way clinic staff run it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.cli.test_main import ok_json, run_elo

ARTA = "+355691234567"


def test_add_list_remove_round_trip(tmp_path: Path) -> None:
    added = ok_json(run_elo(tmp_path, "dnc", "add", "069 123 4567", "--reason", "asked by phone"))
    assert added["status"] == "added"
    entry = added["entry"]
    assert entry["phone"] == ARTA  # the admin CLI shows the full E.164 number
    assert (entry["reason"], entry["source"], entry["call_id"]) == ("asked by phone", "cli", None)
    assert entry["added_at"].endswith("Z")

    again = ok_json(run_elo(tmp_path, "dnc", "add", "00355691234567", "--reason", "other"))
    assert again == {"status": "already_listed", "entry": entry}

    listing = ok_json(run_elo(tmp_path, "dnc", "list"))
    assert listing == {"count": 1, "entries": [entry], "erased_numbers_blocked": 0}
    with sqlite3.connect(tmp_path / "env.db") as conn:
        assert conn.execute("SELECT phone, source FROM do_not_call").fetchall() == [(ARTA, "cli")]

    removed = ok_json(run_elo(tmp_path, "dnc", "remove", "+355 69 123 4567"))
    assert removed == {"phone": ARTA, "removed": True}
    assert ok_json(run_elo(tmp_path, "dnc", "remove", ARTA)) == {"phone": ARTA, "removed": False}
    assert ok_json(run_elo(tmp_path, "dnc", "list")) == {
        "count": 0,
        "entries": [],
        "erased_numbers_blocked": 0,
    }


def test_bad_input_is_one_line_and_exit_2_without_touching_the_database(tmp_path: Path) -> None:
    cases = [
        ("dnc", "add", "12"),
        ("dnc", "add", "not a number"),
        ("dnc", "remove", "+1 202 555 0143"),  # a valid number, but not from an allowed region
        ("dnc", "add", ARTA, "--reason", "x" * 600),
        ("dnc",),
        ("dnc", "add"),
    ]
    for args in cases:
        result = run_elo(tmp_path, *args)
        assert result.returncode == 2, (args, result.stderr)
        assert result.stdout == ""
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("elo: "), (args, result.stderr)
        assert "Traceback" not in result.stderr
    assert not (tmp_path / "env.db").exists()


def test_allowed_regions_come_from_the_settings(tmp_path: Path) -> None:
    env = {"ELO_VALIDATION__ALLOWED_PHONE_REGIONS": "AL,US"}
    added = ok_json(run_elo(tmp_path, "dnc", "add", "+1 202 555 0143", env=env))
    assert added["entry"]["phone"] == "+12025550143"
