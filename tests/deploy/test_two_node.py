"""deploy/compose.two-node.yaml: two Elo nodes on one PostgreSQL database, checked statically.

No image is built here (docs/deploy.md says why); what the file promises is checked against the
single-node compose.yaml and Elo's own settings instead.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from config.database_url import Backend, DatabaseUrl
from tests.deploy.files import COMPOSE, DEPLOY
from tests.deploy.test_docker import elo_settings, env_names

TWO_NODE = DEPLOY / "compose.two-node.yaml"
NODES = ("elo-1", "elo-2")
# Shell-style ${NAME:?message} and ${NAME}: what compose substitutes from the shell or .env.
REQUIRED = re.compile(r"\$\{(\w+):\?[^}]*\}")


def document() -> dict[str, Any]:
    return yaml.safe_load(TWO_NODE.read_text())


def substitute(value: str, given: dict[str, str]) -> str:
    """What compose would pass for ``value`` with ``given`` in the shell."""
    return REQUIRED.sub(lambda match: given[match[1]], value)


def test_two_nodes_share_one_database_and_one_hash_key() -> None:
    services = document()["services"]
    assert set(services) == {"postgres", *NODES}
    urls = {services[node]["environment"]["ELO_DATABASE__URL"] for node in NODES}
    keys = {services[node]["environment"]["ELO_PRIVACY__HASH_KEY"] for node in NODES}
    assert len(urls) == 1 and len(keys) == 1
    # Required, not defaulted: a node started without the key would hash numbers differently.
    assert REQUIRED.fullmatch(keys.pop())
    url = DatabaseUrl.parse(substitute(urls.pop(), {"ELO_PG_PASSWORD": "pw"}))
    assert url.backend is Backend.POSTGRESQL
    assert "postgres:5432/elo" in (url.dsn or "") and "pw" not in url.display()


def test_nodes_wait_for_a_healthy_database_and_keep_the_single_node_hardening() -> None:
    services = document()["services"]
    single = yaml.safe_load(COMPOSE.read_text())["services"]["elo"]
    hardening = ("read_only", "cap_drop", "security_opt", "stop_signal", "stop_grace_period")
    for node in NODES:
        elo = services[node]
        assert elo["depends_on"] == {"postgres": {"condition": "service_healthy"}}
        assert elo["healthcheck"] == single["healthcheck"]
        assert {key: elo[key] for key in hardening} == {key: single[key] for key in hardening}
    assert services["postgres"]["healthcheck"]["test"][:2] == ["CMD", "pg_isready"]


def test_each_node_publishes_its_own_loopback_port_and_keeps_its_own_logs() -> None:
    services = document()["services"]
    ports = [services[node]["ports"] for node in NODES]
    assert all(len(p) == 1 and p[0].startswith("127.0.0.1:") for p in ports)
    assert len({p[0] for p in ports}) == len(NODES)
    volumes = [services[node]["volumes"] for node in NODES]
    assert len({v[0].split(":")[0] for v in volumes}) == len(NODES)


@pytest.mark.parametrize("node", NODES)
def test_each_node_environment_is_valid_elo_settings(
    node: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = {k: str(v) for k, v in document()["services"][node]["environment"].items()}
    assert set(raw) <= env_names()
    given = {"ELO_PG_PASSWORD": "pw", "ELO_PRIVACY__HASH_KEY": "k" * 32}
    settings = elo_settings({k: substitute(v, given) for k, v in raw.items()}, monkeypatch)
    assert settings.database.location().backend is Backend.POSTGRESQL
    assert settings.privacy.hash_key.get_secret_value() == "k" * 32
