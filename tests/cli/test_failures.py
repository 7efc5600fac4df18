"""Every `elo` subcommand, hostile input and a sick database: one line on stderr, never a traceback.

The subcommands are discovered from the parser, so commands added later are covered without
touching this file. Each runs in-process (``cli.main.main``) against a copy of one shared,
populated database; a few run as real processes to prove that no traceback reaches stderr.

Conditions: input the command cannot use exits 2; a locked, read-only, full or damaged
database exits 1, and the database file is left exactly as it was.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import resource
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from cli.main import build_parser, main
from storage import Store
from storage.errors import PrivacyError
from tests.cli.test_main import run_elo
from tests.storage.test_health import corrupt_pages, fill_patients

CAMPAIGN = "Recall"
PHONE = "069 123 4567"
LISTED = "069 111 2233"  # on the template's do-not-call list
NESTED = "[" * 100_000
HUGE_INT = "9" * 5000
LONG = "x" * 200_000
PASSWORD = "a long enough password"


def leaf_commands(parser: argparse.ArgumentParser) -> list[tuple[tuple[str, ...], Any]]:
    """Every runnable subcommand path, e.g. ('campaign', 'import'), with its parser."""
    found: list[tuple[tuple[str, ...], Any]] = []

    def walk(node: argparse.ArgumentParser, path: tuple[str, ...]) -> None:
        subs = [a for a in node._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs:
            found.append((path, node))
            return
        for name, child in subs[0].choices.items():
            walk(child, (*path, name))

    walk(parser, ())
    return found


LEAVES = leaf_commands(build_parser())
LEAF_IDS = [" ".join(path) for path, _ in LEAVES]
# Commands that never open the database (everything else must, or the sick-database runs
# below would test nothing). New commands are run too, just not held to this list.
NO_DATABASE = {"tools", "config check"}
KNOWN_LEAVES = {
    "tool",
    "tools",
    "db init",
    "db check",
    "db backup",
    "db copy",
    "stats",
    "import-legacy",
    "dnc add",
    "dnc remove",
    "dnc list",
    "campaign create",
    "campaign import",
    "campaign status",
    "campaign list",
    "campaign run",
    "campaign start",
    "campaign pause",
    "campaign resume",
    "campaign stop",
    "config check",
    "serve",
    "user add",
    "user disable",
    "user enable",
    "user reset",
    "user list",
    "user totp",
    "reminders run",
    "messages list",
    "messages opt-out",
    "recall build",
    "figures attendance",
}
# Commands that write: on a full disk they must fail (exit 1), not pretend.
WRITERS = {
    "dnc add",
    "campaign create",
    "campaign import",
    "import-legacy",
    "dnc remove",
    "campaign start",
    "campaign stop",
    "user add",
    "user disable",
    "user enable",
    "user reset",
    "user totp",
    "recall build",
}


def test_the_known_subcommands_are_discovered() -> None:
    assert KNOWN_LEAVES <= set(LEAF_IDS)


def value_for(path: tuple[str, ...], action: argparse.Action, files: dict[str, Path]) -> str:
    """A usable value for a positional or required option, so the command reaches its work."""
    if action.choices:
        return str(next(iter(action.choices)))
    if path == ("db", "copy"):
        # From the clinic's database (the working folder's elo.db) into a new file beside it.
        return "elo.db" if action.dest == "source" else "copy.db"
    if path == ("tool",) and action.dest == "name":
        return "get_clinic_stats"
    if path == ("campaign", "create") and action.dest == "name":
        return "New campaign"
    if path == ("figures", "attendance"):
        return "2026-12-01"
    if path == ("recall", "build") and action.dest == "name":
        return "New recall"
    if path == ("user", "add") and action.dest == "name":
        return "New user"
    if action.dest == "name":
        return CAMPAIGN
    if path == ("dnc", "remove"):
        return LISTED
    if action.dest == "phone":
        return PHONE
    if action.type is Path or action.dest == "file":
        return str(files["csv"] if path[0] == "campaign" else files["json"])
    return "1"


def sane_argv(path: tuple[str, ...], parser: Any, files: dict[str, Path]) -> list[str]:
    argv = list(path)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction | argparse._HelpAction):
            continue
        if action.option_strings:
            if action.required:
                argv += [action.option_strings[0], value_for(path, action, files)]
        elif action.nargs not in ("?", "*"):
            argv.append(value_for(path, action, files))
    return argv


def value_slots(path: tuple[str, ...], parser: Any) -> list[argparse.Action]:
    """The arguments of the command itself that take a value (not the shared --db etc.)."""
    shared = {"db", "env_file", "verbose", "help"}
    return [
        action
        for action in parser._actions
        if action.dest not in shared
        and not isinstance(action, argparse._SubParsersAction)
        and action.nargs != 0
        and not action.choices
    ]


# ----------------------------------------------------------------------------- shared database


def _inputs(folder: Path, phone: str = "0675556677") -> dict[str, Path]:
    csv = folder / "contacts.csv"
    csv.write_text(f"name,phone\nArta Hoxha,{phone}\n", encoding="utf-8")
    legacy = folder / "legacy.json"
    legacy.write_text(
        json.dumps(
            {
                "follow_ups": [
                    {"name": "Drita Kola", "phone": "0672345678", "date": "tomorrow 11:00"}
                ]
            }
        ),
        encoding="utf-8",
    )
    return {"csv": csv, "json": legacy}


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database with patients, a campaign and a do-not-call entry, made once per module."""
    folder = tmp_path_factory.mktemp("template")
    db = folder / "elo.db"
    files = _inputs(folder, phone="0682223344")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        patch.setenv("ELO_DATABASE__PATH", str(db))
        patch.setenv("ELO_LOGGING__FILE", "none")
        assert main(["campaign", "create", CAMPAIGN, "--purpose", "recall"]) == 0
        assert main(["campaign", "import", CAMPAIGN, str(files["csv"])]) == 0
        assert main(["dnc", "add", LISTED]) == 0
        # An admin named like the campaign (the name every `elo user` command is given), and a
        # second one so that disabling the first is allowed.
        for name in (CAMPAIGN, "Second admin"):
            patch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
            assert main(["user", "add", name, "--role", "admin"]) == 0
    fill_patients(db, 3000)  # enough pages to damage only the middle of the file
    return db


