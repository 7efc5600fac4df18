"""docs/deploy.md names only files, commands and settings that exist, and is reachable."""

from __future__ import annotations

import re

from cli.main import build_parser
from tests.conftest import PROJECT_ROOT
from tests.deploy.test_docker import env_names

DOC = PROJECT_ROOT / "docs" / "deploy.md"
TEXT = DOC.read_text(encoding="utf-8")


PATHS = re.compile(r"\b(?:tests/deploy|deploy|docs)/[\w.-]+(?:/[\w.-]+)*")


def test_every_repo_file_it_names_exists() -> None:
    named = set(PATHS.findall(TEXT))
    named |= {name for name in ("Dockerfile", "compose.yaml", ".dockerignore") if name in TEXT}
    assert {"deploy/elo.service", "deploy/install.sh", "deploy/start.sh", "Dockerfile"} <= named
    missing = sorted(name for name in named if not (PROJECT_ROOT / name).exists())
    assert not missing, missing


def test_every_setting_it_names_is_one_of_elo() -> None:
    named = set(re.findall(r"\bELO_[A-Z_]+__[A-Z_]+", TEXT))
    assert "ELO_SERVER__DRAIN_SECS" in named  # issue 11's drain, named before it lands
    unknown = sorted(named - env_names() - {"ELO_SERVER__DRAIN_SECS"})
    assert not unknown, unknown


def test_every_elo_command_it_runs_exists() -> None:
    parser = build_parser()
    commands = set(re.findall(r"\belo ((?:db|campaign|privacy) [a-z-]+)", TEXT))
    assert "db backup" in commands
    for command in commands:
        group, leaf = command.split()
        sub = next(a for a in parser._actions if a.dest == "command")
        child = sub.choices[group]  # type: ignore[index]
        leaves = next(a for a in child._actions if hasattr(a, "choices") and a.choices)
        assert leaf in leaves.choices, command


def test_the_readme_links_it_and_make_serve_exists() -> None:
    assert "(docs/deploy.md)" in (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    makefile = (PROJECT_ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^\.PHONY:.* serve\b", makefile, re.MULTILINE)
    assert re.search(r"^serve: .*\n\t\$\(BIN\)/elo serve$", makefile, re.MULTILINE)
