"""Render ``.env.example`` from :class:`AppSettings`, so the example never drifts from the code.

Run ``python -m config.envdoc > .env.example`` after changing settings; a test compares them.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr

from config.settings import ENV_NESTED_DELIMITER, ENV_PREFIX, AppSettings

_PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _default_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, SecretStr):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, Path):
        try:
            return str(value.relative_to(_PROJECT_ROOT))
        except ValueError:
            return str(value)
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def render() -> str:
    """The full text of ``.env.example``."""
    lines = [
        "# Elo configuration. Copy to .env and fill in what you need; every line is optional.",
        "# Generated from config/settings.py by `python -m config.envdoc`: do not edit by hand.",
        "# Real environment variables override this file.",
    ]
    defaults = AppSettings.model_construct()
    for group_name, group_field in AppSettings.model_fields.items():
        group_model = group_field.annotation
        assert isinstance(group_model, type) and issubclass(group_model, BaseModel)
        doc = (group_model.__doc__ or "").strip().splitlines()[0]
        lines += ["", f"# --- {group_name}: {doc}"]
        group_default = group_model()
        for name, field in group_model.model_fields.items():
            env = f"{ENV_PREFIX}{group_name.upper()}{ENV_NESTED_DELIMITER}{name.upper()}"
            lines.append(f"# {field.description}")
            lines.append(f"{env}={_default_text(getattr(group_default, name))}")
    del defaults
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render(), end="")
