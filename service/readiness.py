"""Is the service ready to work: one check per part a clinic's calls depend on.

``/readyz`` runs them on every request (each is cheap: no full integrity scan, the quick check
ran when the database was opened) and reports each by name, so an IT person sees which part
failed, not only that something did. Every detail is one line without personal data or secrets.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from app.application import Application
from app.preflight import Purpose, missing_settings
from config.clinic import load_clinic_profile
from config.settings import ConfigError
from storage.migrations import SCHEMA_VERSION

_MIB = 1024 * 1024


@dataclass(frozen=True)
class Check:
    """One readiness check's finding.

    Attributes:
        name: What was checked, e.g. ``database_writable``.
        ok: Whether it passed.
        detail: One line: what was found, or what to do about it.
    """

    name: str
    ok: bool
    detail: str


async def check_readiness(
    app: Application, *, probes: Sequence[Callable[[], Check]] = ()
) -> list[Check]:
    """Run every readiness check, in a fixed order.

    Args:
        app: The running application.
        probes: Checks of the service's own loops (e.g. the campaign supervisor), run last.

    Returns:
        Every check's finding; the service is ready when all are ok.
    """
    checks: list[tuple[str, Callable[[], Awaitable[Check]]]] = [
        ("database_sound", lambda: _database_sound(app)),
        ("schema_current", lambda: _schema_current(app)),
        ("database_writable", lambda: _database_writable(app)),
        # File-system reads, off the event loop.
        ("clinic_profile", lambda: asyncio.to_thread(_clinic_profile, app)),
        ("configuration", lambda: _configuration(app)),
    ]
    if app.settings.database.location().path is None:
        # PostgreSQL: its disk is the server's, watched there; what this node needs is the server.
        checks.insert(-1, ("database_server", lambda: _database_server(app)))
    else:
        checks.insert(-1, ("disk_space", lambda: asyncio.to_thread(_disk_space, app)))
    for probe in probes:
        checks.append((getattr(probe, "__name__", "probe"), _as_awaitable(probe)))
    found = []
    for name, check in checks:
        try:
            found.append(await check())
        except Exception as exc:  # a check that breaks is a failed check, never a 500
            found.append(Check(name, False, f"the check failed: {type(exc).__name__}"))
    return found


def _as_awaitable(probe: Callable[[], Check]) -> Callable[[], Awaitable[Check]]:
    async def run() -> Check:
        return probe()

    return run


async def _database_sound(app: Application) -> Check:
    problem = app.store.health.problem
    if problem is not None:
        return Check("database_sound", False, f"the start-up integrity check failed: {problem}")
    return Check("database_sound", True, "the start-up integrity check passed")


async def _schema_current(app: Application) -> Check:
    version = await app.store.health.schema_version()
    ok = version == SCHEMA_VERSION
    detail = f"schema version {version}" + ("" if ok else f", expected {SCHEMA_VERSION}")
    return Check("schema_current", ok, detail)


async def _database_writable(app: Application) -> Check:
    problem = await app.store.health.write_problem()
    if problem is not None:
        return Check("database_writable", False, problem)
    return Check("database_writable", True, "a write transaction can start")


def _clinic_profile(app: Application) -> Check:
    # Read again from disk: staff edit the file while the service runs, and the next start
    # would fail on a broken profile.
    path = app.settings.clinic.profile_path
    try:
        on_disk = load_clinic_profile(path)
    except ConfigError as exc:
        return Check("clinic_profile", False, str(exc).splitlines()[0])
    if on_disk != app.clinic:
        # Saved from the dashboard (or edited) since the start: valid, applied at a restart.
        return Check("clinic_profile", True, f"{Path(path).name} is valid; restart Elo to use it")
    return Check("clinic_profile", True, f"{Path(path).name} is valid")


def _disk_space(app: Application) -> Check:
    folder = Path(app.settings.database.path).resolve().parent
    free_mib = shutil.disk_usage(folder).free // _MIB
    needed = app.settings.server.min_free_disk_mb
    ok = free_mib >= needed
    detail = f"{free_mib} MiB free on the database's disk" + (
        "" if ok else f", below ELO_SERVER__MIN_FREE_DISK_MB={needed}"
    )
    return Check("disk_space", ok, detail)


async def _database_server(app: Application) -> Check:
    where = app.settings.database.location().display()  # the password masked
    try:
        await asyncio.wait_for(app.store.db.scalar("SELECT 1"), timeout=5)
    except Exception as exc:  # any failure means "not reachable"
        return Check("database_server", False, f"{where} cannot be reached: {type(exc).__name__}")
    return Check("database_server", True, f"{where} answers")


async def _configuration(app: Application) -> Check:
    missing = missing_settings(app.settings, purpose=Purpose.SERVICE)
    if missing:
        return Check("configuration", False, "set " + ", ".join(missing))
    return Check("configuration", True, "LiveKit and Gemini are configured")
