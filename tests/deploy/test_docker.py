"""The Dockerfile, .dockerignore and compose.yaml, checked against the repo and the app.

Images cannot be built on the project's machines (no image registry), so these tests check what
a build would rely on: every file copied exists and enters the build context, the scripts run
are the repo's (tests/deploy/test_install.py runs them), the health check asks a route the app
answers, the settings given are valid Elo settings, and the container runs as a user of its own.
"""

from __future__ import annotations

import re
import shlex
import tomllib
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import pytest
import yaml

from config.settings import ENV_NESTED_DELIMITER, ENV_PREFIX, AppSettings, load_settings
from tests.conftest import PROJECT_ROOT
from tests.deploy.files import (
    COMPOSE,
    DOCKERIGNORE,
    INSTALLED_START,
    Instruction,
    dockerfile,
    drain_secs,
    env_pairs,
    seconds,
)
from tests.service.test_readiness import service, service_settings

INSTRUCTIONS = dockerfile()
HEALTH_URL = re.compile(r"http://127\.0\.0\.1:[^/'\"]+(/[A-Za-z0-9_/-]*)")


def stages() -> list[list[Instruction]]:
    found: list[list[Instruction]] = []
    for instruction in INSTRUCTIONS:
        if instruction.keyword == "FROM":
            found.append([])
        if found:
            found[-1].append(instruction)
    return found


def of(keyword: str, within: list[Instruction] = INSTRUCTIONS) -> list[Instruction]:
    return [i for i in within if i.keyword == keyword]


def build_args() -> dict[str, str]:
    """The ARG defaults given before the first FROM."""
    found = {}
    for instruction in INSTRUCTIONS:
        if instruction.keyword == "FROM":
            break
        if instruction.keyword == "ARG":
            name, _, default = instruction.args.partition("=")
            found[name] = default
    return found


def image_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for instruction in of("ENV", stages()[-1]):
        env |= env_pairs(instruction)
    return env


def env_names() -> set[str]:
    """Every environment variable Elo's settings read."""
    names = set()
    for group, field in AppSettings.model_fields.items():
        for name in field.annotation.model_fields:  # type: ignore[union-attr]
            names.add(f"{ENV_PREFIX}{group.upper()}{ENV_NESTED_DELIMITER}{name.upper()}")
    return names


