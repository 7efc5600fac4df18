"""`elo campaign start|pause|resume|stop` as a real subprocess, the way clinic staff run them."""

from __future__ import annotations

from pathlib import Path

from tests.cli.test_main import ok_json, run_elo


def _state(tmp_path: Path) -> tuple[str, str]:
    (campaign,) = ok_json(run_elo(tmp_path, "campaign", "list"))["campaigns"]
    return campaign["status"], campaign["service_state"]


def test_staff_start_pause_resume_and_stop_a_campaign(tmp_path: Path) -> None:
    ok_json(run_elo(tmp_path, "campaign", "create", "Winter recall", "--purpose", "recall"))
    assert _state(tmp_path) == ("draft", "manual")

    started = ok_json(run_elo(tmp_path, "campaign", "start", "Winter recall"))
    assert started["service_state"] == "active" and started["changed"] is True
    assert "within 2 s" in started["note"]
    assert ok_json(run_elo(tmp_path, "campaign", "start", "Winter recall"))["changed"] is False

    assert ok_json(run_elo(tmp_path, "campaign", "pause", "Winter recall"))["service_state"] == (
        "paused"
    )
    status = ok_json(run_elo(tmp_path, "campaign", "status", "Winter recall"))
    assert status["service_state"] == "paused"
    assert ok_json(run_elo(tmp_path, "campaign", "resume", "Winter recall"))["service_state"] == (
        "active"
    )
    assert ok_json(run_elo(tmp_path, "campaign", "stop", "Winter recall"))["service_state"] == (
        "stopped"
    )
    assert _state(tmp_path) == ("draft", "stopped")


def test_a_command_that_does_not_apply_is_one_line_exit_2_and_changes_nothing(
    tmp_path: Path,
) -> None:
    ok_json(run_elo(tmp_path, "campaign", "create", "Winter recall", "--purpose", "recall"))
    cases = [
        (("resume", "Winter recall"), "elo: campaign 'Winter recall' is not run by the service;"),
        (("pause", "Nobody"), "elo: no campaign named 'Nobody'"),
    ]
    for argv, start in cases:
        result = run_elo(tmp_path, "campaign", *argv)
        assert result.returncode == 2, result.stderr
        [line] = result.stderr.splitlines()
        assert line.startswith(start), line
    assert _state(tmp_path) == ("draft", "manual")


def test_a_stopped_campaign_is_not_run_by_hand_either(tmp_path: Path) -> None:
    ok_json(run_elo(tmp_path, "campaign", "create", "Winter recall", "--purpose", "recall"))
    ok_json(run_elo(tmp_path, "campaign", "stop", "Winter recall"))
    for argv in (("start",), ("resume",), ("run",)):
        result = run_elo(tmp_path, "campaign", *argv, "Winter recall")
        assert result.returncode == 2, result.stderr
        assert result.stderr.splitlines() == [
            "elo: campaign 'Winter recall' was stopped and is never dialled again"
        ]