@pytest.fixture
def cli(
    template: Path,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
) -> Callable[..., tuple[int, str, str]]:
    """Run ``main(argv)`` on a fresh copy of the template; returns code, out, err.

    The folder is directly under the system temp folder so that another user can reach it.
    """
    folder = Path(tempfile.mkdtemp(prefix="elo-cli-"))
    folder.chmod(0o755)
    request.addfinalizer(lambda: shutil.rmtree(folder, ignore_errors=True))
    db = folder / "elo.db"
    shutil.copyfile(template, db)
    monkeypatch.chdir(folder)
    monkeypatch.setenv("ELO_DATABASE__PATH", str(db))
    monkeypatch.setenv("ELO_LOGGING__FILE", "none")
    monkeypatch.setenv("ELO_DATABASE__BUSY_TIMEOUT_MS", "100")
    # `elo user add|reset` read the new password from standard input when it is not a terminal.
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    # `elo serve` must reach the database, not stop at a port another program holds.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        monkeypatch.setenv("ELO_SERVER__PORT", str(probe.getsockname()[1]))
    capsys.readouterr()

    def run(argv: list[str]) -> tuple[int, str, str]:
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse refuses an argument (one line, exit 2)
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        return code, out, err

    run.db = db  # type: ignore[attr-defined]
    run.files = _inputs(folder)  # type: ignore[attr-defined]
    return run


def one_line(err: str) -> str:
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err[:2000]
    assert lines[0].startswith("elo: ")
    assert len(lines[0]) < 400
    return lines[0]


def digest(db: Path) -> str:
    """The database's content once every connection is closed (WAL checkpointed)."""
    return hashlib.sha256(db.read_bytes()).hexdigest()


# ------------------------------------------------------------------------------ sick databases


@contextlib.contextmanager
def locked(db: Path) -> Iterator[None]:
    """Another process holds the write lock for the whole run."""
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        yield
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def _import_everything() -> None:
    """Import every application module now, while the test runs as root.

    Commands import their parts lazily; as nobody, a Python installed under /root (pyenv) could
    not read its own standard library, and the command would fail for a reason no clinic meets.
    """
    import importlib
    import pkgutil

    for package in ("app", "campaign", "cli", "config", "pipeline", "service", "storage"):
        root = importlib.import_module(package)
        for module in pkgutil.walk_packages(root.__path__, prefix=f"{package}."):
            importlib.import_module(module.name)
    for module in ("uvicorn", "fastapi", "httpx", "livekit.api"):
        importlib.import_module(module)


