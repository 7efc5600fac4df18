"""The application object: built once from settings, closed once, tool contexts derived from it."""

from __future__ import annotations

import random
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from app.application import open_application
from config.settings import AppSettings, ConfigError
from storage.errors import StoreError
from tests.conftest import DEFAULT_NOW, FixedClock
from tools.context import ToolMode


@pytest.mark.asyncio
async def test_the_application_opens_the_configured_database_and_clinic(
    settings: AppSettings, db_path: Path, clock: FixedClock
) -> None:
    async with open_application(settings, clock=clock) as app:
        assert app.clinic.name
        assert app.now() == DEFAULT_NOW
        assert await app.store.patients.count() == 0
        assert "check_available_slots" in app.registry.names
    assert db_path.is_file()  # noqa: ASYNC240 - a test's own check after the app closed


@pytest.mark.asyncio
async def test_tool_contexts_share_the_application_parts(
    settings: AppSettings, clock: FixedClock
) -> None:
    async with open_application(settings, clock=clock) as app:
        call = app.tool_context(mode=ToolMode.CALL, call_id="c1", phone="+355691234567")
        staff = app.tool_context(mode=ToolMode.ADMIN, language="en")
    assert call.store is staff.store is app.store
    assert (call.call_id, call.phone, call.source) == ("c1", "+355691234567", "agent")
    assert (staff.language, staff.source, staff.phone) == ("en", "cli", None)
    assert call.now() == staff.now() == DEFAULT_NOW


@pytest.mark.asyncio
async def test_the_store_is_closed_on_exit_even_after_an_error(settings: AppSettings) -> None:
    with pytest.raises(RuntimeError):
        async with open_application(settings) as app:
            store = app.store
            raise RuntimeError("a command failed")
    with pytest.raises(Exception):  # noqa: B017 - aiosqlite's own error for a closed connection
        await store.patients.count()


@pytest.mark.asyncio
async def test_a_missing_clinic_profile_opens_nothing(
    settings: AppSettings, tmp_path: Path, db_path: Path
) -> None:
    broken = settings.model_copy(
        update={"clinic": settings.clinic.model_copy(update={"profile_path": tmp_path / "no.toml"})}
    )
    with pytest.raises(ConfigError):
        async with open_application(broken):
            pass
    assert not db_path.exists()  # noqa: ASYNC240 - nothing was created


def damage(db: Path) -> None:
    """Fill the file, then overwrite a few pages in its middle, as a bad disk would."""
    with closing(sqlite3.connect(db)) as conn:
        conn.execute("CREATE TABLE filler (blob BLOB)")
        conn.executemany("INSERT INTO filler VALUES (randomblob(300))", [()] * 3000)
        conn.commit()
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        page_count = conn.execute("PRAGMA page_count").fetchone()[0]
    with open(db, "r+b") as handle:
        handle.seek((page_count // 2) * page_size)
        handle.write(random.Random(8).randbytes(4 * page_size))


@pytest.mark.asyncio
async def test_a_damaged_database_is_refused_unless_asked_for(
    settings: AppSettings, db_path: Path
) -> None:
    async with open_application(settings):
        pass
    damage(db_path)
    with pytest.raises(StoreError, match="failed its integrity check: run `elo db check`"):
        async with open_application(settings):
            pass
    async with open_application(settings, allow_damaged=True) as app:
        assert app.store.health.problem is not None
