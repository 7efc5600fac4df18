"""deploy/install.sh into a fresh virtualenv, then deploy/start.sh as the service: what the
Dockerfile and a bare machine run. pip reaches the package index (its wheel cache is reused)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.cli.test_serve import KEYS
from tests.conftest import PROJECT_ROOT
from tests.deploy.files import DEPLOY
from tests.deploy.test_docker import healthcheck_command

INSTALL = DEPLOY / "install.sh"


def clean_env(**extra: str) -> dict[str, str]:
    """This machine's environment without Elo's settings or this checkout on the import path."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("ELO_") and k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")
    }
    return env | extra


def install(prefix: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", str(INSTALL), str(prefix), *args],
        cwd=cwd,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )


def tree(root: Path) -> set[str]:
    """The top of the source tree (a build would leave build/ or elo.egg-info here)."""
    return {p.name for p in root.iterdir()}


@pytest.fixture(scope="module")
def prefix(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Elo installed by deploy/install.sh into a new virtualenv (once for this module)."""
    folder = tmp_path_factory.mktemp("install")
    before = tree(PROJECT_ROOT)
    result = install(folder / "elo", cwd=folder)
    assert result.returncode == 0, result.stdout + result.stderr[-5000:]
    assert tree(PROJECT_ROOT) == before, "the install wrote into the source tree"
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith("install: Elo 0.1.0 is in "), result.stdout
    return folder / "elo"


@pytest.mark.slow
def test_the_install_is_its_own_not_the_source_tree(prefix: Path) -> None:
    located = subprocess.run(
        [str(prefix / "bin" / "python"), "-I", "-c", "import cli, config; print(cli.__file__)"],
        cwd=prefix,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    module = Path(located.stdout.strip())
    assert module.is_relative_to(prefix / "lib"), module
    assert not module.is_relative_to(PROJECT_ROOT)
    start = prefix / "bin" / "elo-start"
    assert start.read_bytes() == (DEPLOY / "start.sh").read_bytes()
    assert stat.S_IMODE(start.stat().st_mode) == 0o755
    # The sample clinic profile ships inside the package (the default ELO_CLINIC__PROFILE_PATH).
    assert (module.parent.parent / "config" / "clinic.toml").is_file()


@contextmanager
def started(prefix: Path, folder: Path) -> Iterator[tuple[subprocess.Popen[str], str, list[str]]]:
    """PREFIX/bin/elo-start on a free port in ``folder``.

    Yields:
        The process, its base URL and the lines it printed up to ``listening on``.
    """
    process = subprocess.Popen(
        [str(prefix / "bin" / "elo-start"), "--host", "127.0.0.1", "--port", "0"],
        cwd=folder,
        env=clean_env(
            **KEYS,
            ELO_DATABASE__PATH=str(folder / "data" / "elo.db"),
            ELO_LOGGING__FILE=str(folder / "logs" / "elo.jsonl"),
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    try:
        assert process.stdout is not None
        while not (lines and "listening on" in lines[-1]):
            line = process.stdout.readline()
            if not line:
                err = process.stderr.read() if process.stderr else ""
                raise AssertionError(f"elo-start ended: {lines} {err}")
            lines.append(line)
        yield process, lines[-1].split("listening on ", 1)[1].strip(), lines
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def run_healthcheck(prefix: Path, port: str) -> int:
    """The Dockerfile's HEALTHCHECK command, with python3 from the image's PATH."""
    command = healthcheck_command()
    path = f"{prefix / 'bin'}:{os.environ.get('PATH', '')}"
    python = shutil.which(command[0], path=path)
    assert python is not None and Path(python).is_relative_to(prefix)
    return subprocess.run(
        [python, *command[1:]],
        env=clean_env(ELO_SERVER__PORT=port),
        capture_output=True,
        timeout=30,
        check=False,
    ).returncode


@pytest.mark.slow
def test_start_sh_creates_the_database_serves_and_stops_on_sigterm(
    prefix: Path, tmp_path: Path
) -> None:
    with started(prefix, tmp_path) as (process, base, lines):
        assert httpx.get(f"{base}/healthz", timeout=10).status_code == 200
        assert httpx.get(f"{base}/readyz", timeout=10).status_code == 200
        port = base.rsplit(":", 1)[1]
        assert run_healthcheck(prefix, port) == 0
        # The installed `elo db backup`, while the service holds the database.
        backup = subprocess.run(
            [str(prefix / "bin" / "elo"), "db", "backup", str(tmp_path / "backup.db")],
            cwd=tmp_path,
            env=clean_env(
                ELO_DATABASE__PATH=str(tmp_path / "data" / "elo.db"), ELO_LOGGING__FILE="none"
            ),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert backup.returncode == 0, backup.stderr
        assert json.loads(backup.stdout)["checked"] is True
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=90) == 0, process.stderr.read() if process.stderr else ""
    assert lines[0] == (
        f"elo-start: no database at {tmp_path / 'data' / 'elo.db'} yet; creating it\n"
    )
    assert run_healthcheck(prefix, port) != 0  # nothing answers any more: unhealthy
    database = tmp_path / "data" / "elo.db"
    assert stat.S_IMODE(database.stat().st_mode) == 0o600
    assert stat.S_IMODE(database.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "backup.db").stat().st_mode) == 0o600

    # The next start finds the database and goes straight to serving.
    with started(prefix, tmp_path) as (process, base, lines):
        assert httpx.get(f"{base}/healthz", timeout=10).status_code == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=90) == 0
    assert lines[0].startswith("elo serve: listening on")


@pytest.mark.slow
def test_installing_again_upgrades_the_same_virtualenv(prefix: Path, tmp_path: Path) -> None:
    """A newer source tree installed over the old one: the new version is what runs."""
    source = tmp_path / "elo-next"
    shutil.copytree(
        PROJECT_ROOT,
        source,
        ignore=shutil.ignore_patterns(".git", ".venv*", "tests", "__pycache__", "*.db", "data"),
    )
    pyproject = source / "pyproject.toml"
    text = pyproject.read_text(encoding="utf-8")
    assert text.count('version = "0.1.0"') == 1
    pyproject.write_text(text.replace('version = "0.1.0"', 'version = "0.1.0.post1"'))
    result = install(prefix, str(source), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-5000:]
    lines = result.stdout.strip().splitlines()
    assert lines[0] == f"install: upgrading the virtualenv {prefix}"
    assert lines[-1].startswith(f"install: Elo 0.1.0.post1 is in {prefix} ")
    check = subprocess.run(
        [str(prefix / "bin" / "elo"), "--help"],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert check.returncode == 0 and "Elo clinic administration" in check.stdout


# ------------------------------------------------------------------- refusals (no install)


def test_install_without_a_prefix_is_a_usage_line(tmp_path: Path) -> None:
    result = subprocess.run(
        ["sh", str(INSTALL)], capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 2
    assert result.stderr.startswith("usage: ") and "PREFIX [SOURCE]" in result.stderr


def test_install_refuses_a_folder_that_is_not_a_virtualenv(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "passwd").write_text("keep me\n")
    result = install(tmp_path / "etc", cwd=tmp_path)
    assert result.returncode == 2
    assert "exists and is not a virtualenv" in result.stderr
    assert (tmp_path / "etc" / "passwd").read_text() == "keep me\n"
    assert sorted(p.name for p in (tmp_path / "etc").iterdir()) == ["passwd"]


def test_install_refuses_a_source_that_is_not_elo(tmp_path: Path) -> None:
    result = install(tmp_path / "venv", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 2
    assert "is not Elo's source tree" in result.stderr
    assert not (tmp_path / "venv").exists()