@contextlib.contextmanager
def read_only(db: Path) -> Iterator[None]:
    """The file cannot be written by whoever runs elo (root ignores modes: act as nobody)."""
    _import_everything()
    db.chmod(0o444)
    db.parent.chmod(0o777)  # the -wal and -shm files may still be created
    as_root = os.geteuid() == 0
    if as_root:
        os.setegid(65534)
        os.seteuid(65534)
    try:
        yield
    finally:
        if as_root:
            os.seteuid(0)
            os.setegid(0)
        db.chmod(0o644)


@contextlib.contextmanager
def disk_full(db: Path) -> Iterator[None]:
    """No file may grow past 4 KiB, so any write to the WAL fails (SIGXFSZ is ignored by Python).

    A second connection keeps the WAL index open, as the running bot would; without it even
    opening fails, which the locked and read-only cases already cover.
    """
    keeper = sqlite3.connect(db)
    keeper.execute("SELECT count(*) FROM sqlite_schema").fetchone()
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        keeper.close()


@contextlib.contextmanager
def damaged(db: Path) -> Iterator[None]:
    corrupt_pages(db)
    yield


CONDITIONS = {
    "locked": (locked, ("locked by another process",)),
    "read-only": (read_only, ("read-only",)),
    # SQLite reports a write cut short as "full", one refused outright as an I/O error.
    "disk-full": (disk_full, ("full", "disk I/O error")),
    "damaged": (damaged, ("failed its integrity check",)),
}
# Where reading still works: commands that only read may succeed, or stop at a usage problem.
READABLE = {"read-only", "disk-full"}


@pytest.mark.parametrize("condition", list(CONDITIONS))
@pytest.mark.parametrize(("path", "parser"), LEAVES, ids=LEAF_IDS)
def test_a_sick_database_is_one_line_exit_1_and_nothing_written(
    cli: Callable[..., tuple[int, str, str]],
    monkeypatch: pytest.MonkeyPatch,
    path: tuple[str, ...],
    parser: Any,
    condition: str,
) -> None:
    db: Path = cli.db  # type: ignore[attr-defined]
    argv = sane_argv(path, parser, cli.files)  # type: ignore[attr-defined]
    make, expected = CONDITIONS[condition]
    opened: list[Path] = []
    real_open = Store.open.__func__  # type: ignore[attr-defined]

    async def spy(cls: type[Store], file: Path, **kwargs: Any) -> Store:
        opened.append(Path(file))
        return await real_open(cls, file, **kwargs)

    monkeypatch.setattr(Store, "open", classmethod(spy))
    if condition == "damaged":
        corrupt_pages(db)
        make = contextlib.nullcontext  # type: ignore[assignment]
    before = digest(db)
    with make(db):
        code, out, err = cli(argv)
    name = " ".join(path)
    if not opened:
        assert name not in KNOWN_LEAVES or name in NO_DATABASE, (name, code, err)
        assert code in (0, 2), err
        if code:
            one_line(err)
        return
    assert name not in NO_DATABASE
    if condition in READABLE and name not in WRITERS and code in (0, 2):
        if code:
            one_line(err)
    else:
        assert code == 1, (name, code, err)
        line = one_line(err)
        if path == ("db", "check") and condition == "damaged":
            report = json.loads(out)
            assert report["healthy"] is False and report["problems"]
            assert "problem(s)" in line
        else:
            assert any(fragment in line for fragment in expected), line
            assert out == ""
    assert digest(db) == before, "the database changed"


# ------------------------------------------------------------------------------ hostile input

ENV_FILES = {
    "utf-16-bom": "ELO_DATABASE__BUSY_TIMEOUT_MS=1000\n".encode("utf-16"),
    "utf-16-no-bom": "ELO_DATABASE__BUSY_TIMEOUT_MS=1000\n".encode("utf-16-le"),
    "latin-1": "ELO_CALLING__VOICEMAIL_MESSAGE_SQ=Përshëndetje\n".encode("latin-1"),
    "nested-json": f"ELO_VALIDATION__ALLOWED_PHONE_REGIONS={NESTED}\n".encode(),
    "huge-integer": f"ELO_CLINIC__BOOKING_HORIZON_DAYS={HUGE_INT}\n".encode(),
    "huge-value": f"ELO_GOOGLE__MODEL={LONG}\nELO_PIPELINE__LANGUAGE={LONG}\n".encode(),
}


