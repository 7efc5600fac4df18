from pathlib import Path

from config.envdoc import render
from config.settings import AppSettings

ROOT = Path(__file__).resolve().parents[2]


def test_env_example_mirrors_settings():
    assert (ROOT / ".env.example").read_text(encoding="utf-8") == render(), (
        "run `python -m config.envdoc > .env.example`"
    )


def test_every_setting_has_a_description():
    for group_name, group in AppSettings.model_fields.items():
        for name, field in group.annotation.model_fields.items():
            assert field.description, f"{group_name}.{name} has no description"


def _project_sources() -> list[Path]:
    """Every Python file of the project, not of its tests or of any virtualenv or cache in it.

    Virtualenvs may have any name (CI builds a second one for another Python), so every folder
    whose name starts with a dot is left out, like folders without a Python package of ours.
    """
    sources = []
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT).parts
        if parts[0] == "tests" or any(part.startswith(".") for part in parts):
            continue
        if (ROOT / parts[0] / "pyvenv.cfg").exists() or "site-packages" in parts:
            continue
        sources.append(path)
    return sources


def test_project_sources_are_found():
    names = {str(path.relative_to(ROOT)) for path in _project_sources()}
    assert {"bot.py", "config/settings.py", "cli/main.py"} <= names
    assert not any(name.startswith("tests/") for name in names)


# The one write allowed: prometheus-client reads PROMETHEUS_MULTIPROC_DIR itself, in every
# process, so `elo serve` sets it for itself and its workers (telemetry.export.use_directory).
ENVIRONMENT_WRITES = {"telemetry/export.py": "os.environ[MULTIPROC_ENV] = str(path)"}


def test_no_module_outside_settings_reads_os_environ():
    offenders = []
    for path in _project_sources():
        text = path.read_text(encoding="utf-8")
        name = str(path.relative_to(ROOT))
        if name in ENVIRONMENT_WRITES:
            assert text.count(ENVIRONMENT_WRITES[name]) == 1, name
            text = text.replace(ENVIRONMENT_WRITES[name], "")
        if "os.environ" in text or "getenv(" in text:
            offenders.append(name)
    assert offenders == []


def test_env_example_used_as_dotenv_gives_the_defaults(monkeypatch):
    from config.settings import load_settings

    monkeypatch.chdir(ROOT)
    from_example = load_settings(env_file=ROOT / ".env.example").model_dump()
    defaults = load_settings(env_file=None).model_dump()
    # The example names the profile relative to the project root, where it is meant to be copied.
    from_example["clinic"]["profile_path"] = from_example["clinic"]["profile_path"].resolve()
    assert from_example == defaults
