"""devtools/postgres.py: throwaway PostgreSQL clusters from Debian's binaries, for tests."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
from pathlib import Path
from uuid import uuid4

import asyncpg
import pytest

from devtools.postgres import (
    INSTALL_HINT,
    PostgresCluster,
    PostgresUnavailable,
    find_binaries,
    new_base_dir,
)


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _fake_version(root: Path, version: str, binaries: tuple[str, ...]) -> None:
    """A <root>/<version>/bin with executable stand-ins for the named binaries."""
    folder = root / version / "bin"
    folder.mkdir(parents=True)
    for name in binaries:
        (folder / name).write_text("#!/bin/sh\n")
        (folder / name).chmod(0o755)


@pytest.mark.asyncio
async def test_select_version_over_tcp_on_localhost(pg_cluster: PostgresCluster) -> None:
    assert pg_cluster.url() == f"postgresql://postgres@127.0.0.1:{pg_cluster.port}/postgres"
    conn = await asyncpg.connect(pg_cluster.url())
    try:
        version = await conn.fetchval("SELECT version()")
        # inet_server_addr() is NULL over a Unix socket: this proves TCP to 127.0.0.1.
        address, port = await conn.fetchrow("SELECT host(inet_server_addr()), inet_server_port()")
        encoding = await conn.fetchval("SHOW server_encoding")
    finally:
        await conn.close()
    assert version.startswith("PostgreSQL ")
    assert (address, port) == ("127.0.0.1", pg_cluster.port)
    assert encoding == "UTF8"


@pytest.mark.asyncio
async def test_databases_are_independent(pg_cluster: PostgresCluster, pg_database: str) -> None:
    other = f"test_other_{uuid4().hex[:8]}"
    pg_cluster.create_database(other)
    try:
        first = await asyncpg.connect(pg_database)
        second = await asyncpg.connect(pg_cluster.url(other))
        try:
            await first.execute("CREATE TABLE notes (id BIGINT PRIMARY KEY, body TEXT)")
            await first.execute("INSERT INTO notes VALUES (1, 'only here')")
            assert await first.fetchval("SELECT to_regclass('notes') IS NOT NULL")
            assert not await second.fetchval("SELECT to_regclass('notes') IS NOT NULL")
        finally:
            await first.close()
            await second.close()
    finally:
        pg_cluster.drop_database(other)
    assert pg_cluster.sql(f"SELECT count(*) FROM pg_database WHERE datname = '{other}'") == "0\n"


@pytest.mark.asyncio
async def test_database_from_template_has_its_tables(pg_cluster: PostgresCluster) -> None:
    template, copy = f"test_tpl_{uuid4().hex[:8]}", f"test_copy_{uuid4().hex[:8]}"
    pg_cluster.create_database(template)
    try:
        pg_cluster.sql(
            "CREATE TABLE chairs (id BIGINT PRIMARY KEY, name TEXT NOT NULL);"
            "CREATE INDEX chairs_name ON chairs (name);"
            "INSERT INTO chairs VALUES (1, 'A'), (2, 'B')",
            dbname=template,
        )
        pg_cluster.create_database(copy, template=template)
        conn = await asyncpg.connect(pg_cluster.url(copy))
        try:
            rows = await conn.fetch("SELECT id, name FROM chairs ORDER BY id")
            await conn.execute("INSERT INTO chairs VALUES (3, 'C')")
        finally:
            await conn.close()
        assert [tuple(r) for r in rows] == [(1, "A"), (2, "B")]
        # The copy is a copy: its new row is not in the template.
        assert pg_cluster.sql("SELECT count(*) FROM chairs", dbname=template) == "2\n"
    finally:
        pg_cluster.drop_database(copy)
        pg_cluster.drop_database(template)


@pytest.mark.asyncio
async def test_btree_gist_exclusion_constraint(pg_database: str) -> None:
    conn = await asyncpg.connect(pg_database)
    try:
        await conn.execute("CREATE EXTENSION btree_gist")
        await conn.execute(
            "CREATE TABLE slots (chair BIGINT, during tsrange,"
            " EXCLUDE USING gist (chair WITH =, during WITH &&))"
        )
        await conn.execute("INSERT INTO slots VALUES (1, '[2026-12-02 09:00, 2026-12-02 09:30)')")
        await conn.execute("INSERT INTO slots VALUES (2, '[2026-12-02 09:00, 2026-12-02 09:30)')")
        with pytest.raises(asyncpg.ExclusionViolationError):
            await conn.execute(
                "INSERT INTO slots VALUES (1, '[2026-12-02 09:15, 2026-12-02 09:45)')"
            )
    finally:
        await conn.close()


def test_second_cluster_beside_the_first_and_stop_removes_it(pg_cluster: PostgresCluster) -> None:
    base = new_base_dir()
    with PostgresCluster.start(base, allow=("10.200.0.0/16",)) as second:
        assert second.port != pg_cluster.port
        # The extra network (for clients in network namespaces) is trusted in pg_hba.conf.
        rules = second.sql("SELECT address, netmask, auth_method FROM pg_hba_file_rules")
        assert "10.200.0.0|255.255.0.0|trust" in rules.splitlines()
        assert second.base_dir != pg_cluster.base_dir
        assert second.data_dir.is_dir()
        assert second.sql("SELECT 1") == "1\n"
        assert pg_cluster.sql("SELECT 1") == "1\n"
        port = second.port
        assert _port_open(port)
    assert not base.exists()
    assert not _port_open(port)
    second.stop()  # a second stop does nothing
    assert _port_open(pg_cluster.port)


def test_start_failure_carries_the_server_log(pg_cluster: PostgresCluster) -> None:
    base = new_base_dir()
    with pytest.raises(PostgresUnavailable) as failure:
        PostgresCluster.start(base, port=pg_cluster.port)  # the session's cluster holds it
    assert "pg_ctl failed" in str(failure.value)
    assert "already in use" in str(failure.value)  # from the server log
    assert not base.exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="only root hands the cluster to the postgres user")
def test_root_refuses_a_directory_the_postgres_user_cannot_reach(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o700)
    (locked / "cluster").mkdir()
    assert stat.S_IMODE(locked.stat().st_mode) == 0o700
    with pytest.raises(PostgresUnavailable, match=r"cannot reach .*new_base_dir\(\)"):
        PostgresCluster.start(locked / "cluster")
    assert not (locked / "cluster").exists()


def test_initdb_failure_is_reported_and_cleaned_up() -> None:
    base = new_base_dir()
    fake = base / "fakebin"  # inside base: reachable by the postgres OS user when we are root
    fake.mkdir()
    (fake / "initdb").write_text("#!/bin/sh\necho 'initdb: error: disk on fire' >&2\nexit 1\n")
    (fake / "initdb").chmod(0o755)
    with pytest.raises(PostgresUnavailable, match=r"^initdb failed \(1\): initdb: error: disk on"):
        PostgresCluster.start(base, bin_dir=fake)
    assert not base.exists()


def test_a_bad_network_is_refused_before_initdb() -> None:
    base = new_base_dir()
    with pytest.raises(PostgresUnavailable, match="not a CIDR network"):
        PostgresCluster.start(base, allow=("10.0.0.1 trust\nhost all all 0.0.0.0/0",))
    assert not base.exists()


def test_find_binaries_without_postgresql_says_what_to_install(tmp_path: Path) -> None:
    missing = tmp_path / "no-postgresql"
    with pytest.raises(PostgresUnavailable) as failure:
        find_binaries(missing)
    message = str(failure.value)
    assert message == INSTALL_HINT.format(root=missing)
    assert "apt-get install postgresql" in message
    assert "\n" not in message


def test_find_binaries_takes_the_newest_complete_version(tmp_path: Path) -> None:
    complete = ("initdb", "pg_ctl", "postgres")
    _fake_version(tmp_path, "9", complete)
    _fake_version(tmp_path, "16", complete)  # numerically newer than 9, lexically older
    _fake_version(tmp_path, "17", ("initdb", "pg_ctl"))  # a client-only install: no server
    assert find_binaries(tmp_path) == tmp_path / "16" / "bin"


def test_find_binaries_ignores_versions_without_a_server(tmp_path: Path) -> None:
    _fake_version(tmp_path, "15", ("psql", "pg_ctl"))
    with pytest.raises(PostgresUnavailable, match="apt-get install postgresql"):
        find_binaries(tmp_path)


def test_find_binaries_on_this_machine() -> None:
    found = find_binaries()
    assert found.parent.parent == Path("/usr/lib/postgresql")
    assert all((found / name).is_file() for name in ("initdb", "pg_ctl", "postgres"))


def test_a_durable_cluster_keeps_fsync_and_synchronous_commit(pg_cluster: PostgresCluster) -> None:
    def settings(cluster: PostgresCluster) -> list[str]:
        names = ("fsync", "synchronous_commit", "full_page_writes")
        return [cluster.sql(f"SHOW {name}").strip() for name in names]

    # The throwaway default gives durability up (tests, the benchmark's fast cluster) ...
    assert settings(pg_cluster) == ["off", "off", "off"]
    # ... a durable one (the benchmark's fair comparison with SQLite) keeps PostgreSQL's own.
    with PostgresCluster.start(new_base_dir(), durable=True) as durable:
        assert settings(durable) == ["on", "on", "on"]


# Starts a cluster and prints its port and directory, then waits to be killed.
STARTER = """
import sys, time
from devtools.postgres import PostgresCluster, new_base_dir
cluster = PostgresCluster.start(new_base_dir())
print(cluster.port, cluster.base_dir, flush=True)
time.sleep(600)
"""


@pytest.mark.slow
def test_a_cluster_whose_starter_was_killed_is_stopped_by_the_next_start(
    pg_cluster: PostgresCluster,
) -> None:
    root = Path(__file__).resolve().parents[2]
    starter = subprocess.Popen(
        [sys.executable, "-c", STARTER],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        port_text, base_text = starter.stdout.readline().split()  # type: ignore[union-attr]
    finally:
        starter.kill()  # SIGKILL: no atexit, so the server lives on
        starter.wait()
    port, base = int(port_text), Path(base_text)
    assert _port_open(port) and base.is_dir()
    with PostgresCluster.start(new_base_dir()) as next_one:
        assert next_one.sql("SELECT 1") == "1\n"
        assert not _port_open(port)
        assert not base.exists()
    # A live cluster is left alone: the session's own.
    assert pg_cluster.sql("SELECT 1") == "1\n"