@pytest.mark.parametrize("variant", list(ENV_FILES))
@pytest.mark.parametrize(("path", "parser"), LEAVES, ids=LEAF_IDS)
def test_an_unusable_env_file_is_one_line_and_exit_2(
    cli: Callable[..., tuple[int, str, str]], path: tuple[str, ...], parser: Any, variant: str
) -> None:
    env_file = Path("hostile.env")
    env_file.write_bytes(ENV_FILES[variant])
    argv = ["--env-file", str(env_file), *sane_argv(path, parser, cli.files)]  # type: ignore[attr-defined]
    before = digest(cli.db)  # type: ignore[attr-defined]
    code, out, err = cli(argv)
    assert code == 2, (variant, err[:500])
    assert out == ""
    one_line(err)
    assert digest(cli.db) == before  # type: ignore[attr-defined]


@pytest.mark.parametrize(("path", "parser"), LEAVES, ids=LEAF_IDS)
def test_hostile_values_in_every_argument_never_traceback(
    cli: Callable[..., tuple[int, str, str]], path: tuple[str, ...], parser: Any
) -> None:
    """Each value the command takes, in turn: deeply nested JSON, 5,000 digits, 200,000 chars."""
    files = cli.files  # type: ignore[attr-defined]
    base = sane_argv(path, parser, files)
    for action in value_slots(path, parser):
        for hostile in (NESTED, HUGE_INT, LONG):
            if action.option_strings:
                argv = [*base, action.option_strings[0], hostile]
            else:
                # Replace this positional's value (positionals follow the command words).
                positionals = [a for a in parser._actions if not a.option_strings]
                argv = base.copy()
                index = len(path) + positionals.index(action)
                if action.nargs in ("?", "*"):
                    argv.insert(index, hostile)  # sane_argv leaves optional positionals out
                else:
                    argv[index] = hostile
            code, _, err = cli(argv)
            assert code in (0, 2), (argv[: len(path) + 1], action.dest, code, err[:500])
            if code:
                one_line(err)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["tool", "get_clinic_stats", "--args", NESTED], "--args is nested too deeply"),
        (
            ["tool", "get_clinic_stats", "--args", f'{{"days": {HUGE_INT}}}'],
            "--args has a number with too many digits",
        ),
        (["tool", "search_web", "--args", json.dumps({"query": LONG})], None),
        (["stats", "--days", HUGE_INT], "invalid int value"),
        (
            ["campaign", "create", "X", "--purpose", "recall", "--retry", f"busy={HUGE_INT}"],
            "--retry",
        ),
        (["campaign", "create", "X", "--purpose", "recall", "--max-attempts", HUGE_INT], "invalid"),
        (["campaign", "create", LONG, "--purpose", "recall"], "name"),
        (["dnc", "add", HUGE_INT], "phone"),
    ],
    ids=[
        "nested-args",
        "huge-int-args",
        "long-string-args",
        "huge-days",
        "huge-retry",
        "huge-max-attempts",
        "long-name",
        "huge-phone",
    ],
)
def test_hostile_arguments(
    cli: Callable[..., tuple[int, str, str]], argv: list[str], expected: str | None
) -> None:
    code, out, err = cli(argv)
    if expected is None:  # a tool answering with an error result is a normal exit
        assert code == 0 and err == ""
        assert "error" in json.loads(out)
        return
    assert code == 2, err[:500]
    assert expected in one_line(err)


FILES = {
    "nested-json": (b'{"appointments": ' + b"[" * 100_000 + b"}", "nested too deeply"),
    "huge-integer-json": (
        b'{"appointments": [{"phone": ' + HUGE_INT.encode() + b"}]}",
        "a number with too many digits",
    ),
    "utf-16-bom": ('{"appointments": []}'.encode("utf-16"), "is UTF-16 text"),
    "utf-16-no-bom": ('{"appointments": []}'.encode("utf-16-le"), "NUL bytes"),
    "latin-1": ('{"appointments": [{"name": "Arbër"}]}'.encode("latin-1"), "is not UTF-8"),
    "csv-long-field": (
        b"name,phone\nArta Hoxha,0691234567\n" + LONG.encode() + b",1\n",
        "a field is longer than 131,072 characters",
    ),
    "csv-repeated-column": (
        b"name,phone,phone\nArta Hoxha,0691234567,0682223344\n",
        "more than once",
    ),
    "csv-utf-16": ("name,phone\nArbër Çela,0691234567\n".encode("utf-16"), "is UTF-16 text"),
    "csv-latin-1": ("name,phone\nArbër Çela,0691234567\n".encode("latin-1"), "is not UTF-8"),
}


