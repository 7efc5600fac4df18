"""The dashboard benchmark's database: migrated by the Store, then bulk-filled with raw SQL.

Sizes are parameters (the benchmark: 1,000,000 calls, 100,000 appointments, 100,000 campaign
contacts; the test: a few hundred). Everything is generated in one transaction with
``executemany``, calls in time order, over two years before the benchmark's "now", on working
hours mostly, with the outcome mix of a clinic's outbound campaigns plus some inbound calls.
Calls of the last 30 days keep a realistic transcript (greeting, a few turns, tool events) and
counters; older ones were scrubbed by retention, as in a real clinic database.
"""

from __future__ import annotations

import json
import random
import sqlite3
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.common import NOW, fixed_clock
from bench.seed import existing_phone, random_name
from storage import Store
from storage.timefmt import to_db

DAYS = 730
TRANSCRIPT_DAYS = 30
# (outcome, weight): a campaign's mix; inbound calls are mostly answered.
OUTCOMES = (
    ("not_answered", 33),
    ("voicemail", 9),
    ("declined", 14),
    ("completed", 10),
    ("booked", 11),
    ("follow_up", 6),
    ("hung_up", 8),
    ("no_response", 3),
    ("opted_out", 1),
    ("transferred", 2),
    ("failed", 2),
    ("cancelled", 2),
)
SERVICES = (("checkup", 2000), ("cleaning", 3500), ("filling", 5000), ("root_canal", 15000))


@dataclass
class Sizes:
    """How much to generate."""

    calls: int = 1_000_000
    appointments: int = 100_000
    contacts: int = 100_000
    patients: int = 60_000
    campaigns: int = 20


@dataclass
class SeedReport:
    """What was generated, for the report (and the test)."""

    calls: int = 0
    appointments: int = 0
    contacts: int = 0
    attempts: int = 0
    patients: int = 0
    follow_ups: int = 0
    do_not_call: int = 0
    seconds: float = 0.0


def _transcript(rng: random.Random, outcome: str, start: datetime) -> tuple[str, str]:
    """A stored transcript and counters like the observers write (no real person's data)."""
    t = start
    entries: list[dict[str, object]] = []

    def add(**entry: object) -> None:
        nonlocal t
        t += timedelta(seconds=rng.uniform(1, 6))
        entries.append({"t": t.isoformat(timespec="milliseconds"), **entry})

    add(role="elo", text="Përshëndetje, jam asistenti automatik i klinikës. A keni një minutë?")
    add(role="patient", text="Po, më thoni.")
    add(role="elo", text="Ju telefonojmë për kontrollin tuaj të radhës. Kur ju përshtatet?")
    add(role="patient", text="Javën tjetër, të mërkurën në mëngjes.")
    if outcome == "booked":
        service, price = rng.choice(SERVICES)
        when = (start + timedelta(days=rng.randint(1, 20))).replace(hour=10, minute=0)
        args = {"preferred_date": when.isoformat(timespec="minutes"), "service_type": service}
        add(role="tool", name="schedule_appointment", arguments=args)
        service_view = {"id": service, "name": service, "price_lek": price}
        add(
            role="tool",
            name="schedule_appointment",
            result={
                "status": "booked",
                "appointment_id": rng.randint(1, 10**6),
                "service": service_view,
                "start": when.isoformat(timespec="minutes"),
            },
        )
        add(role="elo", text="U rezervua. Ju presim të mërkurën në orën dhjetë.")
    elif outcome == "follow_up":
        add(role="tool", name="schedule_follow_up", arguments={"preferred_time": "nesër 10:00"})
        add(role="tool", name="schedule_follow_up", result={"status": "scheduled"})
    add(role="tool", name="end_call", arguments={"reason": "completed"})
    add(role="tool", name="end_call", result={"status": "ending"})
    add(role="elo", text="Faleminderit, mirupafshim.")
    counters = {
        "duration_s": round((t - start).total_seconds(), 3),
        "turns": 6,
        "latency_ms": {"samples": 3, "p50": rng.randint(400, 700), "p95": rng.randint(700, 1200)},
        "pipeline_ms": {"samples": 3, "p50": rng.randint(20, 60), "p95": rng.randint(60, 120)},
    }
    return json.dumps(entries, ensure_ascii=False), json.dumps(counters)


