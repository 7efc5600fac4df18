"""`elo serve` as a real process: it listens, answers /healthz and /readyz, stops on a signal."""

from __future__ import annotations

import signal
import socket
from pathlib import Path

import httpx
import pytest

from tests.cli.test_main import run_elo
from tests.conftest import SAMPLE_PROFILE
from tests.serve_process import KEYS, serve_env, serving


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_the_service_answers_then_stops_cleanly(tmp_path: Path, stop: signal.Signals) -> None:
    with serving(tmp_path, serve_env(tmp_path, **KEYS)) as served:
        base = served.base
        assert httpx.get(f"{base}/healthz", timeout=10).json() == {"status": "ok"}
        ready = httpx.get(f"{base}/readyz", timeout=10)
        assert ready.status_code == 200, ready.text
        assert httpx.get(f"{base}/nothing-here", timeout=10).status_code == 404
        served.stop(stop, timeout=30)
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
