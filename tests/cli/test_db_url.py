"""`--db` takes a URL or a path everywhere: SQLite as before, PostgreSQL by URL; a bad URL is one
line and exit 2; a password is never printed; commands that only make sense for a SQLite file
(`elo db backup`) say what to do instead; `elo serve` on PostgreSQL needs the hash key first."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from storage import Store
from tests.cli.test_main import ok_json, run_elo
from tests.conftest import SAMPLE_PROFILE, TIRANE

PASSWORD = "pw-Never-Printed-42"
KEY = {"ELO_PRIVACY__HASH_KEY": "a-test-hash-key-of-some-length"}


def with_password(url: str) -> str:
    """The test cluster trusts local logins; a password in the URL is accepted and ignored."""
    return url.replace("postgres@", f"postgres:{PASSWORD}@", 1)


def one_line(stderr: str) -> str:
    assert "Traceback" not in stderr
    [line] = stderr.strip().splitlines()
    assert line.startswith("elo: ")
    return line


@pytest.mark.parametrize("form", ["path", "url"])
def test_sqlite_by_path_or_url(tmp_path: Path, form: str) -> None:
    db = tmp_path / "clinic.db"
    value = str(db) if form == "path" else f"sqlite:///{db}"
    result = ok_json(run_elo(tmp_path, "--db", value, "db", "init"))
    assert result["database"] == str(db)
    assert db.is_file() and not (tmp_path / "env.db").exists()


def test_a_path_wins_over_a_url_in_the_environment(tmp_path: Path) -> None:
    env = {"ELO_DATABASE__URL": f"postgresql://elo:{PASSWORD}@db.invalid/elo"}
    result = ok_json(run_elo(tmp_path, "db", "init", "--db", "here.db", env=env))
    assert result["database"] == "here.db"
    assert (tmp_path / "here.db").is_file()


def test_a_postgresql_url_is_shown_masked(tmp_path: Path) -> None:
    url = f"postgresql://elo:{PASSWORD}@db.example:5432/elo"
    result = run_elo(
        tmp_path,
        "config",
        "check",
        "--db",
        url,
        env={"ELO_CLINIC__PROFILE_PATH": str(SAMPLE_PROFILE)},
    )
    assert ok_json(result)["database"] == "postgresql://elo:***@db.example:5432/elo"
    assert PASSWORD not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("mysql://db/elo", "elo: --db: unknown database scheme 'mysql'"),
        (f"postgresql://elo:{PASSWORD}@db", "elo: --db: postgresql URL without a database name"),
        ("sqlite://", "elo: --db: sqlite URL without a file"),
        ("", "elo: --db: empty database location"),
    ],
)
def test_a_bad_url_is_one_line_exit_2(tmp_path: Path, value: str, expected: str) -> None:
    result = run_elo(tmp_path, "--db", value, "dnc", "list")
    assert (result.returncode, result.stdout) == (2, "")
    assert one_line(result.stderr).startswith(expected)
    assert PASSWORD not in result.stderr


def test_commands_reach_postgresql_by_url(tmp_path: Path, pg_database: str) -> None:
    url = with_password(pg_database)
    result = run_elo(tmp_path, "--db", url, "dnc", "add", "+355691234567", env=KEY)
    ok_json(result)
    assert PASSWORD not in result.stdout + result.stderr

    async def listed() -> bool:
        store = await Store.open(pg_database, tz=TIRANE, hash_key=KEY["ELO_PRIVACY__HASH_KEY"])
        try:
            return await store.dnc.is_listed(phone="+355691234567")
        finally:
            await store.close()

    assert asyncio.run(listed())
    assert not (tmp_path / "env.db").exists()


def test_postgresql_without_the_hash_key_is_one_line(tmp_path: Path, pg_database: str) -> None:
    result = run_elo(tmp_path, "--db", with_password(pg_database), "dnc", "list")
    assert result.returncode == 1
    line = one_line(result.stderr)
    assert "ELO_PRIVACY__HASH_KEY" in line and PASSWORD not in line


def test_backup_of_postgresql_points_to_pg_dump(tmp_path: Path) -> None:
    url = f"postgresql://elo:{PASSWORD}@db.invalid/elo"
    result = run_elo(tmp_path, "--db", url, "db", "backup", "copy.db", env=KEY)
    assert (result.returncode, result.stdout) == (2, "")
    line = one_line(result.stderr)
    assert "pg_dump" in line and "docs/deploy.md" in line
    assert not (tmp_path / "copy.db").exists()


def test_serve_on_postgresql_needs_the_hash_key(tmp_path: Path) -> None:
    url = f"postgresql://elo:{PASSWORD}@db.invalid/elo"
    result = run_elo(
        tmp_path,
        "--db",
        url,
        "serve",
        "--port",
        "0",
        env={"ELO_CLINIC__PROFILE_PATH": str(SAMPLE_PROFILE)},
    )
    assert (result.returncode, result.stdout) == (2, "")
    line = one_line(result.stderr)
    assert line.startswith("elo: set ELO_PRIVACY__HASH_KEY"), line
    assert PASSWORD not in line


def test_db_check_of_a_missing_sqlite_file_still_says_so(tmp_path: Path) -> None:
    result = run_elo(tmp_path, "--db", "sqlite:///none.db", "db", "check")
    assert result.returncode == 2
    assert one_line(result.stderr) == "elo: no database at none.db (see 'elo db init')"
    assert json.loads(result.stdout or "null") is None
