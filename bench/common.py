"""What every part of the tools benchmark shares: settings, clock, statistics, the clinic grid."""

from __future__ import annotations

import math
import random
import shutil
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from config.clinic import ClinicProfile
from config.logs import configure_logging
from config.settings import AppSettings, load_settings
from scheduling.calendar import ClinicCalendar
from storage import Store
from storage.timefmt import to_db
from tools.context import ToolContext, build_context

ROOT = Path(__file__).resolve().parent.parent
PROFILE_PATH = ROOT / "config" / "clinic.toml"

# A fixed "now" (Tuesday 1 December 2026, 08:00 in Tirana, as in the tests) so the seeded days
# are the ones the tools look at.
NOW = datetime.fromisoformat("2026-12-01T08:00:00+01:00")
# The booking horizon is raised from the default 90 days to a year so that every phase finds
# thousands of distinct free slots; it only bounds how far the nearest-slot search may look.
HORIZON_DAYS = 365
# check_available_slots asks about days inside the default 90-day horizon.
CHECK_DAYS = 90
WRITERS = 8

# How often each service is booked (relative weights; unknown ids weigh 1).
SERVICE_WEIGHTS = {
    "checkup": 30,
    "cleaning": 20,
    "filling": 20,
    "root_canal": 5,
    "extraction": 8,
    "whitening": 5,
    "implant_consultation": 4,
    "orthodontic_consultation": 4,
    "emergency": 4,
}


def fixed_clock() -> datetime:
    """The benchmark's frozen current time."""
    return NOW


def log(message: str) -> None:
    """Progress goes to stderr so that stdout is only the report."""
    print(message, file=sys.stderr, flush=True)


def make_settings(db_path: Path, log_file: Path) -> AppSettings:
    """Default settings (no .env file) except the paths and the booking horizon.

    Run it in a shell without ELO_* variables: like everywhere, those still apply.
    """
    return load_settings(
        env_file=None,
        database={"path": db_path},
        logging={"file": log_file, "level": "INFO"},
        clinic={"profile_path": PROFILE_PATH, "booking_horizon_days": HORIZON_DAYS},
    )


def logged_settings(db_path: Path, log_file: Path) -> AppSettings:
    """Settings for ``db_path``, with this process's logging sent (JSON, masked) to ``log_file``."""
    settings = make_settings(db_path, log_file)
    configure_logging(settings.logging, console=False)
    return settings


def fresh_copy(work: Path, base: Path, name: str) -> Path:
    """A copy of the seeded database for one phase, so that phases do not see each other."""
    db = work / f"{name}.db"
    shutil.copyfile(base, db)
    return db


async def open_context(
    db: Path, settings: AppSettings, clinic: ClinicProfile, call_id: str
) -> tuple[Store, ToolContext]:
    """A Store opened as the app opens it and a tool context on the fixed clock."""
    store = await Store.open(
        db, tz=clinic.tz, busy_timeout_ms=settings.database.busy_timeout_ms, clock=fixed_clock
    )
    ctx = build_context(
        store=store, settings=settings, clinic=clinic, clock=fixed_clock, call_id=call_id
    )
    return store, ctx


# --- statistics -------------------------------------------------------------------------------


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of ``values`` (which need not be sorted)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass
class Series:
    """Latencies of one kind of call, in milliseconds."""

    label: str
    ms: list[float] = field(default_factory=list)

    def row(self) -> list[str]:
        return [
            self.label,
            f"{len(self.ms):,}",
            *(f"{percentile(self.ms, p):.2f}" for p in (50, 95, 99)),
            f"{max(self.ms):.2f}" if self.ms else "-",
        ]


def table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


# --- the clinic grid --------------------------------------------------------------------------

Grid = list[tuple[list[datetime], list[str]]]  # per opening interval: local starts, UTC texts


class GridCache:
    """Grid slots of each opening interval of a day, local and as stored UTC text."""

    def __init__(self, clinic: ClinicProfile) -> None:
        self._clinic = clinic
        self._calendar = ClinicCalendar(clinic)
        self._days: dict[date, Grid] = {}

    def day(self, day: date) -> Grid:
        grid = self._days.get(day)
        if grid is None:
            grid = []
            for open_at, close_at in self._calendar.open_intervals(day):
                local = []
                moment = open_at
                while moment < close_at:
                    local.append(moment)
                    moment += self._clinic.slot
                grid.append((local, [to_db(m) for m in local]))
            self._days[day] = grid
        return grid


@dataclass(frozen=True)
class ServiceInfo:
    id: str
    slots: int
    price_lek: int


def service_table(clinic: ClinicProfile, *, single_slot: bool = False) -> list[ServiceInfo]:
    services = [
        ServiceInfo(s.id, s.duration_minutes // clinic.slot_minutes, s.price_lek)
        for s in clinic.services
    ]
    return [s for s in services if s.slots == 1] if single_slot else services


def pick_service(rng: random.Random, services: list[ServiceInfo]) -> ServiceInfo:
    return rng.choices(services, [SERVICE_WEIGHTS.get(s.id, 1) for s in services])[0]