def _call_times(rng: random.Random, count: int) -> list[datetime]:
    """``count`` call starts over the last ``DAYS`` days, mostly 09:00-18:00 local, sorted."""
    first = NOW - timedelta(days=DAYS)
    span = DAYS * 86_400
    times = []
    for _ in range(count):
        moment = first + timedelta(seconds=rng.randrange(span))
        local = moment.astimezone(NOW.tzinfo)
        if not 8 <= local.hour < 19 and rng.random() < 0.9:
            moment += timedelta(hours=rng.choice((-6, 6, 10)))
        times.append(min(moment, NOW - timedelta(minutes=1)))
    times.sort()
    return times


def seed(path: Path, sizes: Sizes, *, rng_seed: int = 12) -> SeedReport:
    """Fill a migrated database (see :func:`migrate`) with ``sizes``, in one transaction."""
    started = time.perf_counter()
    rng = random.Random(rng_seed)
    report = SeedReport(patients=sizes.patients)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("BEGIN")
    stamp = to_db(NOW - timedelta(days=DAYS + 30))
    conn.executemany(
        "INSERT INTO patients (id, phone, name, language, created_at, updated_at)"
        " VALUES (?, ?, ?, 'sq', ?, ?)",
        (
            (i, existing_phone(i), random_name(rng), stamp, stamp)
            for i in range(1, sizes.patients + 1)
        ),
    )
    conn.executemany(
        "INSERT INTO campaigns (id, name, purpose, max_concurrent_calls, max_attempts, created_at,"
        " status) VALUES (?, ?, 'recall', 2, 4, ?, 'done')",
        ((i, f"Campaign {i}", stamp) for i in range(1, sizes.campaigns + 1)),
    )
    per_campaign = max(1, sizes.contacts // sizes.campaigns)
    contacts = []
    for i in range(sizes.contacts):
        campaign = i // per_campaign % sizes.campaigns + 1
        patient = (i * 7919) % sizes.patients + 1  # distinct within a campaign for these sizes
        contacts.append((i + 1, campaign, patient, existing_phone(patient), "done", stamp))
    conn.executemany(
        "INSERT OR IGNORE INTO campaign_contacts (id, campaign_id, patient_id, phone, name, state,"
        " created_at) VALUES (?, ?, ?, ?, 'Contact', ?, ?)",
        contacts,
    )
    report.contacts = conn.execute("SELECT count(*) FROM campaign_contacts").fetchone()[0]
    _calls(conn, rng, sizes, report, contacts)
    conn.execute("COMMIT")
    conn.close()
    report.seconds = time.perf_counter() - started
    return report


def _calls(
    conn: sqlite3.Connection,
    rng: random.Random,
    sizes: Sizes,
    report: SeedReport,
    contacts: list[tuple[object, ...]],
) -> None:
    names, weights = [o for o, _ in OUTCOMES], [w for _, w in OUTCOMES]
    recent = NOW - timedelta(days=TRANSCRIPT_DAYS)
    calls, attempts, appointments, follow_ups, dnc = [], [], [], [], {}
    taken: set[tuple[int, str]] = set()
    for n, start in enumerate(_call_times(rng, sizes.calls)):
        call_id = f"c{n:08d}"
        outcome = rng.choices(names, weights)[0]
        if outcome == "booked" and len(appointments) >= sizes.appointments:
            outcome = "completed"
        inbound = rng.random() < 0.1
        patient = rng.randint(1, sizes.patients)
        phone = existing_phone(patient)
        end = start + timedelta(seconds=rng.randint(5, 300))
        transcript, counters = ("[]", "{}")
        if start >= recent and outcome != "not_answered":
            transcript, counters = _transcript(rng, outcome, start)
        price = 0
        if outcome == "booked":
            service, price = rng.choice(SERVICES)
            appointments.append(_appointment(rng, taken, patient, service, price, call_id, start))
        calls.append(
            (
                call_id,
                patient,
                phone,
                to_db(start),
                to_db(end),
                outcome,
                transcript,
                counters,
                "inbound" if inbound else "outbound",
                int(outcome == "booked"),
                price,
            )
        )
        if not inbound and contacts and rng.random() < 0.3:
            contact = contacts[rng.randrange(len(contacts))]
            attempt_outcome = {
                "not_answered": "no_answer",
                "completed": "declined",
                "hung_up": "declined",
                "no_response": "no_answer",
                "cancelled": "failed",
            }.get(outcome, outcome)
            attempts.append(
                (
                    contact[0],
                    contact[1],
                    contact[3],
                    to_db(start - timedelta(seconds=20)),
                    to_db(end),
                    attempt_outcome,
                    call_id,
                )
            )
        if outcome == "follow_up" or (outcome == "transferred" and rng.random() < 0.3):
            due = start + timedelta(days=1)
            status = "pending" if start >= NOW - timedelta(days=60) else "done"
            follow_ups.append((patient, to_db(due), status, "Call back", call_id, to_db(start)))
        if outcome == "opted_out":
            dnc.setdefault(phone, ("no more calls", call_id, to_db(end)))
    conn.executemany(
        "INSERT INTO calls (id, patient_id, phone, started_at, ended_at, outcome, transcript,"
        " counters, direction, appointments_booked, revenue_booked)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        calls,
    )
    conn.executemany(
        "INSERT INTO call_attempts (contact_id, campaign_id, phone, started_at, ended_at, outcome,"
        " call_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
        attempts,
    )
    conn.executemany(
        "INSERT INTO appointments (patient_id, service_id, chair, starts_at, ends_at, status,"
        " price_lek, source, call_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'agent', ?, ?)",
        appointments,
    )
    conn.executemany(
        "INSERT INTO follow_ups (patient_id, due_at, status, reason, source, call_id, created_at)"
        " VALUES (?, ?, ?, ?, 'agent', ?, ?)",
        follow_ups,
    )
    conn.executemany(
        "INSERT INTO do_not_call (phone, reason, source, call_id, added_at)"
        " VALUES (?, ?, 'agent', ?, ?)",
        [(phone, *entry) for phone, entry in dnc.items()],
    )
    report.calls, report.attempts = len(calls), len(attempts)
    report.appointments, report.follow_ups, report.do_not_call = (
        len(appointments),
        len(follow_ups),
        len(dnc),
    )


def _appointment(
    rng: random.Random,
    taken: set[tuple[int, str]],
    patient: int,
    service: str,
    price: int,
    call_id: str,
    booked_at: datetime,
) -> tuple[object, ...]:
    """An appointment booked in a call: days later, on the half hour.

    Only upcoming ones are active (scheduled or confirmed), and no chair holds two of those at
    one time (the unique index would refuse it); past ones are closed and may share a time.
    """
    local = booked_at.astimezone(NOW.tzinfo)
    day = local.date() + timedelta(days=rng.randint(1, 21))
    while True:
        hour, half, chair = rng.randint(9, 17), rng.choice((0, 30)), rng.randint(1, 8)
        start = datetime(day.year, day.month, day.day, hour, half, tzinfo=NOW.tzinfo)
        key = (chair, to_db(start))
        if start <= NOW or key not in taken:
            taken.add(key)
            break
        day += timedelta(days=1)
    if start > NOW:
        status = rng.choices(("scheduled", "confirmed"), (85, 15))[0]
    else:
        status = rng.choices(("completed", "no_show", "cancelled"), (88, 5, 7))[0]
    return (
        patient,
        service,
        chair,
        to_db(start),
        to_db(start + timedelta(minutes=30)),
        status,
        price,
        call_id,
        to_db(booked_at + timedelta(minutes=2)),
    )


async def migrate(path: Path) -> None:
    """Create the schema the way the app does: by opening a Store."""
    store = await Store.open(path, clock=fixed_clock)
    await store.close()


def utc_now() -> datetime:
    """The benchmark's "now" in UTC."""
    return NOW.astimezone(UTC)
