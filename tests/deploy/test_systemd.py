"""deploy/elo.service and the backup units: parsed strictly, every hardening setting in place,
and, where this machine has systemd's tools, `systemd-analyze verify` clean and `security` low."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.deploy.files import DEPLOY, INSTALLED_START, drain_secs, one, seconds, unit

SERVICE = DEPLOY / "elo.service"
BACKUP = DEPLOY / "elo-backup.service"
TIMER = DEPLOY / "elo-backup.timer"
UNITS = (SERVICE, BACKUP, TIMER)

# Each setting the units must carry, and its value (systemd.exec(5)).
HARDENING = {
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "PrivateDevices": "yes",
    "CapabilityBoundingSet": "",
    "AmbientCapabilities": "",
    "RestrictNamespaces": "yes",
    "RestrictRealtime": "yes",
    "RestrictSUIDSGID": "yes",
    "LockPersonality": "yes",
    "ProtectKernelTunables": "yes",
    "ProtectKernelModules": "yes",
    "ProtectControlGroups": "yes",
    "SystemCallArchitectures": "native",
    "UMask": "0077",
}


@pytest.mark.parametrize("path", UNITS, ids=lambda p: p.name)
def test_every_unit_parses_strictly(path: Path) -> None:
    sections = unit(path)
    assert one(sections, "Unit", "Description")
    if path.suffix == ".timer":
        assert set(sections) == {"Unit", "Timer", "Install"}
        assert one(sections, "Install", "WantedBy") == "timers.target"
    else:
        assert "Service" in sections


@pytest.mark.parametrize("path", [SERVICE, BACKUP], ids=lambda p: p.name)
def test_the_services_are_hardened_and_run_as_their_own_user(path: Path) -> None:
    service = unit(path)["Service"]
    for key, value in HARDENING.items():
        assert service.get(key) == [value], (key, service.get(key))
    assert one(unit(path), "Service", "User") == "elo" == one(unit(path), "Service", "Group")
    assert service["SystemCallFilter"][0] == "@system-service"
    families = one(unit(path), "Service", "RestrictAddressFamilies").split()
    assert families and set(families) <= {"AF_UNIX", "AF_INET", "AF_INET6", "AF_NETLINK"}
    # Elo writes only its database folder and its log folder (and the backups, for backups).
    environment = dict(value.split("=", 1) for value in service["Environment"])
    database = Path(environment["ELO_DATABASE__PATH"])
    log = Path(environment["ELO_LOGGING__FILE"])
    writable = [Path(p) for value in service["ReadWritePaths"] for p in value.split()]
    assert database.parent in writable and log.parent in writable
    assert all(p.is_absolute() for p in writable)
    assert one(unit(path), "Service", "EnvironmentFile") == "/etc/elo/elo.env"


def test_the_service_starts_start_sh_and_outlasts_the_drain() -> None:
    sections = unit(SERVICE)
    service = sections["Service"]
    assert one(sections, "Service", "ExecStart") == INSTALLED_START
    assert one(sections, "Service", "KillSignal") == "SIGTERM"
    assert one(sections, "Service", "Restart") == "on-failure"
    # SIGTERM drains the calls; systemd must wait longer than that before it kills.
    assert seconds(one(sections, "Service", "TimeoutStopSec")) >= drain_secs() + 15
    # A configuration problem (exit 2) is not retried in a loop.
    assert service["RestartPreventExitStatus"] == ["2"]
    assert one(sections, "Service", "StateDirectory") == "elo"
    assert one(sections, "Service", "WorkingDirectory") == "/var/lib/elo"
    assert one(sections, "Install", "WantedBy") == "multi-user.target"


def test_the_backup_unit_runs_elo_db_backup_into_its_folder() -> None:
    sections = unit(BACKUP)
    assert one(sections, "Service", "Type") == "oneshot"
    command = one(sections, "Service", "ExecStart")
    assert "/opt/elo/bin/elo db backup " in command
    assert '"/var/backups/elo/elo-' in command
    assert "/var/backups/elo" in one(sections, "Service", "ReadWritePaths").split()
    assert one(sections, "Service", "PrivateNetwork") == "yes"  # a backup needs no network
    assert one(unit(TIMER), "Timer", "Persistent") == "true"


def test_the_strict_reader_refuses_what_systemd_would_ignore(tmp_path: Path) -> None:
    """systemd logs and skips an unknown key; the reader must fail on each instead."""
    bad = {
        "typo.service": "[Service]\nProtectSytem=strict\n",
        "section.service": "[Servce]\nUser=elo\n",
        "twice.service": "[Service]\nUser=elo\nUser=root\n",
        "outside.service": "User=elo\n[Service]\n",
    }
    for name, text in bad.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(AssertionError):
            unit(tmp_path / name)


needs_systemd = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None,
    reason="systemd-analyze is missing (.ci/run installs Debian's systemd package)",
)


def _runnable_copies(tmp_path: Path) -> list[Path]:
    """The units with the installed start script replaced by a real file, all else as is.

    `systemd-analyze verify` refuses an ExecStart that does not exist on this machine.
    """
    start = tmp_path / "opt" / "elo-start"
    start.parent.mkdir()
    shutil.copy(DEPLOY / "start.sh", start)
    start.chmod(0o755)
    copies = []
    for path in UNITS:
        text = path.read_text(encoding="utf-8")
        if path == SERVICE:
            assert text.count(f"ExecStart={INSTALLED_START}\n") == 1
            text = text.replace(f"ExecStart={INSTALLED_START}\n", f"ExecStart={start}\n")
        copy = tmp_path / path.name
        copy.write_text(text, encoding="utf-8")
        copies.append(copy)
    return copies


@needs_systemd
def test_systemd_analyze_verify_is_clean(tmp_path: Path) -> None:
    copies = _runnable_copies(tmp_path)
    result = subprocess.run(
        ["systemd-analyze", "verify", *map(str, copies)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # verify exits 0 even for unknown keys and bad values: it warns, so nothing may be printed.
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


@needs_systemd
@pytest.mark.parametrize("name", ["elo.service", "elo-backup.service"])
def test_systemd_analyze_security_rates_the_services_low(tmp_path: Path, name: str) -> None:
    copy = next(p for p in _runnable_copies(tmp_path) if p.name == name)
    result = subprocess.run(
        # The threshold is in tenths: 20 is an exposure of 2.0 ("OK"; 10.0 is "UNSAFE").
        ["systemd-analyze", "security", "--offline=true", "--threshold=20", str(copy)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    assert f"Overall exposure level for {name}:" in result.stdout


def test_the_backup_command_names_one_dated_file_per_run(tmp_path: Path) -> None:
    """The ExecStart line as systemd hands it to the shell, run with a stand-in for elo.

    systemd.unit(5): "%%" is a literal "%"; systemd.service(5): "$$" is a literal "$". The
    stand-in prints its arguments instead of backing up.
    """
    command = one(unit(BACKUP), "Service", "ExecStart")
    assert command.startswith("/bin/sh -c '") and command.endswith("'")
    script = command[len("/bin/sh -c '") : -1].replace("%%", "%").replace("$$", "$")
    stand_in = tmp_path / "elo"
    stand_in.write_text('#!/bin/sh\nprintf "%s\\n" "$@"\n')
    stand_in.chmod(0o755)
    result = subprocess.run(
        ["/bin/sh", "-c", script.replace("/opt/elo/bin/elo", str(stand_in))],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    words = result.stdout.splitlines()
    assert words[:2] == ["db", "backup"] and len(words) == 3
    assert re.fullmatch(r"/var/backups/elo/elo-\d{4}-\d\d-\d\dT\d{4}\.db", words[2]), words


def test_the_backup_unit_deletes_only_its_own_backups_past_14_days(tmp_path: Path) -> None:
    """ExecStartPost, run on a folder of files (systemd passes its words as they are)."""
    command = one(unit(BACKUP), "Service", "ExecStartPost").split()
    assert command[:2] == ["/usr/bin/find", "/var/backups/elo"]
    now = time.time()
    ages = {"elo-old.db": 20, "elo-new.db": 1, "before-upgrade-old.db": 20, "elo-old.txt": 20}
    for name, days in ages.items():
        path = tmp_path / name
        path.write_text("x")
        os.utime(path, (now - days * 86400, now - days * 86400))
    subprocess.run([command[0], str(tmp_path), *command[2:]], timeout=30, check=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "before-upgrade-old.db",
        "elo-new.db",
        "elo-old.txt",
    ]
