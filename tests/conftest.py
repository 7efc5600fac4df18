"""Shared fixtures: settings without .env, the sample clinic, a fixed clock, real SQLite files."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from uuid import uuid4
from zoneinfo import ZoneInfo

import pytest
import pytest_asyncio

from config.clinic import ClinicProfile, load_clinic_profile
from config.logs import redactor
from config.settings import AppSettings, load_settings
from devtools.clock import ManualClock
from devtools.postgres import PostgresCluster, PostgresUnavailable, new_base_dir
from storage import Store
from storage.campaign_queue import Claim
from tests.required import start_or_fail
from tools.catalog import default_registry
from tools.context import ToolContext, ToolMode, build_context
from tools.registry import ToolRegistry

# Both engines (issue 14): the backend parametrisation and its fixtures live in tests/backends.py.
pytest_plugins = ["tests.backends"]

TIRANE = ZoneInfo("Europe/Tirane")
PROJECT_ROOT = Path(__file__).resolve().parent.parent
SAMPLE_PROFILE = PROJECT_ROOT / "config" / "clinic.toml"

# Tuesday 1 December 2026, 08:00 in Tirana: itself a public holiday (Liberation Day, observed),
# so the clinic is closed today and the first free slot is Wednesday 2 December 09:00.
DEFAULT_NOW = datetime(2026, 12, 1, 8, 0, tzinfo=TIRANE)


class FixedClock(ManualClock):
    """A clock tests can move, at :data:`DEFAULT_NOW` unless told otherwise."""

    def __init__(self, now: datetime = DEFAULT_NOW) -> None:
        super().__init__(now)


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Tests never see the developer's ELO_* variables, and remembered names do not leak across."""
    import os

    for key in list(os.environ):
        if key.startswith("ELO_"):
            monkeypatch.delenv(key)
    redactor.forget_all()
    redactor.enabled = True
    yield
    redactor.forget_all()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "elo.db"


@pytest.fixture
def settings(tmp_path: Path, db_path: Path, request: pytest.FixtureRequest) -> AppSettings:
    """Settings built without reading any .env file, pointing at tmp paths (or the test's
    PostgreSQL database, with its hash key, when the test runs on PostgreSQL)."""
    # Imported here: tests.backends is a pytest plugin, loaded (and assert-rewritten) by pytest.
    from tests.backends import PG_HASH_KEY

    extra: dict[str, object] = {}
    if "backend" in request.fixturenames and request.getfixturevalue("backend") == "postgresql":
        extra = {
            "database": {"path": db_path, "url": request.getfixturevalue("db_url")},
            "privacy": {"hash_key": PG_HASH_KEY},
        }
    return load_settings(
        env_file=None,
        **({"database": {"path": db_path}} | extra),
        logging={"file": tmp_path / "logs" / "elo.jsonl", "level": "DEBUG"},
    )


@pytest.fixture
def clinic() -> ClinicProfile:
    return load_clinic_profile(SAMPLE_PROFILE)


@pytest.fixture
def one_chair_clinic(clinic: ClinicProfile) -> ClinicProfile:
    """The sample clinic with a single chair, so one slot admits exactly one booking."""
    return ClinicProfile.model_validate({**clinic.model_dump(), "chairs": 1})


@pytest_asyncio.fixture
async def store(db_url: str, hash_key: str | None, clock: FixedClock) -> AsyncIterator[Store]:
    """The test's store: a SQLite file, or (parametrised, see tests/backends.py) PostgreSQL."""
    s = await Store.open(db_url, tz=TIRANE, clock=clock, hash_key=hash_key)
    yield s
    await s.close()


@pytest.fixture
def registry() -> ToolRegistry:
    return default_registry()


@pytest.fixture
def make_context(
    store: Store, settings: AppSettings, clinic: ClinicProfile, clock: FixedClock
) -> Callable[..., ToolContext]:
    """Build a tool context; keyword arguments override the defaults (mode, clinic, ...)."""

    def make(**overrides: object) -> ToolContext:
        params: dict[str, object] = {
            "store": store,
            "settings": settings,
            "clinic": clinic,
            "clock": clock,
            "mode": ToolMode.CALL,
        }
        params.update(overrides)
        return build_context(**params)  # type: ignore[arg-type]

    return make


@pytest.fixture
def ctx(make_context: Callable[..., ToolContext]) -> ToolContext:
    return make_context()


async def claim(
    store: Store,
    *,
    contact_id: int,
    room: str,
    call_id: str,
    now: datetime,
    global_cap: int = 4,
    runner_token: str | None = None,
) -> Claim:
    """Claim a contact the way a runner would, with no attempt policy.

    At most two open attempts in the campaign and four attempts per contact; the attempt
    history counts from 60 days before ``now``.
    """
    return await store.queue.claim_contact(
        contact_id=contact_id,
        room=room,
        call_id=call_id,
        campaign_cap=2,
        global_cap=global_cap,
        max_attempts=4,
        policy=lambda attempts, refusals: None,
        history_since=now - timedelta(days=60),
        runner_token=runner_token,
    )


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PostgresCluster]:
    """One throwaway PostgreSQL cluster for the test session, on its own port and socket dir.

    Its directory is made directly under /tmp (not in pytest's 0700 tmp dirs), so the postgres OS
    user can reach it when the tests run as root. Missing binaries FAIL the tests that need it
    (with the install hint): PostgreSQL tests are never silently skipped.
    """
    cluster = start_or_fail(lambda: PostgresCluster.start(new_base_dir()), PostgresUnavailable)
    yield cluster
    cluster.stop()


@pytest.fixture
def pg_database(pg_cluster: PostgresCluster) -> Iterator[str]:
    """A fresh, empty database in the session's cluster; its URL. Dropped afterwards."""
    name = f"test_{uuid4().hex[:16]}"
    pg_cluster.create_database(name)
    yield pg_cluster.url(name)
    pg_cluster.drop_database(name)
