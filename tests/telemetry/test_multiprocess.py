"""Multi-process mode with real processes: workers record, the serving process sums them.

The supervisor takes the shared folder as `elo serve` does and starts its workers itself, so
they inherit the folder through the environment as the service's workers do
(tests/telemetry/mp_child.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.multiprocess import MultiProcessCollector

from tests.conftest import PROJECT_ROOT
from tests.telemetry.scrape import Scrape

ENV = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}


class Supervisor:
    """The supervisor process and its line protocol."""

    def __init__(self, folder: Path | None = None, env: dict[str, str] = ENV) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.telemetry.mp_child", "supervise"]
            + ([str(folder)] if folder else []),
            cwd=PROJECT_ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.first = self._line()

    def _line(self) -> str:
        assert self.process.stdout is not None
        return self.process.stdout.readline().strip()

    def ask(self, command: str) -> str:
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return self._line()

    def scrape(self) -> Scrape:
        assert self.process.stdin is not None
        self.process.stdin.write("scrape\n")
        self.process.stdin.flush()
        lines = []
        while (line := self._line()) != "END":
            lines.append(line)
        return Scrape.parse("\n".join(lines) + "\n")

    def close(self) -> tuple[int, str]:
        assert self.process.stdin is not None
        self.process.stdin.close()
        code = self.process.wait(timeout=60)
        return code, self.process.stderr.read() if self.process.stderr else ""


@pytest.fixture
def supervisor(tmp_path: Path) -> Iterator[Supervisor]:
    sup = Supervisor(tmp_path / "metrics")
    assert sup.first == "ready", sup.close()
    try:
        yield sup
    finally:
        if sup.process.poll() is None:
            sup.process.kill()
            sup.process.wait()


@pytest.mark.slow
def test_two_workers_record_and_one_scrape_sums_them(
    supervisor: Supervisor, tmp_path: Path
) -> None:
    folder = tmp_path / "metrics"
    first = supervisor.ask("spawn a 2")
    second = supervisor.ask("spawn b 3")
    assert first.startswith("spawned ") and second.startswith("spawned ")
    pids = {first.split()[1], second.split()[1]}

    scrape = supervisor.scrape()
    assert scrape.value("elo_calls_total", direction="outbound", outcome="booked") == 5
    assert scrape.value("elo_bookings_total", direction="outbound") == 5
    assert scrape.value("elo_revenue_booked_lek_total", direction="outbound") == 5000
    duration = {"direction": "outbound", "answered": "true"}
    assert scrape.value("elo_call_duration_seconds_count", **duration) == 5
    assert scrape.value("elo_active_calls", direction="outbound") == 2  # livesum: both live
    assert not pids & scrape.label_values()  # summed: no pid label left
    assert scrape.value("process_resident_memory_bytes") > 0  # the supervisor's own
    # A worker's files hold only what it recorded (the exporting process starts the fixed
    # series at 0), so a scrape reads little per worker.
    worker_file = folder / f"counter_{first.split()[1]}.db"
    recorded = {m.name for m in MultiProcessCollector.merge([str(worker_file)]) if m.samples}
    assert recorded == {"elo_calls", "elo_bookings", "elo_revenue_booked_lek"}
    assert scrape.value("elo_errors_total", kind="tool") == 0  # there, from the supervisor

    # A worker killed mid-call: its gauge stays until its death is reported; counters stay.
    assert supervisor.ask("kill b") == "exited -9"
    assert supervisor.scrape().value("elo_active_calls", direction="outbound") == 2
    assert supervisor.ask("dead b") == "ok"
    after = supervisor.scrape()
    assert after.value("elo_active_calls", direction="outbound") == 1
    assert after.value("elo_calls_total", direction="outbound", outcome="booked") == 5

    assert supervisor.ask("release a") == "exited 0"
    final = supervisor.scrape()
    assert final.value("elo_active_calls", direction="outbound") == 0
    assert final.value("elo_bookings_total", direction="outbound") == 5
    code, err = supervisor.close()
    assert code == 0, err


@pytest.mark.slow
def test_a_new_run_counts_from_zero_and_keeps_other_files(tmp_path: Path) -> None:
    folder = tmp_path / "metrics"
    first = Supervisor(folder)
    assert first.first == "ready"
    first.ask("spawn a 4")
    first.ask("release a")
    assert first.scrape().value("elo_bookings_total", direction="outbound") == 4
    assert first.close()[0] == 0
    notes = folder / "README.txt"
    notes.write_text("the operator's own file\n", encoding="utf-8")

    second = Supervisor(folder)
    assert second.first == "ready"
    assert second.scrape().value("elo_bookings_total", direction="outbound") == 0
    assert second.close()[0] == 0
    assert notes.read_text(encoding="utf-8") == "the operator's own file\n"


@pytest.mark.slow
def test_a_folder_holding_a_database_is_refused_and_left_alone(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    database = folder / "elo.db"
    database.write_bytes(b"SQLite format 3\x00")
    sup = Supervisor(folder)
    code, err = sup.close()
    assert code != 0
    assert "holds other .db files (elo.db" in err
    assert database.read_bytes() == b"SQLite format 3\x00"


@pytest.mark.slow
def test_the_default_folder_is_private_and_removed_at_exit() -> None:
    sup = Supervisor()
    assert sup.first == "ready"
    folder = Path(sup.ask("folder"))
    assert folder.is_dir()
    assert folder.stat().st_mode & 0o777 == 0o700
    assert list(folder.glob("counter_*.db"))  # the fixed series, written at the start
    assert sup.close()[0] == 0
    assert not folder.exists()


@pytest.mark.slow
def test_a_worker_whose_metrics_cannot_be_written_still_runs_its_calls(tmp_path: Path) -> None:
    # The shared folder is gone (removed under a running service): recording is off, the
    # worker's work goes on.
    env = {**ENV, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "gone")}
    worker = subprocess.Popen(
        [sys.executable, "-m", "tests.telemetry.mp_child", "work", "3"],
        cwd=PROJECT_ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = worker.communicate("go\n", timeout=60)
    assert worker.returncode == 0, err
    assert out.strip() == "active"
    assert "metrics are off in this process: FileNotFoundError" in err
    assert "Traceback" not in err
