"""Throwaway clusters left running by a test or benchmark process that was killed.

``pg_ctl`` starts the server in the background, so a starter killed with SIGKILL (no atexit, no
fixture teardown) leaves its server running and its directory behind. Each cluster's directory
records the id of the process that started it; starting a cluster first stops and deletes those
whose starter no longer exists.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

OWNER_FILE = "elo-owner.pid"


def mark_owner(base_dir: Path) -> None:
    """Record this process as the starter of the cluster in ``base_dir``."""
    (base_dir / OWNER_FILE).write_text(str(os.getpid()))


def process_alive(pid: int) -> bool:
    """Whether a process with this id exists on this machine (it may be another user's)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_orphans(parent: Path, *, as_user: str | None) -> list[Path]:
    """Stop and delete the clusters under ``parent`` whose starting process no longer exists.

    Args:
        parent: Where cluster directories are made (``/tmp``).
        as_user: The OS user the servers run as when we are root (``pg_ctl`` refuses root).

    Returns:
        The cluster directories removed.
    """
    removed = []
    for owner_file in parent.glob(f"*/{OWNER_FILE}"):
        try:
            pid = int(owner_file.read_text())
        except (ValueError, OSError):
            continue  # not written by us, or not readable: leave it
        if process_alive(pid):
            continue
        base_dir = owner_file.parent
        data = base_dir / "data"
        pg_ctl = _pg_ctl_for(data)
        if pg_ctl is not None and (data / "postmaster.pid").exists():
            command = [str(pg_ctl), "stop", "-D", str(data), "-m", "immediate", "-w"]
            if as_user is not None:
                command = [shutil.which("runuser") or "/usr/sbin/runuser", "-u", as_user, "--"]
                command += [str(pg_ctl), "stop", "-D", str(data), "-m", "immediate", "-w"]
            subprocess.run(  # noqa: S603 - Debian's pg_ctl, our own arguments
                command, capture_output=True, check=False, cwd="/", timeout=60
            )
        shutil.rmtree(base_dir, ignore_errors=True)
        removed.append(base_dir)
    return removed


def _pg_ctl_for(data: Path) -> Path | None:
    """The pg_ctl of the major version that made ``data`` (its PG_VERSION file)."""
    try:
        major = (data / "PG_VERSION").read_text().strip()
    except OSError:
        return None
    pg_ctl = Path("/usr/lib/postgresql") / major / "bin" / "pg_ctl"
    return pg_ctl if pg_ctl.exists() else None
