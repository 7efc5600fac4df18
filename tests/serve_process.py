"""`elo serve` as a real process for tests: started on a free port, stopped by a signal.

Tests that need the whole service (its signal handling, its workers, its real socket) start it
with :func:`serving`, which waits for the "listening on" line and yields the process with its
base URL; whatever happens in the test, the process is gone afterwards.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import SAMPLE_PROFILE

# The first line the service prints once its socket listens.
LISTENING = "elo serve: listening on http://127.0.0.1:"

# LiveKit and Gemini settings that pass the start-up check (nothing is ever dialled with them).
KEYS = {
    "ELO_LIVEKIT__URL": "wss://livekit.example",
    "ELO_LIVEKIT__API_KEY": "APIkey",
    "ELO_LIVEKIT__API_SECRET": "a-secret-long-enough-for-hs256-0123456789abcdef",
    "ELO_LIVEKIT__SIP_TRUNK_ID": "ST_trunk",
    "ELO_GOOGLE__API_KEY": "a-google-key",
}


def serve_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a service in ``tmp_path``: its own database, log and the sample clinic.

    Args:
        tmp_path: The test's folder.
        **extra: More ``ELO_*`` settings (they win).
    """
    # Settings a test does not set never leak in from the developer's shell.
    env = {k: v for k, v in os.environ.items() if not k.startswith("ELO_")}
    env |= {
        "ELO_DATABASE__PATH": str(tmp_path / "elo.db"),
        "ELO_LOGGING__FILE": str(tmp_path / "logs" / "elo.jsonl"),
        "ELO_CLINIC__PROFILE_PATH": str(SAMPLE_PROFILE),
        **extra,
    }
    return env


@dataclass
class Served:
    """A running service.

    Attributes:
        process: The `elo serve` process (stdout and stderr are pipes, text).
        base: Its base URL, e.g. ``http://127.0.0.1:41234``.
    """

    process: subprocess.Popen[str]
    base: str

    def stop(self, sig: signal.Signals = signal.SIGTERM, *, timeout: float = 60) -> str:
        """Send ``sig``, wait for the exit, check it was clean; returns the service's stderr."""
        self.process.send_signal(sig)
        self.process.wait(timeout=timeout)
        err = self.process.stderr.read() if self.process.stderr else ""
        assert self.process.returncode == 0, err[-3000:]
        assert "Traceback" not in err
        return err


@contextmanager
def serving(cwd: Path, env: Mapping[str, str], *args: str) -> Iterator[Served]:
    """Start `elo serve --port 0 ARGS` in ``cwd`` and wait until it listens.

    Args:
        cwd: The working directory (the test's folder).
        env: The whole environment (see :func:`serve_env`).
        *args: More `elo serve` arguments (e.g. ``--rehearsal``).
    """
    process = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "serve", "--host", "127.0.0.1", "--port", "0", *args],
        cwd=cwd,
        env=dict(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.startswith(LISTENING):
            process.kill()
            process.wait()
            err = process.stderr.read() if process.stderr else ""
            raise AssertionError(f"elo serve did not start: {line!r}\n{err[-3000:]}")
        yield Served(process, line.split("listening on ", 1)[1].strip())
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
