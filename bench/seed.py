"""The benchmark's database: migrated by the Store, then filled with raw SQL (it is only setup)."""

from __future__ import annotations

import random
import sqlite3
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from bench.common import (
    CHECK_DAYS,
    HORIZON_DAYS,
    NOW,
    GridCache,
    ServiceInfo,
    fixed_clock,
    pick_service,
    service_table,
)
from config.clinic import ClinicProfile
from storage import Store
from storage.timefmt import to_db

# Probability of placing an appointment at each free grid position of a chair, by day offset from
# today. Near days are nearly full, far days nearly empty, the past fairly busy.
FUTURE_DENSITY = ((7, 0.9), (30, 0.6), (CHECK_DAYS, 0.4), (HORIZON_DAYS + 1, 0.12))
PAST_DENSITY = 0.7
PAST_STATUSES = (("completed", 85), ("no_show", 4), ("cancelled", 6), ("scheduled", 5))
FUTURE_STATUSES = (("scheduled", 80), ("confirmed", 15), ("cancelled", 5))
ACTIVE = {"scheduled", "confirmed"}

FIRST_NAMES = (
    "Arbër Elira Besnik Drita Gentian Jonida Ardit Blerina Erion Mirela Klodian Anisa Ilir Teuta"
    " Dritan Ornela Fatos Valbona Sokol Xhensila Edmond Rudina Altin Majlinda Genc Eljona"
).split()
LAST_NAMES = (
    "Hoxha Shehu Çela Leka Kola Gjoka Marku Dushku Basha Duka Prifti Mema Rama Berisha Kelmendi"
    " Gashi Krasniqi Zeneli Bregu Lika Meta Tafaj Dervishi Hysa Ndreu"
).split()


def random_name(rng: random.Random) -> str:
    return f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"


def existing_phone(patient_id: int) -> str:
    """The phone number seeded for patient ``patient_id``."""
    return f"+35569{1_000_000 + patient_id:07d}"


@dataclass
class SeedInfo:
    appointments: int = 0
    active: int = 0
    slot_rows: int = 0
    patients: int = 0
    chairs: int = 0
    first_day: date | None = None
    last_day: date | None = None
    seconds: float = 0.0
    # Occupied share of chair-slots per band of days ahead: label -> (taken, capacity).
    occupancy: dict[str, list[int]] = field(default_factory=dict)


@dataclass(frozen=True)
class SeedRow:
    start: datetime
    end: datetime
    slots: list[str]  # UTC texts of the grid slots it covers
    chair: int
    service: ServiceInfo
    status: str


def pick(rng: random.Random, weighted: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([v for v, _ in weighted], [w for _, w in weighted])[0]


def future_density(offset: int) -> float:
    return next(density for limit, density in FUTURE_DENSITY if offset < limit)


def band(offset: int) -> str:
    if offset < 7:
        return "days 0-6"
    if offset < 30:
        return "days 7-29"
    if offset < CHECK_DAYS:
        return f"days 30-{CHECK_DAYS - 1}"
    return f"days {CHECK_DAYS}-{HORIZON_DAYS}"


async def migrate(path: Path, clinic: ClinicProfile) -> None:
    """Create the schema the way the app does: by opening a Store."""
    store = await Store.open(path, tz=clinic.tz, clock=fixed_clock)
    await store.close()


def seed(
    path: Path,
    clinic: ClinicProfile,
    grid: GridCache,
    rng: random.Random,
    *,
    appointments: int,
    patients: int,
) -> SeedInfo:
    """Fill a migrated database with patients and appointments, in one transaction.

    Each chair's day is walked slot by slot: an appointment of a random service starts with the
    day's density, otherwise the slot stays free, so no chair is ever double-booked. Past
    appointments are mostly completed (no slot rows); future ones are mostly active.
    """
    started = time.perf_counter()
    info = SeedInfo(patients=patients, chairs=clinic.chairs)
    services = service_table(clinic)
    today = NOW.date()
    chairs = range(1, clinic.chairs + 1)

    def fill(day: date, density: float, past: bool, room: int) -> list[SeedRow]:
        rows: list[SeedRow] = []
        for local, utc in grid.day(day):
            for chair in chairs:
                i = 0
                while i < len(local):
                    if len(rows) >= room or rng.random() >= density:
                        i += 1
                        continue
                    service = pick_service(rng, services)
                    if i + service.slots > len(local):
                        i += 1
                        continue
                    status = pick(rng, PAST_STATUSES if past else FUTURE_STATUSES)
                    end = local[i] + clinic.slot * service.slots
                    rows.append(
                        SeedRow(local[i], end, utc[i : i + service.slots], chair, service, status)
                    )
                    i += service.slots
        return rows

    future: list[SeedRow] = []
    for offset in range(HORIZON_DAYS + 1):
        day = today + timedelta(days=offset)
        rows = fill(day, future_density(offset), False, appointments - len(future))
        future.extend(rows)
        counts = info.occupancy.setdefault(band(offset), [0, 0])
        counts[0] += sum(len(row.slots) for row in rows if row.status in ACTIVE)
        counts[1] += sum(len(local) for local, _ in grid.day(day)) * clinic.chairs
    past_days: list[list[SeedRow]] = []
    count = len(future)
    day = today
    while count < appointments:
        day -= timedelta(days=1)
        rows = fill(day, PAST_DENSITY, True, appointments - count)
        past_days.append(rows)
        count += len(rows)
    rows = [row for day_rows in reversed(past_days) for row in day_rows] + future
    info.first_day = rows[0].start.date() if rows else today
    info.last_day = rows[-1].start.date() if rows else today

    patient_rows = []
    for pid in range(1, patients + 1):
        name = random_name(rng)
        email = f"patient{pid}@example.com" if rng.random() < 0.3 else None
        joined = to_db(NOW - timedelta(days=rng.randint(1, 4000)))
        language = "en" if rng.random() < 0.1 else "sq"
        patient_rows.append((pid, existing_phone(pid), name, email, language, joined, joined))

    appointment_rows = []
    slot_rows = []
    for aid, row in enumerate(rows, start=1):
        created = min(row.start - timedelta(days=rng.randint(0, 60), hours=rng.randint(1, 12)), NOW)
        appointment_rows.append(
            (
                aid,
                rng.randint(1, patients),
                row.service.id,
                row.chair,
                row.slots[0],
                to_db(row.end),
                row.status,
                row.service.price_lek,
                "agent" if rng.random() < 0.6 else "cli",
                None,
                None,
                to_db(created),
            )
        )
        if row.status in ACTIVE:
            info.active += 1
            slot_rows.extend((row.chair, slot_start, aid) for slot_start in row.slots)
    info.appointments = len(appointment_rows)
    info.slot_rows = len(slot_rows)

    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO patients VALUES (?, ?, ?, ?, ?, ?, ?)", patient_rows)
        conn.executemany(
            "INSERT INTO appointments VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            appointment_rows,
        )
        conn.executemany("INSERT INTO appointment_slots VALUES (?, ?, ?)", slot_rows)
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    info.seconds = time.perf_counter() - started
    return info