@pytest.mark.parametrize("variant", list(FILES))
def test_hostile_input_files_are_one_line_and_exit_2(
    cli: Callable[..., tuple[int, str, str]], variant: str
) -> None:
    data, expected = FILES[variant]
    path = Path("input.csv" if variant.startswith("csv") else "input.json")
    path.write_bytes(data)
    argv = (
        ["campaign", "import", CAMPAIGN, str(path)]
        if variant.startswith("csv")
        else ["import-legacy", str(path)]
    )
    before = digest(cli.db)  # type: ignore[attr-defined]
    code, out, err = cli(argv)
    assert code == 2 and out == ""
    line = one_line(err)
    assert expected in line
    assert "Arbër" not in line and "Hoxha" not in line
    assert digest(cli.db) == before  # type: ignore[attr-defined]


# ---------------------------------------------------------------------- as real processes


@pytest.mark.slow
def test_no_traceback_reaches_stderr_of_a_real_process(template: Path, tmp_path: Path) -> None:
    """Locked, damaged and full databases and nested input, run as `python -m cli.main`."""
    env = {"ELO_LOGGING__FILE": "none", "ELO_DATABASE__BUSY_TIMEOUT_MS": "100"}

    def fresh(name: str) -> Path:
        db = tmp_path / name
        shutil.copyfile(template, db)
        return db

    db = fresh("locked.db")
    with locked(db):
        result = run_elo(tmp_path, "dnc", "add", PHONE, env={**env, "ELO_DATABASE__PATH": str(db)})
    assert result.returncode == 1 and "locked" in one_line(result.stderr)

    db = fresh("damaged.db")
    corrupt_pages(db)
    result = run_elo(
        tmp_path,
        "campaign",
        "create",
        "New",
        "--purpose",
        "recall",
        env={**env, "ELO_DATABASE__PATH": str(db)},
    )
    assert result.returncode == 1 and "integrity check" in one_line(result.stderr)
    result = run_elo(tmp_path, "db", "check", env={**env, "ELO_DATABASE__PATH": str(db)})
    assert result.returncode == 1 and json.loads(result.stdout)["healthy"] is False
    one_line(result.stderr)

    result = run_elo(tmp_path, "tool", "get_clinic_stats", "--args", NESTED, env=env)
    assert result.returncode == 2 and "nested too deeply" in one_line(result.stderr)

    # A real process whose files may not grow past 4 KiB (EFBIG, as on a full disk), logging to
    # a file already past that size: loguru's own error reports must not reach stderr either.
    db = fresh("full.db")
    log = tmp_path / "full.jsonl"
    log.write_text("{}\n" * 2000)
    before = digest(db)
    keeper = sqlite3.connect(db)
    keeper.execute("SELECT count(*) FROM sqlite_schema").fetchone()
    full_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ELO_")},
        **env,
        "ELO_DATABASE__PATH": str(db),
        "ELO_LOGGING__FILE": str(log),
    }
    results = {}
    try:
        for args in (("dnc", "add", PHONE), ("tool", "get_clinic_info")):
            results[args[0]] = subprocess.run(
                [sys.executable, "-m", "cli.main", *args],
                cwd=tmp_path,
                env=full_env,
                preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096)),
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
    finally:
        keeper.close()
    result = results["dnc"]
    assert result.returncode == 1, result.stderr
    line = one_line(result.stderr)
    assert any(fragment in line for fragment in CONDITIONS["disk-full"][1]), line
    result = results["tool"]  # reading works; the lost log lines are one warning
    assert result.returncode == 0 and json.loads(result.stdout)["name"]
    assert one_line(result.stderr) == (
        "elo: warning: the log file could not be written (is the disk full?)"
    )
    assert digest(db) == before


# ------------------------------------------------------------------------------- elo db check


