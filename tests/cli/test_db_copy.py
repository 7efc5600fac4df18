"""`elo db copy --from URL --to URL` end to end through the CLI entry, on a real SQLite file and a
fresh database of the session's PostgreSQL cluster: the verification it prints, its exit codes,
its refusals (one line), the hash-key reminder, the audit record, and no password ever printed."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from cli.main import main
from storage import Store
from storage.copy import COPY_TABLES
from storage.privacy_keys import key_file_for
from tests.conftest import TIRANE, FixedClock
from tests.storage.copy_data import ERASED, seed

Run = Callable[..., tuple[int, str, str]]
PASSWORD = "s3cret-Pw-never-shown"


@pytest.fixture
def elo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Run:
    """``main(argv)`` in tmp_path; returns code, out, err."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ELO_DATABASE__PATH", str(tmp_path / "unused.db"))
    monkeypatch.setenv("ELO_LOGGING__FILE", "none")

    def run(*argv: str) -> tuple[int, str, str]:
        try:
            code = main(list(argv))
        except SystemExit as exc:
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture
def clinic(tmp_path: Path, clock: FixedClock) -> Path:
    """A clinic's SQLite file with every kind of row (and its generated hash key file)."""
    path = tmp_path / "clinic.db"

    async def make() -> None:
        store = await Store.open(path, tz=TIRANE, clock=clock)
        try:
            await seed(store, clock)
        finally:
            await store.close()

    asyncio.run(make())
    return path


def with_password(url: str) -> str:
    """The test cluster trusts local logins; a password in the URL is accepted and ignored."""
    return url.replace("postgres@", f"postgres:{PASSWORD}@", 1)


def one_line(err: str) -> str:
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("elo: ")
    return lines[0]


async def _audit(url: str, key: str) -> list[tuple[str, str | None, str | None]]:
    store = await Store.open(url, tz=TIRANE, hash_key=key)
    try:
        return [(e.action, e.subject, json.dumps(e.detail)) for e in await store.audit.list()]
    finally:
        await store.close()


def test_sqlite_to_postgresql_and_back(
    elo: Run, clinic: Path, pg_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = with_password(pg_database)
    code, out, err = elo("db", "copy", "--from", f"sqlite:///{clinic}", "--to", target)
    assert code == 0, err
    result = json.loads(out)
    assert result["verified"] is True
    assert [t["table"] for t in result["tables"]] == [t.name for t in COPY_TABLES]
    for table in result["tables"]:
        assert table["equal"] is True
        assert table["source_rows"] == table["target_rows"] > 0
        assert table["source_sha256"] == table["target_sha256"]
    assert result["from"] == str(clinic)
    assert PASSWORD not in out + err and ":***@" in result["to"]
    # The reminder names the key file and how to pass it, never the key itself.
    key_file = key_file_for(clinic)
    key_hex = key_file.read_text().strip()
    note = one_line(err)
    assert f'ELO_PRIVACY__HASH_KEY="hex:$(cat {key_file})"' in note
    assert key_hex not in out + err
    # The copy is in the target's audit trail: engines only, no URL.
    key = f"hex:{key_hex}"
    entries = asyncio.run(_audit(pg_database, key))
    (copy_entry,) = [e for e in entries if e[0] == "db.copy"]
    assert copy_entry[1] == "sqlite -> postgresql"
    assert PASSWORD not in str(entries) and "127.0.0.1" not in str(copy_entry)
    # Copying again into the same (now non-empty) target: one line, exit 2, nothing written.
    code, out, err = elo("db", "copy", "--from", str(clinic), "--to", target)
    assert (code, out) == (2, "")
    assert "not empty (table patients has rows)" in one_line(err)
    assert PASSWORD not in err
    assert asyncio.run(_audit(pg_database, key)) == entries
    # Back to SQLite, with the key as the setting: the same tables, the erased number still listed.
    monkeypatch.setenv("ELO_PRIVACY__HASH_KEY", key)
    back = tmp_path / "back.db"
    code, out, err = elo("db", "copy", "--from", target, "--to", str(back))
    assert code == 0, err
    result = json.loads(out)
    assert result["verified"] is True
    assert "same ELO_PRIVACY__HASH_KEY" in one_line(err)

    async def listed() -> bool:
        store = await Store.open(back, tz=TIRANE, hash_key=key)
        try:
            return await store.dnc.is_listed(phone=ERASED)
        finally:
            await store.close()

    assert asyncio.run(listed())


def test_a_mismatch_exits_1_naming_the_tables(elo: Run, clinic: Path, pg_database: str) -> None:
    # A fraction in an integer column: SQLite keeps it, PostgreSQL's BIGINT cannot.
    with sqlite3.connect(clinic) as raw:
        raw.execute("UPDATE calls SET turns = 1.5 WHERE id = 'call-2'")
    code, out, err = elo("db", "copy", "--from", str(clinic), "--to", pg_database)
    assert code == 1
    result = json.loads(out)
    assert result["verified"] is False
    assert [t["table"] for t in result["tables"] if not t["equal"]] == ["calls"]
    assert err.splitlines()[-1] == "elo: verification failed for: calls"


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--to", "mysql://db/elo"], "--to: unknown database scheme 'mysql'"),
        (["--to", "postgresql://db"], "--to: postgresql URL without a database name"),
        (["--to", "sqlite://"], "--to: sqlite URL without a file"),
        (["--to", "postgresql:///elo"], "--to: postgresql URL without a host"),
    ],
)
def test_a_bad_url_is_one_line_exit_2(
    elo: Run, clinic: Path, argv: list[str], expected: str
) -> None:
    code, out, err = elo("db", "copy", "--from", str(clinic), *argv)
    assert (code, out) == (2, "")
    assert expected in one_line(err)


