"""`elo db backup PATH`: JSON on success, one line and exit 2 for a PATH it must not use, exit 1
for a damaged database, and a sound copy taken from a database the running service holds open."""

from __future__ import annotations

import json
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from cli.main import main
from tests.serve_process import KEYS, serve_env, serving
from tests.storage.test_health import corrupt_pages, fill_patients

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def elo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Run:
    """``main(argv)`` in tmp_path on a database of 1,000 patients; returns code, out, err."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ELO_DATABASE__PATH", str(tmp_path / "elo.db"))
    monkeypatch.setenv("ELO_LOGGING__FILE", "none")

    def run(*argv: str) -> tuple[int, str, str]:
        try:
            code = main(list(argv))
        except SystemExit as exc:
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        return code, out, err

    assert run("db", "init")[0] == 0
    fill_patients(tmp_path / "elo.db", 1000)
    return run


def patients(path: Path) -> int:
    with closing(sqlite3.connect(path)) as conn:
        return int(conn.execute("SELECT count(*) FROM patients").fetchone()[0])


def test_a_backup_prints_what_it_wrote(elo: Run, tmp_path: Path) -> None:
    (tmp_path / "backups").mkdir()
    code, out, err = elo("db", "backup", "backups/elo.db")
    assert (code, err) == (0, "")
    result = json.loads(out)
    copy = tmp_path / "backups" / "elo.db"
    assert result == {
        "path": "backups/elo.db",
        "bytes": copy.stat().st_size,
        "pages": result["pages"],
        "checked": True,
    }
    assert result["pages"] * 4096 == result["bytes"]  # SQLite's default page size
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    assert patients(copy) == 1000


def test_an_existing_file_needs_force(elo: Run, tmp_path: Path) -> None:
    old = tmp_path / "old.db"
    old.write_bytes(b"last week")
    code, out, err = elo("db", "backup", "old.db")
    assert (code, out) == (2, "")
    assert err == "elo: backup file old.db already exists; add --force to replace it\n"
    assert old.read_bytes() == b"last week"
    code, out, err = elo("db", "backup", "old.db", "--force")
    assert (code, err) == (0, "")
    assert patients(old) == 1000


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("nowhere/elo.db", "elo: folder nowhere does not exist (create it first)"),
        ("elo.db", "elo: elo.db is the database itself: choose another backup file"),
        ("./elo.db", "elo: elo.db is the database itself: choose another backup file"),
    ],
)
def test_a_path_it_must_not_use_is_one_line_and_exit_2(
    elo: Run, tmp_path: Path, path: str, message: str
) -> None:
    before = (tmp_path / "elo.db").read_bytes()
    code, out, err = elo("db", "backup", path, "--force")
    assert (code, out, err) == (2, "", message + "\n")
    assert (tmp_path / "elo.db").read_bytes() == before
    assert not (tmp_path / "nowhere").exists()


def test_no_database_is_a_usage_error_and_creates_none(elo: Run, tmp_path: Path) -> None:
    code, out, err = elo("db", "backup", "copy.db", "--db", "missing.db")
    assert (code, out) == (2, "")
    assert err == "elo: no database at missing.db (see 'elo db init')\n"
    assert not (tmp_path / "missing.db").exists() and not (tmp_path / "copy.db").exists()


def test_a_damaged_database_is_not_backed_up(elo: Run, tmp_path: Path) -> None:
    corrupt_pages(tmp_path / "elo.db")
    code, out, err = elo("db", "backup", "copy.db")
    assert (code, out) == (1, "")
    assert err.startswith("elo: database failed its integrity check, so it is not backed up")
    assert len(err.splitlines()) == 1
    assert not (tmp_path / "copy.db").exists()


def test_a_backup_while_the_service_runs(tmp_path: Path) -> None:
    """`elo serve` holds the database open (WAL); a second process copies it; both stay fine."""
    env = serve_env(tmp_path, **KEYS)
    with serving(tmp_path, env) as served:
        base = served.base
        assert httpx.get(f"{base}/readyz", timeout=10).status_code == 200
        result = subprocess.run(
            [sys.executable, "-m", "cli.main", "db", "backup", str(tmp_path / "copy.db")],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["checked"] is True
        assert httpx.get(f"{base}/readyz", timeout=10).status_code == 200
        served.stop(timeout=30)
    with closing(sqlite3.connect(tmp_path / "copy.db")) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    with closing(sqlite3.connect(tmp_path / "elo.db")) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == version > 0