def test_db_check_passes_a_healthy_database(cli: Callable[..., tuple[int, str, str]]) -> None:
    code, out, err = cli(["db", "check"])
    assert (code, err) == (0, "")
    report = json.loads(out)
    assert report["healthy"] is True and report["problems"] == []
    assert set(report["checks"].values()) == {"ok"}


def test_db_check_names_each_problem_and_exits_1(cli: Callable[..., tuple[int, str, str]]) -> None:
    """An active appointment holding no slots: a double booking waiting to happen."""
    with sqlite3.connect(cli.db) as conn:  # type: ignore[attr-defined]
        (appointment_id,) = conn.execute(
            "INSERT INTO appointments (patient_id, service_id, chair, starts_at, ends_at,"
            " price_lek, source, created_at) VALUES (1, 'checkup', 1, '2026-12-02T09:00:00Z',"
            " '2026-12-02T09:30:00Z', 2000, 'import', '2026-12-01T08:00:00Z') RETURNING id"
        ).fetchone()
        conn.execute(
            "INSERT INTO call_analytics (day, total_calls, converted_calls) VALUES"
            " ('2026-12-01', 1, 0)"
        )
    code, out, err = cli(["db", "check"])
    assert code == 1
    assert one_line(err) == "elo: database check found 2 problem(s)"
    report = json.loads(out)
    assert report["healthy"] is False
    assert report["problems"] == [
        f"appointment_slots: appointment {appointment_id} holds 0 of its 1 slot(s)"
        " and 0 other slot row(s)",
        "call_analytics: 2026-12-01: total_calls 1 (rows say 0)",
    ]
    assert "Patient" not in out and "+355" not in out


def test_db_check_without_a_database_is_a_usage_error(
    cli: Callable[..., tuple[int, str, str]],
) -> None:
    code, out, err = cli(["db", "check", "--db", "missing.db"])
    assert (code, out) == (2, "")
    assert "no database at missing.db" in one_line(err)
    assert not Path("missing.db").exists()


# ------------------------------------------------------------------------- the mapping itself


@pytest.mark.parametrize(
    ("exc", "code", "fragment"),
    [
        (OSError(28, "No space left on device", "/srv/elo/out.json"), 1, "the disk is full"),
        (OSError(30, "Read-only file system", "/srv/elo/elo.db"), 1, "file system is read-only"),
        (PermissionError(13, "Permission denied", "/srv/elo/elo.db"), 1, "permission denied"),
        (sqlite3.OperationalError("database is locked"), 1, "locked by another process"),
        (sqlite3.OperationalError("disk I/O error"), 1, "disk I/O error"),
        (sqlite3.OperationalError("database or disk is full"), 1, "full"),
        (sqlite3.OperationalError("attempt to write a readonly database"), 1, "read-only"),
        (sqlite3.DatabaseError("database disk image is malformed"), 1, "elo db check"),
        (RecursionError(), 2, "nested too deeply"),
        (ValueError("Exceeds the limit (4300 digits) for integer string conversion"), 2, "digits"),
        (UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"), 2, "UTF-8"),
        (MemoryError(), 1, "out of memory"),
        (FileNotFoundError(2, "No such file or directory", "export.json"), 2, "no such file"),
        (OSError(36, "File name too long", "x" * 5000), 2, "file name too long"),
        (RuntimeError("Arbër Çela +355691234567"), 1, "unexpected error (RuntimeError)"),
        (
            PrivacyError("the do-not-call list holds erased numbers but their hash key is missing"),
            1,
            "hash key is missing",
        ),
        (ExceptionGroup("tasks", [sqlite3.OperationalError("database is locked")]), 1, "locked"),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else None,
)
def test_every_failure_maps_to_one_line_and_a_code(
    exc: BaseException, code: int, fragment: str
) -> None:
    from cli.failures import describe_failure

    failure = describe_failure(exc)
    assert failure.code == code
    assert fragment in failure.message
    assert "\n" not in failure.message
    assert "Arbër" not in failure.message and "+355" not in failure.message


def test_an_unexpected_error_is_one_line_exit_1(
    cli: Callable[..., tuple[int, str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise KeyError("+355691234567")

    monkeypatch.setattr("cli.main._tool_list", broken)
    code, out, err = cli(["tools"])
    assert (code, out) == (1, "")
    assert one_line(err) == "elo: unexpected error (KeyError); details are in the log file"
