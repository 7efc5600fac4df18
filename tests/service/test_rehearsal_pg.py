"""The rehearsal of a clinic on PostgreSQL: its dashboard users come from the server (read only)
into the rehearsal's own SQLite file, so staff sign in to the rehearsal as themselves."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.settings import load_settings
from service.rehearsal import _copy_users_from_server
from storage import Store
from tests.conftest import TIRANE

KEY = "a-rehearsal-test-key"
HASH = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo"


@pytest.mark.asyncio
async def test_users_are_copied_from_postgresql(tmp_path: Path, pg_database: str) -> None:
    clinic = await Store.open(pg_database, tz=TIRANE, hash_key=KEY)
    try:
        await clinic.users.add(name="Drita", role="admin", password_hash=HASH, language="sq")
        await clinic.users.add(name="Besi", role="staff", password_hash=HASH, language="en")
        expected = [tuple(r) for r in await clinic.db.rows("SELECT * FROM users ORDER BY id")]
    finally:
        await clinic.close()
    rehearsal = tmp_path / "rehearsal" / "elo.db"
    await (
        await Store.open(rehearsal, tz=TIRANE)
    ).close()  # created and migrated, as the rehearsal does
    settings = load_settings(
        env_file=None, database={"url": pg_database}, privacy={"hash_key": KEY}
    )
    await _copy_users_from_server(settings, rehearsal)
    copy = await Store.open(rehearsal, tz=TIRANE)
    try:
        got = [tuple(r) for r in await copy.db.rows("SELECT * FROM users ORDER BY id")]
        assert got == expected
        assert (await copy.users.get(name="drita")).role == "admin"  # type: ignore[union-attr]
    finally:
        await copy.close()
