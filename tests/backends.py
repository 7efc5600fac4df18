"""Both database engines for the storage, tools and campaign suites: one parametrised fixture.

Every test under ``tests/storage``, ``tests/tools`` and ``tests/campaign`` that uses the ``store``
fixture runs twice, ``[sqlite]`` on a file in its tmp dir and ``[postgresql]`` on a fresh database
of the session's throwaway cluster (``pg_cluster``), created from a template migrated once. A test
about SQLite itself (its file, its PRAGMAs, a second plain ``sqlite3`` connection) says so with
``@pytest.mark.sqlite_only`` or by using the ``raw`` fixture, and runs once; a test of what only
PostgreSQL has (a server whose sessions can end) says ``@pytest.mark.postgresql_only``.

Tests reach the database through ``db_url`` (what ``Store.open`` and ``ELO_DATABASE__URL`` take)
and ``open_store()`` (another store on the same database, as a second process would open it).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import pytest_asyncio

from storage import Store

# Both engines run these suites (issue 14); every other suite runs on SQLite only.
BOTH_ENGINES = ("storage", "tools", "campaign")
# Tests that use these fixtures work on the SQLite file itself.
SQLITE_FIXTURES = {"raw"}
# The privacy hash key of PostgreSQL test stores (it has no key file, see Store.open).
PG_HASH_KEY = "test-hash-key-" + "0" * 18

_names = itertools.count(1)


def runs_on_both(metafunc: pytest.Metafunc) -> bool:
    """Whether a test runs on both engines (see the module docstring)."""
    parts = Path(str(metafunc.definition.path)).parts
    if "tests" not in parts:
        return False
    rest = parts[parts.index("tests") + 1 :]
    if not rest or rest[0] not in BOTH_ENGINES:
        return False
    if "store" not in metafunc.fixturenames and "db_url" not in metafunc.fixturenames:
        return False
    if SQLITE_FIXTURES & set(metafunc.fixturenames):
        return False
    return metafunc.definition.get_closest_marker("sqlite_only") is None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrise ``backend`` over both engines for the tests that run on both."""
    if "backend" in metafunc.fixturenames and runs_on_both(metafunc):
        only_postgresql = metafunc.definition.get_closest_marker("postgresql_only") is not None
        engines = ["postgresql"] if only_postgresql else ["sqlite", "postgresql"]
        metafunc.parametrize("backend", engines, indirect=True)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """The engine under test: "sqlite" unless parametrised (see :func:`pytest_generate_tests`)."""
    return getattr(request, "param", "sqlite")


@pytest.fixture(scope="session")
def pg_template(pg_cluster: object) -> str:
    """A database migrated once per session; each test's database is a copy of it."""
    from tests.conftest import TIRANE

    name = "elo_template"
    pg_cluster.create_database(name)  # type: ignore[attr-defined]
    url = pg_cluster.url(name)  # type: ignore[attr-defined]

    async def migrate() -> None:
        store = await Store.open(url, tz=TIRANE, hash_key=PG_HASH_KEY)
        await store.close()

    import asyncio

    asyncio.run(migrate())
    return name


@pytest.fixture
def db_url(backend: str, db_path: Path, request: pytest.FixtureRequest) -> str:
    """The database of this test: the SQLite file's path, or a fresh PostgreSQL database's URL."""
    if backend == "sqlite":
        return str(db_path)
    cluster = request.getfixturevalue("pg_cluster")
    template = request.getfixturevalue("pg_template")
    name = f"t{os.getpid()}_{next(_names)}"
    cluster.create_database(name, template=template)
    request.addfinalizer(lambda: cluster.drop_database(name))
    return cluster.url(name)


@pytest.fixture
def hash_key(backend: str) -> str | None:
    """The privacy hash key test stores use: SQLite keeps its key file; PostgreSQL needs one."""
    return PG_HASH_KEY if backend == "postgresql" else None


@pytest_asyncio.fixture
async def open_store(
    db_url: str, hash_key: str | None, clock: Callable[[], object]
) -> AsyncIterator[Callable[..., Awaitable[Store]]]:
    """Open another store on this test's database (closed at teardown), as another process would."""
    from tests.conftest import TIRANE

    opened: list[Store] = []

    async def open_one(**overrides: object) -> Store:
        params: dict[str, object] = {"tz": TIRANE, "clock": clock, "hash_key": hash_key}
        params.update(overrides)
        store = await Store.open(db_url, **params)  # type: ignore[arg-type]
        opened.append(store)
        return store

    yield open_one
    for store in opened:
        await store.close()
