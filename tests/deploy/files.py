"""Readers of the deployment files, strict enough that a typo fails a test instead of a deploy."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from config.settings_groups import ServerSettings
from tests.conftest import PROJECT_ROOT

DOCKERFILE = PROJECT_ROOT / "Dockerfile"
DOCKERIGNORE = PROJECT_ROOT / ".dockerignore"
COMPOSE = PROJECT_ROOT / "compose.yaml"
DEPLOY = PROJECT_ROOT / "deploy"
# `deploy/install.sh /opt/elo` installs deploy/start.sh here; the image and the unit run it.
INSTALLED_START = "/opt/elo/bin/elo-start"

# The Dockerfile reference (docs.docker.com/reference/dockerfile): every instruction there.
DOCKER_INSTRUCTIONS = frozenset(
    {
        "ADD",
        "ARG",
        "CMD",
        "COPY",
        "ENTRYPOINT",
        "ENV",
        "EXPOSE",
        "FROM",
        "HEALTHCHECK",
        "LABEL",
        "MAINTAINER",
        "ONBUILD",
        "RUN",
        "SHELL",
        "STOPSIGNAL",
        "USER",
        "VOLUME",
        "WORKDIR",
    }
)


@dataclass(frozen=True)
class Instruction:
    """One Dockerfile instruction: its keyword, the text after it, and its line number."""

    keyword: str
    args: str
    line: int

    def exec_form(self) -> list[str] | None:
        """The JSON array of an exec-form argument (``["a", "b"]``), or None for shell form."""
        text = self.args.strip()
        if not text.startswith("["):
            return None
        value = json.loads(text)
        assert isinstance(value, list) and all(isinstance(v, str) for v in value), self
        return value

    def flags(self) -> tuple[dict[str, str], str]:
        """The ``--name=value`` flags in front of the arguments, and the rest."""
        found: dict[str, str] = {}
        rest = self.args.strip()
        while rest.startswith("--"):
            flag, _, rest = rest.partition(" ")
            name, _, value = flag[2:].partition("=")
            found[name] = value
            rest = rest.lstrip()
        return found, rest


def dockerfile(path: Path = DOCKERFILE) -> list[Instruction]:
    """The instructions, with continuation lines joined and comments dropped.

    Raises:
        AssertionError: An unknown instruction, or a continuation at the end of the file.
    """
    instructions: list[Instruction] = []
    pending = ""
    start = 0
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue  # comment lines inside a continued instruction are dropped by Docker too
        if not pending:
            start = number
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        text = pending + line
        pending = ""
        keyword, _, args = text.partition(" ")
        assert keyword.upper() in DOCKER_INSTRUCTIONS, f"line {start}: unknown {keyword!r}"
        assert keyword == keyword.upper(), f"line {start}: write {keyword.upper()}"
        instructions.append(Instruction(keyword.upper(), args.strip(), start))
    assert not pending, "the Dockerfile ends inside a continued line"
    return instructions


def env_pairs(instruction: Instruction) -> dict[str, str]:
    """The ``NAME=value`` pairs of an ENV instruction (the legacy ``ENV NAME value`` refused)."""
    pairs: dict[str, str] = {}
    for word in shlex.split(instruction.args):
        name, sep, value = word.partition("=")
        assert sep, f"line {instruction.line}: write ENV {name}=value"
        pairs[name] = value
    return pairs


def drain_secs() -> float:
    """How long `elo serve` lets calls finish after SIGTERM (issue 11: 30 s by default)."""
    field = ServerSettings.model_fields.get("drain_secs")
    return float(field.default) if field is not None else 30.0


# --------------------------------------------------------------------------- systemd units

# The keys each section may hold, from systemd.unit(5), systemd.service(5), systemd.exec(5),
# systemd.kill(5), systemd.resource-control(5) and systemd.timer(5): those these units use and
# their close relatives. A key outside these lists is a typo until a test says otherwise.
UNIT_KEYS = {
    "Unit": {
        "Description",
        "Documentation",
        "After",
        "Before",
        "Wants",
        "Requires",
        "BindsTo",
        "PartOf",
        "Conflicts",
        "StartLimitIntervalSec",
        "StartLimitBurst",
        "ConditionPathExists",
        "AssertPathExists",
    },
    "Install": {"WantedBy", "RequiredBy", "Alias", "Also"},
    "Timer": {
        "OnCalendar",
        "OnBootSec",
        "OnUnitActiveSec",
        "RandomizedDelaySec",
        "AccuracySec",
        "Persistent",
        "Unit",
        "WakeSystem",
    },
    "Service": {
        # systemd.service(5)
        "Type",
        "ExecStart",
        "ExecStartPre",
        "ExecStartPost",
        "ExecReload",
        "ExecStop",
        "ExecStopPost",
        "Restart",
        "RestartSec",
        "RestartPreventExitStatus",
        "SuccessExitStatus",
        "TimeoutStartSec",
        "TimeoutStopSec",
        "TimeoutSec",
        "RemainAfterExit",
        # systemd.kill(5)
        "KillMode",
        "KillSignal",
        "FinalKillSignal",
        "SendSIGKILL",
        # systemd.exec(5)
        "User",
        "Group",
        "DynamicUser",
        "SupplementaryGroups",
        "WorkingDirectory",
        "Environment",
        "EnvironmentFile",
        "UMask",
        "StateDirectory",
        "StateDirectoryMode",
        "LogsDirectory",
        "LogsDirectoryMode",
        "RuntimeDirectory",
        "CacheDirectory",
        "ReadWritePaths",
        "ReadOnlyPaths",
        "InaccessiblePaths",
        "NoNewPrivileges",
        "ProtectSystem",
        "ProtectHome",
        "PrivateTmp",
        "PrivateDevices",
        "PrivateNetwork",
        "PrivateUsers",
        "PrivateMounts",
        "ProtectKernelTunables",
        "ProtectKernelModules",
        "ProtectKernelLogs",
        "ProtectControlGroups",
        "ProtectClock",
        "ProtectHostname",
        "ProtectProc",
        "ProcSubset",
        "CapabilityBoundingSet",
        "AmbientCapabilities",
        "RestrictAddressFamilies",
        "RestrictNamespaces",
        "RestrictRealtime",
        "RestrictSUIDSGID",
        "LockPersonality",
        "MemoryDenyWriteExecute",
        "RemoveIPC",
        "SystemCallArchitectures",
        "SystemCallFilter",
        "SystemCallErrorNumber",
        "DevicePolicy",
        "DeviceAllow",
        "KeyringMode",
        "LimitNOFILE",
        "StandardOutput",
        "StandardError",
        "SyslogIdentifier",
        # systemd.resource-control(5)
        "MemoryMax",
        "MemoryHigh",
        "CPUQuota",
        "TasksMax",
    },
}
# Keys that may be given more than once (each adds to the list, or an empty one resets it).
LIST_KEYS = frozenset(
    {
        "After",
        "Wants",
        "Environment",
        "EnvironmentFile",
        "ReadWritePaths",
        "ExecStartPre",
        "ExecStartPost",
        "SystemCallFilter",
        "WantedBy",
    }
)
_KEY = re.compile(r"[A-Za-z][A-Za-z0-9]*")


def unit(path: Path) -> dict[str, dict[str, list[str]]]:
    """A unit file as ``{section: {key: [values]}}``, refusing anything systemd would ignore.

    Raises:
        AssertionError: An unknown section or key, a key outside a section, a repeated key that
            does not take a list, or a line continued past the end.
    """
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    name = ""
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        where = f"{path.name}:{number}"
        if not line or line.startswith(("#", ";")):
            continue
        assert not line.endswith("\\"), f"{where}: keep each setting on one line"
        if line.startswith("["):
            assert line.endswith("]"), where
            name = line[1:-1]
            assert name in UNIT_KEYS, f"{where}: unknown section [{name}]"
            assert name not in sections, f"{where}: [{name}] twice"
            current = sections[name] = {}
            continue
        assert current is not None, f"{where}: a setting outside any section"
        key, sep, value = line.partition("=")
        key = key.strip()
        assert sep and _KEY.fullmatch(key), f"{where}: not KEY=value: {line!r}"
        assert key in UNIT_KEYS[name], f"{where}: unknown key {key} in [{name}]"
        assert key not in current or key in LIST_KEYS, f"{where}: {key} set twice"
        current.setdefault(key, []).append(value.strip())
    return sections


def one(sections: dict[str, dict[str, list[str]]], section: str, key: str) -> str:
    """The single value of ``key`` in ``section``."""
    values = sections[section][key]
    assert len(values) == 1, (section, key, values)
    return values[0]


def seconds(text: str) -> float:
    """A systemd or compose time span (``60``, ``60s``, ``1min 30s``, ``30min``, ``1m30s``)."""
    units = {"ms": 0.001, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hour": 3600}
    total = 0.0
    matched = re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]*)", text.strip())
    assert matched and "".join(n + u for n, u in matched) == re.sub(r"\s", "", text), text
    for number, unit_name in matched:
        total += float(number) * units[unit_name or "s"]
    return total