def elo_settings(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> AppSettings:
    """Load Elo's settings from exactly these ELO_* variables (no .env file)."""
    for name in env_names():
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        if name.startswith(ENV_PREFIX):
            monkeypatch.setenv(name, value)
    return load_settings(env_file=None)


def test_two_stages_on_python_slim() -> None:
    found = stages()
    assert len(found) == 2
    base = build_args()["PYTHON_IMAGE"]
    assert re.fullmatch(r"python:3\.1[1-3]-slim", base), base
    assert found[0][0].args == "${PYTHON_IMAGE} AS build"
    assert found[1][0].args == "${PYTHON_IMAGE}"
    # Only the virtualenv crosses over: no compiler, no source tree in the image that runs.
    runtime_copies = of("COPY", found[1])
    assert [c.flags() for c in runtime_copies] == [({"from": "build"}, "/opt/elo /opt/elo")]


def copy_sources() -> list[str]:
    sources = []
    for instruction in of("COPY"):
        flags, rest = instruction.flags()
        if "from" in flags:
            continue
        *names, _destination = shlex.split(rest)
        sources += names
    return sources


def dockerignore_patterns() -> list[str]:
    return [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]


def _pattern(text: str) -> re.Pattern[str]:
    """A .dockerignore pattern as a regex (Go's filepath.Match, plus ``**`` for any depth)."""
    out = ""
    i = 0
    while i < len(text):
        if text.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif text.startswith("**", i):
            out, i = out + ".*", i + 2
        elif text[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif text[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(text[i]), i + 1
    # A pattern naming a folder covers everything in it.
    return re.compile(out + "(?:/.*)?")


def left_out(path: str) -> bool:
    """Whether Docker leaves ``path`` out of the build context (the last matching line wins)."""
    result = False
    for line in dockerignore_patterns():
        negated = line.startswith("!")
        if _pattern(line.removeprefix("!").strip("/")).fullmatch(path):
            result = not negated
    return result


def test_the_dockerignore_reader_follows_docker_rules() -> None:
    assert left_out("bench/x.py") and not left_out("storage/backup.py")
    assert left_out("storage/__pycache__/backup.cpython-312.pyc")
    assert not left_out("pyproject.toml")


def test_every_copied_file_exists_and_enters_the_build_context() -> None:
    # An allow-list: everything is left out, then only what is named comes back.
    assert dockerignore_patterns()[0] == "*"
    for source in copy_sources():
        path = PROJECT_ROOT / source
        assert path.exists(), f"COPY {source}: not in the repo"
        files = [p for p in path.rglob("*") if p.is_file()] if path.is_dir() else [path]
        shipped = [f for f in files if "__pycache__" not in f.parts]
        assert shipped, f"COPY {source}: nothing to copy"
        for file in shipped:
            relative = file.relative_to(PROJECT_ROOT).as_posix()
            assert not left_out(relative), f"COPY {source}: .dockerignore leaves out {relative}"


@pytest.mark.parametrize(
    "private",
    [
        ".env",
        "data/elo.db",
        "storage/elo.db",
        "elo.db-wal",
        "deploy/elo.db.privacy-key",
        "config/.env",
        "logs/elo.jsonl",
        ".venv/bin/python",
        ".git/config",
        "demo-output/elo.wav",
    ],
)
def test_secrets_and_patient_data_never_enter_the_build_context(private: str) -> None:
    assert left_out(private)


def test_every_package_and_the_readme_are_copied() -> None:
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())
    patterns = project["tool"]["setuptools"]["packages"]["find"]["include"]
    needed = {pattern.rstrip("*") for pattern in patterns} | {project["project"]["readme"]}
    needed |= {"pyproject.toml", "deploy", "devtools"}  # install.sh needs find-python
    copied = {source.rstrip("/") for source in copy_sources()}
    assert needed <= copied, f"not copied: {sorted(needed - copied)}"


def test_every_application_package_and_subpackage_is_installed() -> None:
    """A package missing here works in a checkout (editable) and breaks an installed Elo.

    The include patterns are matched as setuptools' ``find`` matches them (fnmatch on dotted
    names); setuptools itself is not in every virtualenv (Python 3.12+ leaves it out).
    """
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())
    patterns = project["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {
        ".".join(init.parent.relative_to(PROJECT_ROOT).parts)
        for init in PROJECT_ROOT.glob("**/__init__.py")
        if not any(
            part.startswith(".") or part in ("tests", "bench", "build")
            for part in init.relative_to(PROJECT_ROOT).parts
        )
        and not (init.parent / "pyvenv.cfg").exists()
    }
    assert {"pipeline.call", "pipeline.observers", "service", "telemetry"} <= packages
    left_out = sorted(p for p in packages if not any(fnmatch(p, pat) for pat in patterns))
    assert left_out == [], left_out


def test_the_install_and_start_steps_are_the_repo_scripts() -> None:
    build, runtime = stages()
    [run] = of("RUN", build)
    words = shlex.split(run.args)
    assert words[:2] == ["sh", "deploy/install.sh"], words
    prefix = words[2]
    assert (PROJECT_ROOT / "deploy" / "install.sh").stat().st_mode & 0o111
    assert (PROJECT_ROOT / "deploy" / "start.sh").stat().st_mode & 0o111
    [entrypoint] = of("ENTRYPOINT", runtime)
    # install.sh puts deploy/start.sh at PREFIX/bin/elo-start; the systemd unit runs the same.
    assert entrypoint.exec_form() == [f"{prefix}/bin/elo-start"] == [INSTALLED_START]
    assert of("CMD", runtime)[0].exec_form() == []
    assert f"{prefix}/bin" in image_env()["PATH"].split(":")


def test_a_user_of_its_own_and_a_data_volume() -> None:
    runtime = stages()[-1]
    [user] = of("USER", runtime)
    name = user.args.split(":")[0]
    assert name not in ("root", "0") and name.isdigit() and int(name) >= 1000
    volumes = [v for instruction in of("VOLUME", runtime) for v in instruction.exec_form() or []]
    assert volumes == ["/data"]
    env = image_env()
    assert Path(env["ELO_DATABASE__PATH"]).parent == Path("/data")
    assert Path(env["ELO_LOGGING__FILE"]).is_relative_to("/data")
    assert env["ELO_SERVER__HOST"] == "0.0.0.0"  # in the container; compose publishes it
    # The user the image creates owns /data: a new named volume starts with its owner and mode.
    [setup] = of("RUN", runtime)
    assert f"--uid {name}" in setup.args and "chown elo:elo /data" in setup.args
    assert [i.args for i in of("STOPSIGNAL", runtime)] == ["SIGTERM"]
    assert [i.args for i in of("EXPOSE", runtime)] == [env["ELO_SERVER__PORT"]]


def test_the_image_settings_are_valid_elo_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    env = image_env()
    elo = {name for name in env if name.startswith(ENV_PREFIX)}
    assert elo <= env_names(), f"not Elo settings: {sorted(elo - env_names())}"
    settings = elo_settings(env, monkeypatch)
    assert str(settings.database.path) == "/data/elo.db"
    assert settings.server.port == 8080


def healthcheck_command() -> list[str]:
    [check] = of("HEALTHCHECK", stages()[-1])
    flags, rest = check.flags()
    assert {"interval", "timeout", "start-period", "retries"} <= set(flags)
    assert seconds(flags["timeout"]) < seconds(flags["interval"])
    assert rest.startswith("CMD ")
    command = Instruction("CMD", rest[4:], check.line).exec_form()
    assert command is not None
    return command


def test_the_health_check_uses_python_not_curl() -> None:
    command = healthcheck_command()
    assert command[:2] == ["python3", "-c"]
    assert "curl" not in " ".join(command) and "wget" not in " ".join(command)
    compile(command[2], "HEALTHCHECK", "exec")  # a syntax error would mark every container sick


@pytest.mark.asyncio
async def test_the_health_checks_ask_a_route_the_app_answers(tmp_path: Path) -> None:
    paths = {HEALTH_URL.search(healthcheck_command()[2])[1]}  # type: ignore[index]
    paths.add(HEALTH_URL.search(" ".join(compose_service()["healthcheck"]["test"]))[1])  # type: ignore[index]
    assert paths == {"/healthz"}
    async with service(service_settings(tmp_path)) as client:
        response = await client.get(paths.pop())
    assert response.status_code == 200, response.text


def compose_service() -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE.read_text())
    assert set(document) == {"services", "volumes"}
    assert list(document["services"]) == ["elo"]
    return document["services"]["elo"]


