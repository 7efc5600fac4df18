"""/readyz on PostgreSQL: no disk-space check of a local folder (the database's disk is the
server's); instead whether the server answers, named with its URL's password masked."""

from __future__ import annotations

from pathlib import Path

import pytest

from devtools.postgres import PostgresCluster
from tests.service.test_readiness import readyz, service, service_settings

PASSWORD = "pw-Not-In-Readyz-7"


@pytest.mark.asyncio
async def test_the_server_is_checked_instead_of_the_disk(
    tmp_path: Path, pg_cluster: PostgresCluster, pg_database: str
) -> None:
    url = pg_database.replace("postgres@", f"postgres:{PASSWORD}@", 1)
    settings = service_settings(
        tmp_path,
        database={"url": url},
        privacy={"hash_key": "a-readiness-test-key"},
        server={"min_free_disk_mb": 10**12},  # would fail a disk check: there is none to fail
    )
    async with service(settings) as client:
        _, body = await readyz(client)
        checks = body["checks"]
        assert "disk_space" not in checks
        assert list(checks)[-2:] == ["database_server", "configuration"]
        assert checks["database_server"]["ok"] is True
        assert checks["database_server"]["detail"].endswith(
            ":***@" + url.split("@", 1)[1] + " answers"
        )
        # The server loses the database (dropped, its connections ended): not ready, said so.
        pg_cluster.drop_database(pg_database.rsplit("/", 1)[1])
        status, body = await readyz(client)
    assert status == 503
    server = body["checks"]["database_server"]
    assert server["ok"] is False and "cannot be reached" in server["detail"]
    assert PASSWORD not in str(body)