def test_a_missing_or_old_source_is_refused(elo: Run, tmp_path: Path) -> None:
    code, out, err = elo("db", "copy", "--from", "nothing.db", "--to", "new.db")
    assert (code, out) == (2, "")
    assert one_line(err) == "elo: no database at nothing.db"
    old = tmp_path / "old.db"
    with sqlite3.connect(old) as raw:
        raw.execute("PRAGMA user_version = 15")
    code, out, err = elo("db", "copy", "--from", str(old), "--to", "new.db")
    assert (code, out) == (2, "")
    assert "run `elo db init` on the source first" in one_line(err)
    with sqlite3.connect(old) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == 15  # never migrated


def test_the_same_database_twice_is_refused(elo: Run, clinic: Path) -> None:
    code, out, err = elo("db", "copy", "--from", str(clinic), "--to", f"sqlite:///{clinic}")
    assert (code, out) == (2, "")
    assert one_line(err) == "elo: --from and --to name the same database"


def test_postgresql_without_any_key_is_one_line(elo: Run, tmp_path: Path, pg_database: str) -> None:
    """A SQLite source that never made a key, to PostgreSQL, without ELO_PRIVACY__HASH_KEY."""
    assert elo("--db", str(tmp_path / "fresh.db"), "db", "init")[0] == 0
    code, out, err = elo("db", "copy", "--from", "fresh.db", "--to", with_password(pg_database))
    assert (code, out) == (1, "")
    line = one_line(err)
    assert "ELO_PRIVACY__HASH_KEY" in line and PASSWORD not in line


@pytest.mark.slow
def test_the_installed_command_in_a_subprocess(
    clinic: Path, pg_database: str, tmp_path: Path
) -> None:
    import os
    import subprocess
    import sys

    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("ELO_") and key != "PYTHONPATH"
    }
    env.update(
        {
            "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
            "ELO_LOGGING__FILE": "none",
        }
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "cli.main",
            "db",
            "copy",
            "--from",
            str(clinic),
            "--to",
            with_password(pg_database),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["verified"] is True
    assert PASSWORD not in done.stdout + done.stderr


def test_sqlite_to_sqlite_says_to_carry_the_key_file(
    elo: Run, clinic: Path, tmp_path: Path
) -> None:
    code, out, err = elo("db", "copy", "--from", str(clinic), "--to", "moved.db")
    assert code == 0, err
    assert json.loads(out)["verified"] is True
    line = one_line(err)
    assert f"copy {key_file_for(clinic)} to {key_file_for(Path('moved.db'))}" in line
    assert key_file_for(clinic).read_text().strip() not in line
