"""The `elo` command run as a real subprocess, the way clinic staff run it.

The CLI uses the real clock, so booking dates are chosen relative to today with the clinic
calendar. Each run costs about half a second; cases are grouped to keep the count small.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from config.clinic import load_clinic_profile
from scheduling.calendar import ClinicCalendar
from tests.conftest import SAMPLE_PROFILE, TIRANE

TOOL_NAMES = {
    "assess_client_needs",
    "check_available_slots",
    "schedule_appointment",
    "schedule_follow_up",
    "get_clinic_info",
    "get_payment_info",
    "search_web",
    "get_clinic_stats",
    "end_call",
    "opt_out",
    "transfer_to_human",
    "voicemail_detected",
    "my_appointments",
    "confirm_appointment",
    "reschedule_appointment",
    "cancel_appointment",
}


def bookable_weekday() -> date:
    """The first Mon-Fri at least two days from today on which the sample clinic opens."""
    calendar = ClinicCalendar(load_clinic_profile(SAMPLE_PROFILE))
    day = datetime.now(TIRANE).date() + timedelta(days=2)
    while day.weekday() >= 5 or calendar.closure_reason(day) is not None:
        day += timedelta(days=1)
    return day


def run_elo(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `python -m cli.main` in tmp_path with a clean ELO_* environment plus ``env``."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("ELO_")}
    base["ELO_DATABASE__PATH"] = str(tmp_path / "env.db")
    base["ELO_LOGGING__FILE"] = str(tmp_path / "logs" / "elo.jsonl")
    base.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        cwd=tmp_path,
        env=base,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def ok_json(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return json.loads(result.stdout)


def count(db: Path, table: str) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def test_runs_from_any_directory(tmp_path: Path) -> None:
    """The editable install makes the packages importable outside the repository."""
    probe = subprocess.run(
        [sys.executable, "-c", "import cli.main, config.clinic; print(cli.main.__file__)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(probe.stdout.strip()).parent.name == "cli"


@pytest.mark.parametrize(
    ("tool", "arguments", "check"),
    [
        (
            "assess_client_needs",
            {"dental_concerns": "toothache since yesterday", "time_availability": "mornings"},
            lambda r: r["urgent"] is True and r["recommended_services"][0]["id"] == "emergency",
        ),
        ("get_clinic_info", {}, lambda r: r["name"] == "Klinika Dentare Buzëqeshja"),
        ("get_payment_info", {}, lambda r: r["lek_per_euro"] == 100 and r["methods"]),
        # No search URL is configured, so the answer comes from the clinic FAQ offline.
        ("search_web", {"query": "does treatment hurt"}, lambda r: r["source"] == "clinic_faq"),
    ],
)
def test_read_only_tools_print_json(
    tmp_path: Path, tool: str, arguments: dict[str, Any], check: Any
) -> None:
    result = ok_json(run_elo(tmp_path, "tool", tool, "--args", json.dumps(arguments)))
    assert "error" not in result
    assert check(result), result


def test_booking_tools_write_and_stats_see_it(tmp_path: Path) -> None:
    """check slots -> book -> follow-up -> stats, as staff would at the command line."""
    day = bookable_weekday()
    at = f"{day.isoformat()}T10:00"

    slots = ok_json(
        run_elo(
            tmp_path,
            "tool",
            "check_available_slots",
            "--args",
            json.dumps({"preferred_date": at, "service_type": "checkup"}),
        )
    )
    assert slots["available"] is True
    assert any(s["start"].startswith(at) for s in slots["free_slots"])

    booked = ok_json(
        run_elo(
            tmp_path,
            "tool",
            "schedule_appointment",
            "--language",
            "en",
            "--args",
            json.dumps(
                {
                    "patient_name": "Arbër Çela",
                    "phone_number": "069 123 4567",
                    "service_type": "checkup",
                    "preferred_date": at,
                }
            ),
        )
    )
    assert booked["status"] == "booked"
    assert booked["start"].startswith(at)
    assert booked["service"]["name"] == "General check-up"  # --language en was applied

    follow_up = ok_json(
        run_elo(
            tmp_path,
            "tool",
            "schedule_follow_up",
            "--args",
            json.dumps(
                {
                    "client_name": "Elira Hoxha",
                    "phone_number": "+355 68 765 4321",
                    "preferred_time": f"{day.isoformat()}T11:00",
                    "reason": "wants the whitening price",
                }
            ),
        )
    )
    assert follow_up["status"] == "scheduled"

    db = tmp_path / "env.db"
    assert count(db, "appointments") == 1
    assert count(db, "follow_ups") == 1
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT source FROM appointments").fetchone()[0] == "cli"

    # get_clinic_stats is confidential: refused to the model, but admin mode runs it.
    stats = ok_json(run_elo(tmp_path, "tool", "get_clinic_stats", "--args", '{"days": 7}'))
    assert stats["appointments_booked"] == 1
    assert stats["revenue_generated_lek"] == 2000
    assert stats["upcoming_appointments"] == 1
    assert stats["pending_follow_ups"] == 1
    assert stats["period"]["days"] == 7

    before = datetime.now(TIRANE).date().isoformat()
    summary = ok_json(run_elo(tmp_path, "stats", "--days", "2"))
    assert summary["period"]["to"] in {before, datetime.now(TIRANE).date().isoformat()}
    assert summary["appointments_booked"] == 1
    assert summary["revenue_generated_lek"] == 2000


def test_tool_error_result_exits_zero_and_writes_nothing(tmp_path: Path) -> None:
    arguments = {
        "patient_name": "Arbër Çela",
        "phone_number": "12",
        "service_type": "checkup",
        "preferred_date": f"{bookable_weekday().isoformat()}T10:00",
    }
    result = run_elo(tmp_path, "tool", "schedule_appointment", "--args", json.dumps(arguments))
    payload = ok_json(result)
    assert set(payload) == {"error", "hint"}
    assert payload["error"].startswith("phone_number:")
    assert count(tmp_path / "env.db", "appointments") == 0
    assert count(tmp_path / "env.db", "patients") == 0


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (["tool", "no_such_tool"], {}, "unknown tool 'no_such_tool'"),
        (["tool", "get_clinic_info", "--args", "{oops"], {}, "--args is not valid JSON"),
        (["tool", "get_clinic_info", "--args", "[1, 2]"], {}, "--args must be a JSON object"),
        (["frobnicate"], {}, "invalid choice: 'frobnicate'"),
        (["import-legacy", "missing.json"], {}, "missing.json does not exist"),
        (["--env-file", "missing.env", "tools"], {}, "missing.env does not exist"),
        (["stats", "--days", "0"], {}, "--days must be between 1 and 3660"),
        (
            ["stats"],
            {"ELO_DATABASE__BUSY_TIMEOUT_MS": "abc"},
            "ELO_DATABASE__BUSY_TIMEOUT_MS",
        ),
        (
            ["config", "check"],
            {"ELO_GOOGLE__BASE_URL": "not a url", "ELO_GOOGLE__API_KEY": "AIzaSECRET-do-not-print"},
            "ELO_GOOGLE__BASE_URL",
        ),
    ],
    ids=[
        "unknown-tool",
        "invalid-json",
        "non-object-json",
        "unknown-command",
        "missing-file",
        "missing-env-file",
        "bad-days",
        "invalid-env-value",
        "bad-url-with-secret",
    ],
)
def test_usage_errors_exit_2_with_one_line(
    tmp_path: Path, args: list[str], env: dict[str, str], expected: str
) -> None:
    result = run_elo(tmp_path, *args, env=env)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("elo: ")
    assert expected in lines[0]
    assert "Traceback" not in result.stderr
    for value in env.values():
        if "SECRET" in value:
            assert value not in result.stderr


@pytest.mark.parametrize("position", ["before", "after"])
def test_db_flag_overrides_environment(tmp_path: Path, position: str) -> None:
    flag = ["--db", str(tmp_path / "flag.db")]
    args = [*flag, "db", "init"] if position == "before" else ["db", "init", *flag]
    result = ok_json(run_elo(tmp_path, *args))
    assert result["database"] == str(tmp_path / "flag.db")
    assert (tmp_path / "flag.db").is_file()
    assert not (tmp_path / "env.db").exists()


def test_db_init_creates_schema(tmp_path: Path) -> None:
    db = tmp_path / "new" / "folder" / "elo.db"
    result = ok_json(run_elo(tmp_path, "db", "init", env={"ELO_DATABASE__PATH": str(db)}))
    assert result == {
        "database": str(db),
        "schema_version": result["schema_version"],
        "patients": 0,
        "appointments": 0,
    }
    assert result["schema_version"] >= 1
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == result["schema_version"]
    # The log file went where the environment said, not into the working directory.
    assert (tmp_path / "logs" / "elo.jsonl").is_file()


def test_tools_lists_the_clinic_and_call_control_tools(tmp_path: Path) -> None:
    tools = ok_json(run_elo(tmp_path, "tools"))
    assert {t["name"] for t in tools} == TOOL_NAMES
    assert len(tools) == 16
    offered = {t["name"]: t["offered_in_calls"] for t in tools}
    assert offered["get_clinic_stats"] is False  # confidential by default
    assert all(offered[name] for name in TOOL_NAMES - {"get_clinic_stats"})
    slots = next(t for t in tools if t["name"] == "check_available_slots")
    assert slots["required"] == ["preferred_date"]
    assert "checkup" in slots["arguments"]["service_type"]["enum"]


def test_config_check_summarises_without_secrets(tmp_path: Path) -> None:
    secret = "AIzaSECRET-never-printed"
    result = run_elo(tmp_path, "config", "check", env={"ELO_GOOGLE__API_KEY": secret})
    summary = ok_json(result)
    assert summary["settings"] == "ok"
    assert summary["clinic"] == "Klinika Dentare Buzëqeshja"
    assert summary["services"] == 9
    assert summary["database"] == str(tmp_path / "env.db")
    assert summary["search"] == "FAQ only"
    assert summary["gemini"] == "configured"
    assert secret not in result.stdout + result.stderr
    assert not (tmp_path / "env.db").exists()  # checking config does not create the database


def test_invalid_clinic_profile_is_a_usage_error(tmp_path: Path) -> None:
    """A profile path that is a folder gives one line, not a traceback."""
    result = run_elo(tmp_path, "config", "check", env={"ELO_CLINIC__PROFILE_PATH": str(tmp_path)})
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1
    assert "clinic profile" in result.stderr
    assert "Traceback" not in result.stderr
