"""The shape of the code: imports point down the layers, no import cycles, small modules.

The application is layered (docs/architecture.md):

    bot.py, cli, demo, bench  (entry points: none imports another)
    service                   (elo serve: HTTP, readiness, the campaign supervisor)
    dashboard                 (the clinic's web pages; never imports service)
    devtools                  (local stand-ins of remote services, the smoke test)
    campaign                  (outbound campaigns: planning, dialling, running)
    pipeline                  (one call: transport, VAD, Gemini Live, observers)
    messaging                 (patient messages: render, channels, the sender, two-way SMS)
    app                       (the application object and the configuration preflight)
    tools                     (the model's function calls)
    scheduling                (calendar and free slots)
    storage                   (the database)
    config, telemetry         (settings, clinic profile, logging; metrics)
    validation                (phone numbers, names, text)

Every import is read from the source with :mod:`ast`, including imports inside functions (a
function-level import is how a cycle hides) and those under ``TYPE_CHECKING``.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# Lower number = lower layer. A module may import from its own layer or any lower one.
LAYERS: dict[str, int] = {
    "validation": 0,
    "config": 1,
    "telemetry": 1,
    "storage": 2,
    "scheduling": 3,
    "tools": 4,
    "app": 5,
    "messaging": 6,
    "pipeline": 7,
    "campaign": 8,
    "devtools": 9,
    "dashboard": 10,
    "service": 11,
    "bot": 12,
    "cli": 12,
    "demo": 12,
    "bench": 12,
}
ENTRY_POINTS = {name for name, rank in LAYERS.items() if rank == max(LAYERS.values())}

# Modules allowed to be longer than MAX_LINES: the local stand-ins of remote services play whole
# protocols and may stay larger (issue 10).
MAX_LINES = 400
LONG_ALLOWED = {"devtools/gemini_emulator.py", "devtools/livekit_fake.py"}

# Known debts of issue 10, each removed by the change that pays it. The tests fail on a debt that
# is no longer there, so this list can only shrink honestly.
KNOWN_UPWARD: set[tuple[str, str]] = set()
KNOWN_CYCLES: set[frozenset[str]] = set()
KNOWN_LONG: set[str] = set()


def _application_files() -> list[Path]:
    files = [PROJECT_ROOT / "bot.py"]
    for package in LAYERS:
        folder = PROJECT_ROOT / package
        if folder.is_dir():
            files.extend(sorted(folder.rglob("*.py")))
    return files


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PROJECT_ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, known: set[str]) -> set[str]:
    """The application modules ``path`` imports (a package import counts as its ``__init__``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        for name in names:
            # The longest application module the name reaches (`from storage.models import X`
            # reaches storage.models; `from storage import Store` reaches storage).
            parts = name.split(".")
            for end in range(len(parts), 0, -1):
                candidate = ".".join(parts[:end])
                if candidate in known:
                    found.add(candidate)
                    break
    return found


def _graph() -> dict[str, set[str]]:
    files = _application_files()
    known = {_module_name(path) for path in files}
    return {_module_name(path): _imports(path, known) - {_module_name(path)} for path in files}


def _layer(module: str) -> str:
    return module.split(".")[0]


def _upward_imports(graph: dict[str, set[str]]) -> dict[tuple[str, str], list[str]]:
    found: dict[tuple[str, str], list[str]] = defaultdict(list)
    for module, targets in graph.items():
        source = _layer(module)
        for target in targets:
            destination = _layer(target)
            if source == destination:
                continue
            upward = LAYERS[destination] > LAYERS[source]
            sideways = destination in ENTRY_POINTS and source in ENTRY_POINTS
            if upward or sideways:
                found[(source, destination)].append(f"{module} -> {target}")
    return found


def _cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """Strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[frozenset[str]] = []
    counter = 0

    def visit(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(frozenset(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def test_every_application_package_has_a_layer() -> None:
    top_level = {
        path.name
        for path in PROJECT_ROOT.iterdir()
        if path.is_dir() and (path / "__init__.py").exists() and path.name != "tests"
    }
    assert top_level <= set(LAYERS), f"packages without a layer: {sorted(top_level - set(LAYERS))}"


def test_imports_point_down_the_layers() -> None:
    found = _upward_imports(_graph())
    unexpected = {pair: lines for pair, lines in found.items() if pair not in KNOWN_UPWARD}
    assert not unexpected, "imports up the layers (or between entry points):\n" + "\n".join(
        line for lines in unexpected.values() for line in lines
    )
    assert not KNOWN_UPWARD - set(found), (
        f"paid debts still listed: {sorted(KNOWN_UPWARD - set(found))}"
    )


def test_there_are_no_import_cycles() -> None:
    found = set(_cycles(_graph()))
    unexpected = found - KNOWN_CYCLES
    assert not unexpected, "import cycles:\n" + "\n".join(
        " <-> ".join(sorted(cycle)) for cycle in unexpected
    )
    assert not KNOWN_CYCLES - found, f"paid debts still listed: {KNOWN_CYCLES - found}"


def test_no_application_module_is_too_long() -> None:
    long = {
        str(path.relative_to(PROJECT_ROOT)): len(path.read_text(encoding="utf-8").splitlines())
        for path in _application_files()
    }
    over = {
        name: lines
        for name, lines in long.items()
        if lines > MAX_LINES and name not in LONG_ALLOWED and not name.startswith("bench/")
    }
    unexpected = {name: lines for name, lines in over.items() if name not in KNOWN_LONG}
    assert not unexpected, f"modules over {MAX_LINES} lines: {unexpected}"
    assert not KNOWN_LONG - set(over), f"paid debts still listed: {KNOWN_LONG - set(over)}"


def test_the_checks_see_a_cycle_and_an_upward_import() -> None:
    # The walkers themselves, on a made-up graph: a checker that cannot fail proves nothing.
    graph = {
        "storage.a": {"storage.b"},
        "storage.b": {"storage.a", "tools.x"},
        "tools.x": {"storage.a"},
        "bot": {"cli.main"},
        "cli.main": set(),
    }
    assert frozenset({"storage.a", "storage.b", "tools.x"}) in _cycles(graph)
    upward = _upward_imports(graph)
    assert ("storage", "tools") in upward
    assert ("bot", "cli") in upward
    assert ("tools", "storage") not in upward
