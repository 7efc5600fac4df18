"""Database locations: a path or sqlite:/// URL is SQLite, postgresql:// is PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.database_url import Backend, DatabaseUrl, DatabaseUrlError
from config.settings import ConfigError, load_settings


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("data/elo.db", Path("data/elo.db")),
        ("sqlite:///data/elo.db", Path("data/elo.db")),
        ("sqlite:////var/lib/elo/elo.db", Path("/var/lib/elo/elo.db")),
        (Path("/srv/elo.db"), Path("/srv/elo.db")),
    ],
)
def test_paths_and_sqlite_urls_name_a_sqlite_file(text: str | Path, path: Path) -> None:
    where = DatabaseUrl.parse(text)
    assert where.backend is Backend.SQLITE and where.path == path and where.dsn is None


@pytest.mark.parametrize(
    "text",
    [
        "postgresql://elo:secret@db.internal:5432/elo",
        "postgres://elo:secret@db.internal/elo",
        "postgresql://elo@/elo?host=/run/postgresql",
    ],
)
def test_postgresql_urls_keep_their_dsn_and_never_show_the_password(text: str) -> None:
    where = DatabaseUrl.parse(text)
    assert where.backend is Backend.POSTGRESQL and where.path is None
    assert (where.dsn or "").startswith("postgresql://")
    assert "secret" not in where.display()


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("mysql://elo@db/elo", "unknown database scheme"),
        ("sqlite://", "sqlite URL without a file"),
        ("postgresql://elo@db.internal:5432/", "without a database name"),
        ("postgresql:///elo", "without a host"),
        ("", "empty database location"),
    ],
)
def test_unusable_locations_are_refused_with_what_is_wrong(text: str, problem: str) -> None:
    with pytest.raises(DatabaseUrlError, match=problem):
        DatabaseUrl.parse(text)


def test_settings_take_the_url_over_the_path_and_refuse_a_bad_one() -> None:
    chosen = load_settings(
        env_file=None, database={"path": "x.db", "url": "postgresql://elo@db/elo"}
    )
    assert chosen.database.target() == "postgresql://elo@db/elo"
    plain = load_settings(env_file=None, database={"path": "x.db"})
    assert plain.database.target() == Path("x.db")
    with pytest.raises(ConfigError, match="ELO_DATABASE__URL: unknown database scheme"):
        load_settings(env_file=None, database={"url": "oracle://db/elo"})
