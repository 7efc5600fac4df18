"""A throwaway PostgreSQL cluster for tests and benchmarks, started from Debian's binaries.

The cluster lives in one directory (data, log and Unix socket) on a private port on 127.0.0.1 and
is removed by :meth:`PostgresCluster.stop`. It is never a server left running for anything else:
its settings give up durability for speed (unless started ``durable``, for benchmarks).

initdb refuses to run as root, so under root (CI containers) the server runs as the ``postgres``
OS user that Debian's package creates. That user must be able to reach the cluster's directory:
pytest's tmp dirs under ``/tmp/pytest-of-root`` are mode 0700, so root callers should put the
cluster in :func:`new_base_dir` (a fresh directory directly under ``/tmp``).
"""

from __future__ import annotations

import atexit
import os
import pwd
import re
import shutil
import socket
import stat
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

from devtools.postgres_orphans import mark_owner, stop_orphans

DEFAULT_ROOT = Path("/usr/lib/postgresql")
NEEDED = ("initdb", "pg_ctl", "postgres")
INSTALL_HINT = (
    "PostgreSQL server binaries not found under {root} "
    "(install Debian's `postgresql` package: apt-get install postgresql)"
)
OS_USER = "postgres"
SUPERUSER = "postgres"
LOG_LINES = 20
START_TIMEOUT_S = 60
# A free port is found by binding to port 0 and closing the socket, so another process may take it
# before the server binds it: an automatically chosen port is retried this many times.
PORT_ATTEMPTS = 3
SERVER_TIMEZONE = "Europe/Tirane"


class PostgresUnavailable(RuntimeError):
    """PostgreSQL cannot be started here: binaries missing, or initdb/the server failed."""


def find_binaries(root: Path = DEFAULT_ROOT) -> Path:
    """Find the newest PostgreSQL server installation under ``root``.

    Args:
        root: Where Debian installs the versions (``<root>/<N>/bin``).

    Returns:
        The ``bin`` directory of the highest version that has initdb, pg_ctl and postgres.

    Raises:
        PostgresUnavailable: When no version there has all three.
    """
    versions: list[tuple[int, Path]] = []
    if root.is_dir():
        for child in root.iterdir():
            bin_dir = child / "bin"
            if child.name.isdigit() and all(os.access(bin_dir / n, os.X_OK) for n in NEEDED):
                versions.append((int(child.name), bin_dir))
    if not versions:
        raise PostgresUnavailable(INSTALL_HINT.format(root=root))
    return max(versions)[1]


