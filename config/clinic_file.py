"""Saving an edited clinic profile: validated first, written atomically, the previous kept.

The dashboard's Clinic page (admins) edits the profile's TOML text. A text that fails the
profile's validation is never written. A valid one replaces the file in one step (a temporary
file beside it, flushed to disk, then renamed over it), so a crash leaves the old file or the new
one, never half of either; the file it replaces is kept beside it as ``NAME.previous``.
The running service keeps the profile it started with: processes that are already running
(campaign runners, workers) must agree on one profile, so a saved profile applies from the
next start (readiness says when the file on disk differs from the running one).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from config.clinic import ClinicProfile, parse_clinic_profile
from config.settings import ConfigError

PREVIOUS_SUFFIX = ".previous"


def previous_path(path: Path) -> Path:
    """Where the version a save replaced is kept."""
    return path.with_name(path.name + PREVIOUS_SUFFIX)


def save_clinic_profile(path: Path, text: str) -> ClinicProfile:
    """Validate ``text`` and make it the profile at ``path``, keeping the old file.

    Args:
        path: The profile file (``ELO_CLINIC__PROFILE_PATH``).
        text: The new TOML text.

    Returns:
        The new profile.

    Raises:
        ConfigError: The text is not a valid profile (nothing written), or the folder cannot
            be written (nothing changed); one line says which.
    """
    profile = parse_clinic_profile(text, source="the clinic profile")
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        old = path.read_bytes()
    except FileNotFoundError:
        mode, old = 0o644, None
    except OSError as exc:
        raise ConfigError(f"clinic profile {path} cannot be read: {exc.strerror}") from None
    try:
        if old is not None:
            _replace(previous_path(path), old, mode)
        _replace(path, text.encode("utf-8"), mode)
    except OSError as exc:
        raise ConfigError(
            f"clinic profile {path} cannot be written: {exc.strerror}"
            " (the service's user needs write access to its folder)"
        ) from None
    return profile


def _replace(target: Path, data: bytes, mode: int) -> None:
    """Write ``data`` to ``target`` atomically (temporary file, fsync, rename, fsync folder)."""
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    folder = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
