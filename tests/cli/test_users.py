"""`elo user`: add, disable, enable, reset, list and totp, each audited, no secret printed but the
new TOTP secret; every refusal one line."""

from __future__ import annotations

import io
import json
import sqlite3
from pathlib import Path

import pyotp
import pytest

from cli.main import main

PASSWORD = "a long enough password"


@pytest.fixture
def elo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture):
    db = tmp_path / "elo.db"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ELO_DATABASE__PATH", str(db))
    monkeypatch.setenv("ELO_LOGGING__FILE", "none")

    def run(*argv: str, stdin: str = "") -> tuple[int, str, str]:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    run.db = db  # type: ignore[attr-defined]
    return run


def test_users_are_added_changed_and_audited(elo) -> None:
    code, out, err = elo("user", "add", "Arta", "--role", "admin", stdin=PASSWORD + "\n")
    assert (code, err) == (0, "")
    assert json.loads(out)["user"] == {
        "name": "Arta",
        "role": "admin",
        "language": "sq",
        "disabled": False,
        "totp": False,
        "locked_until": None,
    }
    assert elo("user", "add", "Besa", "--role", "staff", "--language", "en", stdin=PASSWORD)[0] == 0
    code, out, _ = elo("user", "totp", "Arta")
    enrolled = json.loads(out)
    assert enrolled["otpauth_uri"].startswith("otpauth://totp/")
    assert pyotp.parse_uri(enrolled["otpauth_uri"]).secret == enrolled["totp_secret"]
    assert elo("user", "disable", "Besa")[0] == 0
    assert elo("user", "enable", "besa")[0] == 0
    assert elo("user", "reset", "Besa", stdin="another long password\n")[0] == 0
    code, out, _ = elo("user", "list")
    listed = json.loads(out)["users"]
    assert [(u["name"], u["totp"]) for u in listed] == [("Arta", True), ("Besa", False)]
    assert "argon2" not in out and PASSWORD not in out

    with sqlite3.connect(elo.db) as conn:
        hashes = [row[0] for row in conn.execute("SELECT password_hash FROM users")]
        trail = conn.execute("SELECT action, subject, detail FROM audit_log ORDER BY id").fetchall()
    assert all(h.startswith("$argon2id$") for h in hashes)
    assert [row[0] for row in trail] == [
        "user.add",
        "user.add",
        "user.totp",
        "user.disable",
        "user.enable",
        "user.reset",
    ]
    assert PASSWORD not in repr(trail) and enrolled["totp_secret"] not in repr(trail)


@pytest.mark.parametrize(
    ("argv", "stdin", "expected"),
    [
        (("user", "add", "Cen", "--role", "staff"), "short\n", "at least 12 characters"),
        (("user", "add", "Cen", "--role", "staff"), "", "no password given"),
        (("user", "add", "Arta", "--role", "staff"), PASSWORD, "already exists"),
        (("user", "add", "   ", "--role", "staff"), PASSWORD, "the name is empty"),
        (
            ("user", "add", "Cen Cenollari", "--role", "staff"),
            "cen cenollari\n",
            "must not be the user's name",
        ),
        (("user", "disable", "Nobody"), "", "no user named 'Nobody'"),
        (("user", "disable", "Arta"), "", "last admin"),
        (("user", "totp", "Besa"), "", "one-time codes are for admins"),
    ],
)
def test_refusals_are_one_line_exit_2(
    elo, argv: tuple[str, ...], stdin: str, expected: str
) -> None:
    assert elo("user", "add", "Arta", "--role", "admin", stdin=PASSWORD)[0] == 0
    assert elo("user", "add", "Besa", "--role", "staff", stdin=PASSWORD)[0] == 0
    code, out, err = elo(*argv, stdin=stdin)
    assert (code, out) == (2, "")
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("elo: ")
    assert expected in lines[0]
    assert "Traceback" not in err