def new_base_dir(prefix: str = "elo-pg-") -> Path:
    """Create a fresh directory directly under ``/tmp`` for a cluster.

    ``/tmp`` is world-traversable, so the ``postgres`` OS user reaches the directory even when the
    caller is root (unlike pytest's 0700 tmp dirs). The path is short too: a Unix socket path
    must stay under 108 bytes.

    Args:
        prefix: The directory name's prefix.

    Returns:
        The new, empty directory (mode 0700; :meth:`PostgresCluster.start` gives it to the server's
        user).
    """
    return Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that was free on ``host`` a moment ago (the kernel's choice for port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def quote_ident(name: str) -> str:
    """Quote a SQL identifier (a database name) for PostgreSQL."""
    return '"' + name.replace('"', '""') + '"'


def _cluster_locale() -> str:
    """C.UTF-8 when this system has it (byte-order collation, UTF-8 ctype), else plain C."""
    program = shutil.which("locale")
    if program is None:
        return "C"
    listed = subprocess.run([program, "-a"], capture_output=True, text=True, check=False)  # noqa: S603
    names = {line.strip().lower().replace("-", "") for line in listed.stdout.splitlines()}
    return "C.UTF-8" if "c.utf8" in names else "C"


def _check_reachable(base_dir: Path, user: pwd.struct_passwd) -> None:
    """Raise when ``user`` cannot traverse a parent directory of ``base_dir``."""
    for parent in base_dir.resolve().parents:
        info = parent.stat()
        if info.st_uid == user.pw_uid:
            ok = bool(info.st_mode & stat.S_IXUSR)
        elif info.st_gid == user.pw_gid:
            ok = bool(info.st_mode & stat.S_IXGRP)
        else:
            ok = bool(info.st_mode & stat.S_IXOTH)
        if not ok:
            raise PostgresUnavailable(
                f"the {user.pw_name!r} OS user cannot reach {base_dir}: {parent} is mode "
                f"{stat.S_IMODE(info.st_mode):04o}; use devtools.postgres.new_base_dir()"
            )


def _tail(path: Path, lines: int = LOG_LINES) -> str:
    """The last ``lines`` lines of a log file, or a note that there is none."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"(no server log at {path})"
    return "\n".join(text.splitlines()[-lines:])


class PostgresCluster:
    """A running throwaway cluster: one directory, one port on ``host``, superuser ``postgres``.

    Use :meth:`start` to create one, and :meth:`stop` (or a ``with`` block) to end it.
    """

    def __init__(self, *, bin_dir: Path, base_dir: Path, host: str, port: int, as_user: str | None):
        self.bin_dir = bin_dir
        self.base_dir = base_dir
        self._host = host
        self._port = port
        self._as_user = as_user
        self._running = True
        self._durable = False

    @classmethod
    def start(
        cls,
        base_dir: Path,
        *,
        listen: str = "127.0.0.1",
        port: int | None = None,
        allow: tuple[str, ...] = (),
        bin_dir: Path | None = None,
        durable: bool = False,
    ) -> PostgresCluster:
        """Create a cluster in ``base_dir/data`` and start its server.

        Args:
            base_dir: An existing (preferably empty) directory that the cluster owns from now on:
                data, ``log`` and the Unix socket go there; :meth:`stop` (or a failed start)
                deletes it. Under root, it must be reachable by the ``postgres`` OS user (see
                :func:`new_base_dir`).
            listen: ``listen_addresses`` (an address, a comma-separated list, or ``*``).
            port: The TCP port; a free one on 127.0.0.1 when omitted.
            allow: Extra client networks (CIDR, e.g. ``10.200.0.0/16``) trusted in pg_hba.conf,
                for clients in network namespaces; 127.0.0.1 and ::1 are always trusted.
            bin_dir: The server binaries; :func:`find_binaries` when omitted.
            durable: Keep PostgreSQL's durable defaults (fsync, synchronous commit, full-page
                writes), for benchmarks compared with an SQLite that syncs; by default those
                are off, as nothing in a throwaway cluster is worth an fsync.

        Returns:
            The running cluster.

        Raises:
            PostgresUnavailable: Binaries missing, or initdb or the server failed (the message
                carries the end of the server's log; ``base_dir`` is then removed).
        """
        base_dir = base_dir.resolve()
        # pg_ctl starts the server in the background: one whose starter was SIGKILLed lives on.
        stop_orphans(base_dir.parent, as_user=OS_USER if os.geteuid() == 0 else None)
        mark_owner(base_dir)
        try:
            cluster = cls._launch(
                base_dir, listen, port, allow, bin_dir or find_binaries(), durable=durable
            )
        except BaseException:
            # The error carries the end of the log; a half-made cluster is of no further use.
            shutil.rmtree(base_dir, ignore_errors=True)
            raise
        cluster._running = True
        atexit.register(cluster.stop)
        return cluster

    @classmethod
    def _launch(
        cls,
        base_dir: Path,
        listen: str,
        port: int | None,
        allow: tuple[str, ...],
        bin_dir: Path,
        *,
        durable: bool = False,
    ) -> PostgresCluster:
        """Run initdb and start the server, as :meth:`start` says (it cleans up on failure)."""
        for network in allow:
            if not re.fullmatch(r"[0-9A-Fa-f.:]+/\d{1,3}", network):
                raise PostgresUnavailable(f"not a CIDR network for pg_hba.conf: {network!r}")
        as_user: str | None = None
        if os.geteuid() == 0:
            # initdb and postgres refuse to run as root: give the directory to the postgres user.
            try:
                user = pwd.getpwnam(OS_USER)
            except KeyError:
                raise PostgresUnavailable(
                    f"running as root but there is no {OS_USER!r} OS user "
                    "(install Debian's `postgresql` package: apt-get install postgresql)"
                ) from None
            _check_reachable(base_dir, user)
            os.chown(base_dir, user.pw_uid, user.pw_gid)
            as_user = OS_USER
        wildcard = listen.strip() in ("*", "0.0.0.0", "::", "")  # noqa: S104 - the caller's choice
        host = ("127.0.0.1" if wildcard else listen).split(",")[0].strip()
        cluster = cls(bin_dir=bin_dir, base_dir=base_dir, host=host, port=0, as_user=as_user)
        cluster._running = False
        cluster._durable = durable
        cluster._initdb(allow)
        for attempt in range(1 if port is not None else PORT_ATTEMPTS):
            cluster._port = port if port is not None else free_port()
            try:
                cluster._pg_ctl_start(listen)
                break
            except PostgresUnavailable:
                in_use = "already in use" in _tail(cluster.log_path)
                if not in_use or port is not None or attempt == PORT_ATTEMPTS - 1:
                    raise
        return cluster

    @property
    def host(self) -> str:
        """The address clients connect to (127.0.0.1 unless listening elsewhere)."""
        return self._host

    @property
    def port(self) -> int:
        """The server's TCP port."""
        return self._port

    @property
    def data_dir(self) -> Path:
        """The cluster's data directory (``base_dir/data``)."""
        return self.base_dir / "data"

    @property
    def log_path(self) -> Path:
        """The server's log file (``base_dir/log``)."""
        return self.base_dir / "log"

    def url(self, dbname: str = "postgres", user: str = SUPERUSER) -> str:
        """A connection URL, e.g. ``postgresql://postgres@127.0.0.1:PORT/postgres``."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"postgresql://{user}@{host}:{self._port}/{dbname}"

    def sql(self, statement: str, *, dbname: str = "postgres") -> str:
        """Run SQL through psql over TCP as the superuser; return psql's unaligned output.

        Raises:
            PostgresUnavailable: psql failed (the message carries its error).
        """
        command = [
            str(self.bin_dir / "psql"),
            *("-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"),
            *("-h", self._host, "-p", str(self._port), "-U", SUPERUSER, "-d", dbname),
            *("-c", statement),
        ]
        # The statement is the caller's SQL for its own throwaway cluster.
        done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
        if done.returncode != 0:
            raise PostgresUnavailable(f"psql failed on {dbname}: {done.stderr.strip()}")
        return done.stdout

    def create_database(self, name: str, *, template: str | None = None) -> None:
        """Create database ``name``, optionally as a copy of ``template``.

        A template copy needs the template to have no open connections (PostgreSQL's rule).
        """
        statement = f"CREATE DATABASE {quote_ident(name)}"
        if template is not None:
            statement += f" TEMPLATE {quote_ident(template)}"
        self.sql(statement)

    def drop_database(self, name: str) -> None:
        """Drop database ``name`` if it exists, ending any connections still open to it."""
        self.sql(f"DROP DATABASE IF EXISTS {quote_ident(name)} WITH (FORCE)")

    def stop(self) -> None:
        """Stop the server and delete ``base_dir``; calling it again does nothing.

        Immediate mode: no shutdown checkpoint, since nothing in the cluster is worth keeping.
        """
        if self._running:
            self._running = False
            atexit.unregister(self.stop)
            self._stop_server()
        shutil.rmtree(self.base_dir, ignore_errors=True)

    def __enter__(self) -> PostgresCluster:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _run(self, command: list[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a server binary, as the postgres OS user when we are root."""
        name = Path(command[0]).name
        if self._as_user is not None:
            runuser = shutil.which("runuser") or "/usr/sbin/runuser"
            command = [runuser, "-u", self._as_user, "--", *command]
        # cwd: the server's user may not be able to read the caller's working directory.
        done = subprocess.run(  # noqa: S603 - our own binaries and arguments
            command, capture_output=True, text=True, check=False, cwd=self.base_dir
        )
        if check and done.returncode != 0:
            output = (done.stderr or done.stdout).strip().splitlines()[-LOG_LINES:]
            raise PostgresUnavailable(f"{name} failed ({done.returncode}): " + "\n".join(output))
        return done

    def _stop_server(self) -> None:
        """pg_ctl stop in immediate mode (no shutdown checkpoint), waiting for the exit."""
        stop = [str(self.bin_dir / "pg_ctl"), "stop", "-D", str(self.data_dir), "-m", "immediate"]
        self._run([*stop, "-w"], check=False)

    def _initdb(self, allow: tuple[str, ...]) -> None:
        """Create the data directory: trust authentication, superuser postgres, UTF-8."""
        self._run(
            [
                *(str(self.bin_dir / "initdb"), "-D", str(self.data_dir), "-A", "trust"),
                *("-U", SUPERUSER, "--encoding=UTF8", f"--locale={_cluster_locale()}", "--no-sync"),
            ]
        )
        if allow:
            with (self.data_dir / "pg_hba.conf").open("a") as hba:
                hba.writelines(f"host all all {network} trust\n" for network in allow)

    def _pg_ctl_start(self, listen: str) -> None:
        """Start the server and wait until it accepts connections."""
        # Durability is pointless in a throwaway test/bench cluster: no fsync, no synchronous
        # commit, no full-page writes (unless asked to be durable, for fair benchmarks). Never
        # use these settings for data anyone keeps.
        fast = ("-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off")
        options = " ".join(
            [
                f"-c listen_addresses='{listen}'",
                f"-p {self._port}",
                f"-c unix_socket_directories='{self.base_dir}'",
                *(() if self._durable else fast),
                "-c max_connections=200",
                # Debian's initdb writes the machine's zone into postgresql.conf; a clinic's own
                # server runs in the clinic's. Elo must not depend on it: the tests run there too.
                f"-c timezone={SERVER_TIMEZONE}",
            ]
        )
        start = [str(self.bin_dir / "pg_ctl"), "start", "-D", str(self.data_dir), "-w"]
        start += ["-t", str(START_TIMEOUT_S), "-l", str(self.log_path), "-o", options]
        try:
            self._run(start)
        except PostgresUnavailable as failure:
            # pg_ctl may give up while a postmaster is still starting: make sure none is left.
            self._stop_server()
            raise PostgresUnavailable(
                f"{failure}\nserver log ({self.log_path}):\n{_tail(self.log_path)}"
            ) from None