def test_compose_runs_the_image_with_its_volume_keys_and_a_local_port(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    document = yaml.safe_load(COMPOSE.read_text())
    elo = compose_service()
    assert elo["build"] == "."
    assert elo["env_file"] == ".env"
    assert elo["restart"] in ("unless-stopped", "always", "on-failure")
    [volume] = elo["volumes"]
    name, target = volume.split(":")
    assert target == "/data" and name in document["volumes"]
    [port] = elo["ports"]
    # ${PUBLISH_ADDRESS:-127.0.0.1}:${PUBLISH_PORT:-8080}:8080: loopback unless asked.
    address = re.fullmatch(r"\$\{PUBLISH_ADDRESS:-([0-9.]+)\}:\$\{PUBLISH_PORT:-8080\}:(\d+)", port)
    assert address is not None and address[1] == "127.0.0.1"
    environment = {k: str(v) for k, v in elo["environment"].items()}
    assert address[2] == environment["ELO_SERVER__PORT"]
    assert set(environment) <= env_names()
    # compose's environment wins over .env: the same places as the image's own.
    assert {k: v for k, v in image_env().items() if k in environment} == environment
    elo_settings(environment, monkeypatch)
    assert elo["stop_signal"] == "SIGTERM"
    assert seconds(elo["stop_grace_period"]) >= drain_secs() + 15
    assert elo["read_only"] is True and elo["cap_drop"] == ["ALL"]
    assert "no-new-privileges:true" in elo["security_opt"]
    health = elo["healthcheck"]
    assert health["test"][:3] == ["CMD", "python3", "-c"]
    compile(health["test"][3], "healthcheck", "exec")
