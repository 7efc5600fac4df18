"""Every failure of an ``elo`` command as one line on stderr and an exit code, never a traceback.

:func:`describe_failure` is the single mapping used by :func:`cli.main.main` around every
subcommand, so a command added later inherits it without doing anything.

Exit codes: 2 for input the command cannot use (a bad argument, a path that names no file, a file
that is not UTF-8, JSON nested too deeply, a number with thousands of digits, a broken CSV file,
bad configuration); 1 for an environment that fails (the database is locked, read-only, full or
damaged, the disk is full, a file cannot be written) or anything unexpected.
"""

from __future__ import annotations

import csv
import errno
import sqlite3
from dataclasses import dataclass

EXIT_FAILED = 1
EXIT_USAGE = 2

# One line on a terminal stays readable; the tail of a longer one is an echoed value anyway.
MAX_MESSAGE_CHARS = 300

_SQLITE_MESSAGES = (
    # (substring of SQLite's message, what staff should read)
    ("database is locked", "the database is locked by another process; try again shortly"),
    ("database table is locked", "the database is locked by another process; try again shortly"),
    (
        "readonly database",
        "the database is read-only (check the permissions of the file and its folder)",
    ),
    ("database or disk is full", "the database or the disk is full; free some space and retry"),
    (
        "disk i/o error",
        "the database could not be read or written (disk I/O error: is the disk full or failing?)",
    ),
    ("malformed", "the database file is damaged: run `elo db check`"),
    ("not a database", "the database file is not an SQLite database (or is encrypted)"),
    (
        "unable to open database",
        "the database file cannot be opened (check the path and permissions)",
    ),
)

_OS_MESSAGES = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is exhausted",
    errno.EFBIG: "a file grew beyond the size allowed",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EIO: "disk I/O error",
    errno.ENOENT: "no such file or folder",
    errno.ENOTDIR: "a part of the path is not a folder",
    errno.EISDIR: "is a folder, not a file",
    errno.ENAMETOOLONG: "file name too long",
}
_INPUT_ERRNOS = frozenset({errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.ENAMETOOLONG})


class UsageError(Exception):
    """Command-line input that cannot be used; the message is one line."""


class EnvironmentFailure(Exception):
    """The machine failed the command (e.g. a process that did not start); one line, exit 1."""


@dataclass(frozen=True)
class Failure:
    """How a failed command ends: its exit code and the line printed after ``elo: ``."""

    code: int
    message: str


def describe_failure(exc: BaseException) -> Failure:
    """Map an exception that escaped a command to an exit code and a one-line message.

    Args:
        exc: The exception.

    Returns:
        The failure to report; the message is a single line of at most
        :data:`MAX_MESSAGE_CHARS` characters.
    """
    from config.settings import ConfigError
    from storage.errors import PrivacyError, StoreError
    from validation.textfile import TextFileError

    if isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        # A task group failed; its first failure is the one to explain.
        return describe_failure(exc.exceptions[0])
    if isinstance(exc, UsageError | ConfigError | TextFileError):
        return _failure(EXIT_USAGE, str(exc))
    if isinstance(exc, StoreError):
        return _failure(EXIT_FAILED, _database_message(str(exc)))
    if isinstance(exc, EnvironmentFailure):
        return _failure(EXIT_FAILED, str(exc))
    if isinstance(exc, PrivacyError):
        # Written for a person already (a lost hash key, a number still in a call): say it as is.
        return _failure(EXIT_FAILED, str(exc))
    if isinstance(exc, RecursionError):
        return _failure(EXIT_USAGE, "the input is nested too deeply to be read")
    if isinstance(exc, UnicodeError):
        return _failure(EXIT_USAGE, f"the input is not valid text ({_reason(exc)}); use UTF-8")
    if isinstance(exc, csv.Error):
        return _failure(EXIT_USAGE, f"the CSV file cannot be read ({exc})")
    if isinstance(exc, ValueError) and "integer string conversion" in str(exc):
        return _failure(EXIT_USAGE, "the input has a number with too many digits")
    if isinstance(exc, sqlite3.Error):
        return _failure(EXIT_FAILED, _database_message(str(exc)))
    if isinstance(exc, OSError) and exc.errno in _INPUT_ERRNOS:
        # A path given on the command line that cannot name a file: the input, not the machine.
        return _failure(EXIT_USAGE, _os_message(exc))
    if isinstance(exc, OSError):
        return _failure(EXIT_FAILED, _os_message(exc))
    if isinstance(exc, MemoryError):
        return _failure(EXIT_FAILED, "out of memory")
    return _failure(
        EXIT_FAILED, f"unexpected error ({type(exc).__name__}); details are in the log file"
    )


def one_line(text: str) -> str:
    """``text`` on one line, shortened to :data:`MAX_MESSAGE_CHARS` characters."""
    line = " ".join(text.split())
    if len(line) > MAX_MESSAGE_CHARS:
        line = line[: MAX_MESSAGE_CHARS - 1] + "…"
    return line


def _failure(code: int, message: str) -> Failure:
    return Failure(code, one_line(message) or "failed")


def _database_message(text: str) -> str:
    lowered = text.lower()
    for fragment, message in _SQLITE_MESSAGES:
        if fragment in lowered:
            # A StoreError names the file first ("cannot use database X: ..."): keep that part.
            prefix, sep, _ = text.partition(": ")
            return f"{prefix}: {message}" if sep and "database" in prefix else message
    return text if "database" in lowered else f"database error: {text}"


def _os_message(exc: OSError) -> str:
    what = _OS_MESSAGES.get(exc.errno or 0) or exc.strerror or type(exc).__name__
    # The file name is cut short: a 200,000-character "path" is an echoed value, not a clue.
    return f"{what}: {str(exc.filename)[:120]}" if exc.filename else what


def _reason(exc: UnicodeError) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return f"{exc.encoding} cannot decode byte {exc.object[exc.start : exc.start + 1]!r}"
    return type(exc).__name__
