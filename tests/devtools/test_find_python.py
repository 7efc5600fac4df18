"""devtools/find-python: the Makefile's choice of interpreter for a new venv."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "devtools" / "find-python"
THIS = f"{sys.version_info.major}.{sys.version_info.minor}"


@pytest.fixture
def bin_dir(tmp_path: Path) -> Path:
    """A PATH with the shell tools the script uses and no Python at all."""
    folder = tmp_path / "bin"
    folder.mkdir()
    for tool in ("sh", "ls", "sort", "sed", "cat"):
        found = shutil.which(tool)
        assert found is not None, tool
        (folder / tool).symlink_to(found)
    return folder


def _old_python(folder: Path, name: str) -> Path:
    """A stand-in for Python 3.10: answers the version question with 3.10."""
    path = folder / name
    path.write_text("#!/bin/sh\necho 3.10\n")
    path.chmod(0o755)
    return path


def _run(bin_dir: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {"PATH": str(bin_dir), "HOME": str(bin_dir.parent), **env}
    return subprocess.run(
        ["/bin/sh", str(SCRIPT), *args],
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )


def test_python3_is_taken_when_it_is_supported(bin_dir: Path) -> None:
    (bin_dir / "python3").symlink_to(sys.executable)
    (bin_dir / f"python{THIS}").symlink_to(sys.executable)
    result = _run(bin_dir)
    assert result.returncode == 0
    assert result.stdout.strip() == str(bin_dir / "python3")


def test_a_versioned_python_on_path_is_taken_when_python3_is_too_old(bin_dir: Path) -> None:
    _old_python(bin_dir, "python3")
    (bin_dir / f"python{THIS}").symlink_to(sys.executable)
    result = _run(bin_dir)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(bin_dir / f"python{THIS}")


def test_pyenv_versions_are_the_last_resort(bin_dir: Path, tmp_path: Path) -> None:
    _old_python(bin_dir, "python3")
    version = tmp_path / "pyenv" / "versions" / f"{THIS}.0" / "bin"
    version.mkdir(parents=True)
    (version / "python3").symlink_to(sys.executable)
    result = _run(bin_dir, PYENV_ROOT=str(tmp_path / "pyenv"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(version / "python3")


def test_no_supported_python_is_named_in_one_line(bin_dir: Path, tmp_path: Path) -> None:
    _old_python(bin_dir, "python3")
    result = _run(bin_dir, PYENV_ROOT=str(tmp_path / "none"))
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert "needs Python 3.11, 3.12, 3.13" in result.stderr


def test_arguments_narrow_the_versions(bin_dir: Path, tmp_path: Path) -> None:
    # CI asks for a second version other than the first one's.
    (bin_dir / "python3").symlink_to(sys.executable)
    others = [minor for minor in ("3.11", "3.12", "3.13") if minor != THIS]
    result = _run(bin_dir, *others, PYENV_ROOT=str(tmp_path / "none"))
    assert result.returncode == 1
    assert f"needs Python {', '.join(others)}" in result.stderr


def test_an_unsupported_python_setting_is_refused(bin_dir: Path) -> None:
    old = _old_python(bin_dir, "python3.10")
    (bin_dir / "python3").symlink_to(sys.executable)
    result = _run(bin_dir, PYTHON=str(old))
    assert result.returncode == 1
    assert result.stderr.startswith(f"PYTHON={old} is not Python 3.11, 3.12, 3.13")


def test_the_python_setting_wins_when_supported(bin_dir: Path) -> None:
    _old_python(bin_dir, "python3")
    result = _run(bin_dir, PYTHON=sys.executable)
    assert result.returncode == 0
    assert os.path.samefile(result.stdout.strip(), sys.executable)
