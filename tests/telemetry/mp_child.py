"""The processes of the multi-process test: a supervisor (as `elo serve`) and its workers.

``python -m tests.telemetry.mp_child supervise [FOLDER]`` takes the shared folder as the
service does (``telemetry.export.use_directory``; no FOLDER: a private temporary one) and then
obeys one command per line on stdin, answering on stdout:

- ``spawn NAME CALLS`` starts a worker (a child: it inherits the environment), waits until it
  has recorded CALLS booked calls and is inside an active call, and answers ``spawned PID``;
- ``release NAME`` lets the worker leave its call and exit normally; ``kill NAME`` kills it
  mid-call (SIGKILL, as a crash); both answer ``exited CODE``;
- ``dead NAME`` reports the worker's death (``telemetry.export.process_exited``): ``ok``;
- ``folder`` answers the folder in use; ``scrape`` prints the exposition, then ``END``.

``python -m tests.telemetry.mp_child work CALLS`` is a worker: it records CALLS booked calls
(1000 lek each), enters an active call, prints ``active``, and waits for a line on stdin.
"""

from __future__ import annotations

import subprocess
import sys


def work(calls: int) -> int:
    from telemetry import record

    for _ in range(calls):
        record.call_ended(
            "outbound", "booked", answered=True, duration_s=30.0, bookings=1, revenue_lek=1000
        )
    with record.active_call("outbound"):
        print("active", flush=True)
        sys.stdin.readline()
    return 0


def supervise(folder: str | None) -> int:
    from pathlib import Path

    from telemetry.export import exposition, process_exited, use_directory

    path = use_directory(Path(folder) if folder else None)
    workers: dict[str, subprocess.Popen[str]] = {}
    print("ready", flush=True)
    for line in sys.stdin:
        command, *args = line.split()
        if command == "spawn":
            name, calls = args
            worker = subprocess.Popen(
                [sys.executable, "-m", "tests.telemetry.mp_child", "work", calls],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            assert worker.stdout is not None
            assert worker.stdout.readline().strip() == "active"
            workers[name] = worker
            print(f"spawned {worker.pid}", flush=True)
        elif command in ("release", "kill"):
            worker = workers[args[0]]
            if command == "kill":
                worker.kill()
            else:
                assert worker.stdin is not None
                worker.stdin.write("go\n")
                worker.stdin.flush()
            print(f"exited {worker.wait(timeout=30)}", flush=True)
        elif command == "dead":
            process_exited(workers[args[0]].pid)
            print("ok", flush=True)
        elif command == "folder":
            print(path, flush=True)
        elif command == "scrape":
            print(exposition().decode(), "END", sep="\n", flush=True)
    return 0


if __name__ == "__main__":
    role, *rest = sys.argv[1:]
    sys.exit(work(int(rest[0])) if role == "work" else supervise(rest[0] if rest else None))
