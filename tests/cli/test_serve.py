"""`elo serve` as a real process: it listens, answers /healthz and /readyz, stops on a signal."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.cli.test_main import run_elo
from tests.conftest import SAMPLE_PROFILE

KEYS = {
    "ELO_LIVEKIT__URL": "wss://livekit.example",
    "ELO_LIVEKIT__API_KEY": "APIkey",
    "ELO_LIVEKIT__API_SECRET": "a-secret-long-enough-for-hs256-0123456789abcdef",
    "ELO_LIVEKIT__SIP_TRUNK_ID": "ST_trunk",
    "ELO_GOOGLE__API_KEY": "a-google-key",
}


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ELO_")}
    env |= {
        "ELO_DATABASE__PATH": str(tmp_path / "elo.db"),
        "ELO_LOGGING__FILE": str(tmp_path / "logs" / "elo.jsonl"),
        "ELO_CLINIC__PROFILE_PATH": str(SAMPLE_PROFILE),
        **extra,
    }
    return env


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_the_service_answers_then_stops_cleanly(tmp_path: Path, stop: signal.Signals) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "serve", "--host", "127.0.0.1", "--port", "0"],
        cwd=tmp_path,
        env=_env(tmp_path, **KEYS),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("elo serve: listening on http://127.0.0.1:"), line
        base = line.split("listening on ", 1)[1].strip()
        assert httpx.get(f"{base}/healthz", timeout=10).json() == {"status": "ok"}
        ready = httpx.get(f"{base}/readyz", timeout=10)
        assert ready.status_code == 200, ready.text
        assert httpx.get(f"{base}/nothing-here", timeout=10).status_code == 404
        process.send_signal(stop)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    err = process.stderr.read() if process.stderr else ""
    assert process.returncode == 0, err
    assert "Traceback" not in err
    # Nothing secret reached the log.
    log = (tmp_path / "logs" / "elo.jsonl").read_text(encoding="utf-8")
    assert "elo serve listening on 127.0.0.1:" in log
    for secret in (KEYS["ELO_LIVEKIT__API_SECRET"], KEYS["ELO_GOOGLE__API_KEY"]):
        assert secret not in log


def test_a_port_in_use_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_elo(
            tmp_path,
            "serve",
            "--port",
            str(port),
            env={"ELO_CLINIC__PROFILE_PATH": str(SAMPLE_PROFILE)},
        )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"elo: cannot listen on 127.0.0.1:{port}: Address already in use"
    ]


def test_missing_keys_are_one_line_naming_them(tmp_path: Path) -> None:
    result = run_elo(
        tmp_path, "serve", "--port", "0", env={"ELO_CLINIC__PROFILE_PATH": str(SAMPLE_PROFILE)}
    )
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("elo: set ELO_LIVEKIT__URL, ELO_LIVEKIT__API_KEY"), line
    assert line.endswith("or try `elo serve --rehearsal`"), line
    assert "ELO_GOOGLE__API_KEY" in line


def test_responses_are_not_held_back_by_nagle(tmp_path: Path) -> None:
    """A keep-alive client waited ~40 ms per answer before TCP_NODELAY (bench/serve_bench.py)."""
    from cli.serve import _listen

    sock = _listen("127.0.0.1", 0)
    try:
        with socket.create_connection(sock.getsockname()[:2]) as client:
            accepted, _ = sock.accept()
            with accepted:
                assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
            assert client.fileno() >= 0
    finally:
        sock.close()
