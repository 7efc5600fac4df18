"""The campaign benchmark: planning dial batches on 100,000 contacts, and the dispatcher's cost.

Run ``python -m bench.campaign_bench`` (``make bench-campaign``); it takes well under a minute and
rewrites the "Campaign dialling" section of docs/benchmarks.md (``--quick`` or ``--no-doc``
leave the file alone). Progress goes to stderr, the section to stdout.

Planning: a real SQLite file (migrated by ``Store.open``) is seeded with raw SQL (set-up, not
timed) and :func:`campaign.planner.plan_batch`, :func:`campaign.planner.next_wake` and
:meth:`storage.campaign_queue.CampaignQueue.claim_contact` are timed through the Store, as the
runner calls them.

Dispatch: a real :class:`campaign.runner.CampaignRunner` with the real
:class:`campaign.dialer.LiveKitDialer` talks HTTP to ``devtools/livekit_fake.py`` running in a
child process (standing in for the LiveKit server, so its work is not charged to the runner);
the voice pipeline is replaced by an instant launcher (the callee answers and hangs up at once).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import multiprocessing
import os
import random
import shutil
import sqlite3
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from zoneinfo import ZoneInfo

from loguru import logger
from pydantic import SecretStr

from app.calling_rules import CampaignRules
from bench.common import log, make_settings, percentile, table
from bench.report import filesystem, machine, publish
from campaign.calls import CallEnd, CallJob
from campaign.dialer import DialRequest, LiveKitDialer
from campaign.planner import next_wake, plan_batch
from campaign.runner import CampaignRunner
from config.logs import configure_logging
from config.settings import AppSettings
from devtools.clock import ManualClock, SimulatedSleep
from storage import Campaign, NewContact, Store
from storage.models import CallOutcome
from storage.timefmt import to_db

HEADING = "## Campaign dialling (issue 4)"
TIRANE = ZoneInfo("Europe/Tirane")
PLAN_TARGET_S = 1.0
API_KEY = "devkey"
API_SECRET = "bench-secret-that-is-long-enough-for-hs256"

# Wednesday 2 December 2026, 17:00 in Tirana (16:00 UTC): a working day everywhere; the default
# window (10-13, 14-20 local, Mon-Fri) is open in Europe and New York (11:00), closed in Tokyo
# (01:00 on Thursday).
PLAN_NOW = datetime(2026, 12, 2, 17, 0, tzinfo=TIRANE)
# Thursday 3 December, 11:00 in Tokyo (02:00 UTC): only the Japanese 5% may be called.
TOKYO_ONLY_NOW = datetime(2026, 12, 3, 2, 0, tzinfo=UTC)
# Dispatch runs start when the window has just opened in Tirana (as in tests/campaign).
DISPATCH_START = datetime(2026, 12, 2, 10, 0, tzinfo=TIRANE)

# (time zone, country, share, number prefix): 10 more digits follow the prefix, so numbers are
# valid E.164 lengths and never clash between countries.
ZONES = (
    ("Europe/Tirane", "AL", 0.70, "+35569"),
    ("Europe/Rome", "IT", 0.10, "+393"),
    ("Europe/Berlin", "DE", 0.10, "+4915"),
    ("America/New_York", "US", 0.05, "+1212"),
    ("Asia/Tokyo", "JP", 0.05, "+8190"),
)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.campaign_bench", description=__doc__)
    parser.add_argument("--contacts", type=int, default=100_000, help="contacts in the campaign")
    parser.add_argument("--runs", type=int, default=50, help="timed runs per planning call")
    parser.add_argument("--claims", type=int, default=50, help="timed claim_contact calls")
    parser.add_argument("--calls", type=int, default=300, help="contacts per dispatcher run")
    parser.add_argument("--caps", default="1,4,10", help="concurrency caps to run, in order")
    parser.add_argument("--seed", type=int, default=20261202, help="random seed")
    parser.add_argument("--quick", action="store_true", help="small run; docs left alone")
    parser.add_argument("--no-doc", action="store_true", help="do not write docs/benchmarks.md")
    parser.add_argument("--tmpdir", type=Path, help="where the temp databases go")
    args = parser.parse_args(argv)
    if args.quick:
        args.contacts, args.runs, args.claims, args.calls, args.caps = 5_000, 10, 10, 40, "1,4"
    return args


def _ms(values: Sequence[float]) -> list[str]:
    return [f"{percentile(values, p):.2f}" for p in (50, 95)] + [f"{max(values):.2f}"]


# --- planning: seeding --------------------------------------------------------------------------


@dataclass
class SeedInfo:
    """What the planning database holds."""

    contacts: int = 0
    queued: int = 0
    due: int = 0
    attempts: int = 0
    dnc: int = 0
    seconds: float = 0.0
    by_zone: Counter[str] = field(default_factory=Counter)


def seed_contacts(db: Path, campaign_id: int, n: int, rng: random.Random) -> SeedInfo:
    """Fill the campaign with ``n`` contacts and a history of finished attempts, in raw SQL.

    30% of contacts have 1-3 finished attempts in the last 25 days and a retry time (60% of
    those already due, 40% in the next 3 days); 5% are done (booked, declined or exhausted);
    2% of numbers are on the do-not-call list (opted out after the import, still queued).
    Priorities: 80% 0, 15% 1, 5% 2.
    """
    began = time.perf_counter()
    info = SeedInfo(contacts=n)
    now = PLAN_NOW
    created = to_db(now - timedelta(days=40))
    zones = [z[:2] for z in ZONES]
    weights = [z[2] for z in ZONES]
    prefix = {(tz, cc): p for tz, cc, _, p in ZONES}
    contacts, attempts, dnc = [], [], []
    attempt_id = 0
    for cid in range(1, n + 1):
        tz, cc = rng.choices(zones, weights)[0]
        info.by_zone[cc] += 1
        phone = f"{prefix[(tz, cc)]}{cid:010d}"[:16]
        priority = rng.choices((0, 1, 2), (80, 15, 5))[0]
        state, done_reason, next_call_at = "queued", None, None
        roll = rng.random()
        tries = 0
        if roll < 0.05:
            state = "done"
            done_reason = rng.choice(("booked", "declined", "exhausted"))
            tries = rng.randint(1, 3)
        elif roll < 0.35:
            tries = rng.randint(1, 3)
            ahead = rng.random() < 0.4
            offset = timedelta(minutes=rng.randint(1, 3 * 24 * 60))
            next_call_at = to_db(now + offset if ahead else now - offset)
        last = now - timedelta(days=rng.uniform(0.5, 25))
        for k in range(tries):
            attempt_id += 1
            started = last - timedelta(days=2 * (tries - 1 - k), minutes=rng.randint(0, 60))
            outcome = rng.choice(("no_answer", "busy", "voicemail"))
            if k == tries - 1 and state == "done" and done_reason in ("booked", "declined"):
                outcome = done_reason
            attempts.append(
                (
                    attempt_id,
                    cid,
                    to_db(started),
                    to_db(started + timedelta(seconds=30)),
                    outcome,
                    uuid.UUID(int=rng.getrandbits(128)).hex,
                    phone,
                    campaign_id,
                    f"elo-{attempt_id:016x}",
                )
            )
        if rng.random() < 0.02:
            dnc.append((phone, "asked in a call", "agent", to_db(now - timedelta(days=3))))
        contacts.append(
            (
                cid,
                campaign_id,
                phone,
                f"Patient {cid}",
                tz,
                cc,
                "sq" if cc == "AL" else "en",
                priority,
                created,
                state,
                next_call_at,
                done_reason,
            )
        )
        if state == "queued":
            info.queued += 1
            if next_call_at is None or next_call_at <= to_db(now):
                info.due += 1
    conn = sqlite3.connect(db)
    with conn:
        conn.executemany(
            "INSERT INTO campaign_contacts (id, campaign_id, phone, name, time_zone, country,"
            " language, priority, created_at, state, next_call_at, done_reason)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            contacts,
        )
        conn.executemany(
            "INSERT INTO call_attempts (id, contact_id, started_at, ended_at, outcome, call_id,"
            " phone, campaign_id, room) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            attempts,
        )
        conn.executemany(
            "INSERT INTO do_not_call (phone, reason, source, added_at) VALUES (?, ?, ?, ?)", dnc
        )
    conn.execute("ANALYZE")
    conn.close()
    info.attempts, info.dnc = len(attempts), len(dnc)
    info.seconds = time.perf_counter() - began
    return info


def make_worst_case(db: Path, now: datetime) -> None:
    """Every queued contact waits a week, except the 10 that come last in calling order."""
    conn = sqlite3.connect(db)
    with conn:
        conn.execute(
            "UPDATE campaign_contacts SET next_call_at = ? WHERE state = 'queued'",
            (to_db(now + timedelta(days=7)),),
        )
        # Callable now (an open zone, not on the do-not-call list), lowest priority, newest.
        conn.execute(
            "UPDATE campaign_contacts SET next_call_at = ? WHERE id IN ("
            " SELECT id FROM campaign_contacts c WHERE state = 'queued' AND country = 'AL'"
            " AND NOT EXISTS (SELECT 1 FROM do_not_call d WHERE d.phone = c.phone)"
            " ORDER BY priority, id DESC LIMIT 10)",
            (to_db(now - timedelta(hours=1)),),
        )
    conn.close()


# --- planning: timing ---------------------------------------------------------------------------


@dataclass
class PlanRow:
    """One timed planning call."""

    label: str
    ms: list[float]
    returned: int | str


async def _time(
    label: str,
    runs: int,
    call: Callable[[], Awaitable[object]],
    size: Callable[[object], int | str],
) -> PlanRow:
    result = await call()  # warm-up: caches, zoneinfo, statement cache
    ms = []
    for _ in range(runs):
        began = time.perf_counter()
        result = await call()
        ms.append((time.perf_counter() - began) * 1000)
    return PlanRow(label, ms, size(result))


async def _plan_rows(
    db: Path, runs: int, settings: AppSettings, now: datetime, tag: str
) -> tuple[list[PlanRow], Store, Campaign, CampaignRules]:
    clock = ManualClock(now)
    store = await Store.open(db, tz=TIRANE, clock=clock)
    campaign = await store.campaigns.get_by_id(campaign_id=1)
    assert campaign is not None
    rules = CampaignRules.for_campaign(campaign, settings)
    rows: list[PlanRow] = []
    try:
        await _plan_timings(store, campaign, rules, now, runs, tag, rows)
    except BaseException:
        await store.close()
        raise
    return rows, store, campaign, rules


async def _plan_timings(
    store: Store,
    campaign: Campaign,
    rules: CampaignRules,
    now: datetime,
    runs: int,
    tag: str,
    rows: list[PlanRow],
) -> None:
    for limit in (10, 100):
        rows.append(
            await _time(
                f"plan_batch, limit {limit}{tag}",
                runs,
                lambda limit=limit: plan_batch(store, campaign, rules, now=now, limit=limit),
                len,
            )
        )
    rows.append(
        await _time(
            f"next_wake{tag}",
            runs,
            lambda: next_wake(store, campaign, rules, now=now),
            lambda at: "now" if at == now else str(at),
        )
    )


async def _claims(
    store: Store, campaign: Campaign, rules: CampaignRules, now: datetime, n: int
) -> tuple[PlanRow, Counter[str]]:
    batch = await plan_batch(store, campaign, rules, now=now, limit=n)
    ms, kinds = [], Counter[str]()
    for contact in batch:
        call_id = uuid.uuid4().hex
        began = time.perf_counter()
        claim = await store.queue.claim_contact(
            contact_id=contact.id,
            room=f"elo-{call_id[:16]}",
            call_id=call_id,
            campaign_cap=10_000,
            global_cap=10_000,
            max_attempts=campaign.max_attempts,
            policy=lambda attempts, refusals: rules.policy.next_attempt_allowed(
                attempts, refusals, now
            ),
            history_since=now - rules.history,
        )
        ms.append((time.perf_counter() - began) * 1000)
        kinds["opened" if claim.attempt else claim.skipped or "deferred"] += 1
    return PlanRow("claim_contact (one due contact)", ms, len(ms)), kinds


@dataclass
class PlanResult:
    """The planning phase's numbers."""

    seed: SeedInfo
    rows: list[PlanRow]
    claim_kinds: Counter[str]
    worst_plan_ms: float


async def planning_phase(work: Path, args: argparse.Namespace, rng: random.Random) -> PlanResult:
    """Seed the 100k-contact database, then time planning on it and on its worst-case copy."""
    base = work / "plan.db"
    settings = make_settings(base, work / "elo.jsonl")
    store = await Store.open(base, tz=TIRANE, clock=ManualClock(PLAN_NOW))
    await store.campaigns.create(name="Recall 2026", purpose="recall", max_concurrent_calls=4)
    await store.close()
    log(f"seeding {args.contacts:,} contacts ...")
    seeded = seed_contacts(base, 1, args.contacts, rng)
    worst = work / "worst.db"
    shutil.copyfile(base, worst)
    make_worst_case(worst, PLAN_NOW)
    log(f"  {seeded.seconds:.1f} s; timing planning ({args.runs} runs each) ...")

    rows, store, campaign, rules = await _plan_rows(base, args.runs, settings, PLAN_NOW, "")
    try:
        # The parts: plan_batch reads the zones; the runner's loop also counts the queue and
        # asks next_wake, which groups the due contacts by zone.
        for label, call, size in (
            ("  part: CampaignQueue.zones", lambda: store.queue.zones(campaign_id=1), len),
            (
                "  part: CampaignQueue.due_by_zone (next_wake)",
                lambda: store.queue.due_by_zone(campaign_id=1, now=PLAN_NOW),
                len,
            ),
            (
                "  part: CampaignQueue.count_queued",
                lambda: store.queue.count_queued(campaign_id=1),
                str,
            ),
        ):
            rows.append(await _time(label, args.runs, call, size))
        claim_row, kinds = await _claims(store, campaign, rules, PLAN_NOW, args.claims)
    finally:
        await store.close()
    tokyo, store, *_ = await _plan_rows(
        base, args.runs, settings, TOKYO_ONLY_NOW, ", window open in Tokyo only (5%)"
    )
    await store.close()
    worst_rows, store, *_ = await _plan_rows(
        worst, args.runs, settings, PLAN_NOW, ", worst case (10 due, last in order)"
    )
    await store.close()
    all_rows = [*rows, claim_row, *tokyo[:2], *worst_rows]
    worst_ms = max(max(r.ms) for r in all_rows if r.label.startswith("plan_batch"))
    for row in all_rows:
        log(f"  {row.label}: p50 {percentile(row.ms, 50):.2f} ms, max {max(row.ms):.2f} ms")
    return PlanResult(seeded, all_rows, kinds, worst_ms)


# --- dispatch: the LiveKit fake in a child process ----------------------------------------------


def _serve(conn: Connection, busy: list[str]) -> None:
    """Child process: run the LiveKit fake until told to stop; answer CPU-time questions."""
    from devtools.livekit_fake import FakeLiveKitServer, SipScript

    server = FakeLiveKitServer(API_KEY, API_SECRET).start_in_thread()
    for phone in busy:
        server.script(phone, SipScript(outcome="busy"))
    conn.send(server.url)
    while True:
        message = conn.recv()
        if message == "cpu":
            conn.send(time.process_time())
        elif message == "requests":
            conn.send(Counter(r.method for r in server.requests))
        else:
            break
    server.stop()
    conn.send("stopped")


class FakeHost:
    """The LiveKit fake in a child process, so its CPU is not the dispatcher's."""

    def __init__(self, busy: list[str]) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._process = ctx.Process(target=_serve, args=(child, busy), daemon=True)
        self._process.start()
        self.url: str = self._conn.recv()

    def ask(self, message: str) -> object:
        self._conn.send(message)
        return self._conn.recv()

    def close(self) -> None:
        self._conn.send("stop")
        self._conn.recv()
        self._process.join(5)


# --- dispatch: an instant voice pipeline and simulated time -------------------------------------


class InstantCall:
    """A LiveCall that is ready at once; an answered callee hangs up at once."""

    def __init__(self) -> None:
        self.ready = asyncio.Event()
        self.ready.set()
        self._ended: asyncio.Future[CallEnd] = asyncio.get_running_loop().create_future()

    async def callee_answered(self) -> None:
        if not self._ended.done():
            self._ended.set_result(CallEnd(outcome=CallOutcome.COMPLETED, duration_s=0))

    async def cancel(self, *, reason: str) -> None:
        if not self._ended.done():
            self._ended.set_result(CallEnd(outcome=CallOutcome.CANCELLED, reason=reason))

    async def wait(self) -> CallEnd:
        return await asyncio.shield(self._ended)

    def done(self) -> bool:
        return self._ended.done()


class InstantLauncher:
    """Starts :class:`InstantCall`s (no pipeline, no model, no audio)."""

    async def start(self, job: CallJob) -> InstantCall:
        return InstantCall()


# --- dispatch: timing ---------------------------------------------------------------------------


@dataclass
class DispatchRow:
    """One dispatcher (or HTTP-only) run."""

    label: str
    cap: int
    attempts: int
    wall_s: float
    cpu_s: float
    fake_cpu_s: float
    outcomes: Counter[str] = field(default_factory=Counter)

    def row(self) -> list[str]:
        per = 1000 / self.attempts
        return [
            self.label,
            str(self.cap),
            f"{self.attempts:,}",
            f"{self.wall_s * per:.2f}",
            f"{self.attempts / self.wall_s:.0f}",
            f"{self.cpu_s * per:.2f}",
            f"{self.fake_cpu_s * per:.2f}",
        ]


def _phones(tag: int, n: int) -> list[str]:
    return [f"+3556{tag}{i:07d}" for i in range(n)]


def _settings(work: Path, db: Path, url: str, cap: int) -> AppSettings:
    settings = make_settings(db, work / "elo.jsonl")
    return settings.model_copy(
        update={
            "livekit": settings.livekit.model_copy(
                update={
                    "url": url,
                    "api_key": SecretStr(API_KEY),
                    "api_secret": SecretStr(API_SECRET),
                    "sip_trunk_id": "ST_bench",
                    "ringing_timeout_secs": 30,
                }
            ),
            # A long poll so simulated time jumps from event to event; cap = the global cap.
            "campaign": settings.campaign.model_copy(
                update={"poll_secs": 86400.0, "max_concurrent_calls": cap}
            ),
        }
    )


async def run_dispatch(work: Path, fake: FakeHost, phones: list[str], cap: int) -> DispatchRow:
    """One campaign of ``phones`` through a real runner, with ``cap`` calls at once at most."""
    db = work / f"dispatch-{cap}.db"
    clock = ManualClock(DISPATCH_START)
    settings = _settings(work, db, fake.url, cap)
    store = await Store.open(db, tz=TIRANE, clock=clock)
    campaign = await store.campaigns.create(
        name=f"Dispatch {cap}", purpose="recall", max_concurrent_calls=cap
    )
    await store.campaigns.add_contacts(
        campaign_id=campaign.id,
        contacts=[NewContact(phone=p, name=f"Patient {i}") for i, p in enumerate(phones)],
    )
    dialer = LiveKitDialer.from_settings(settings)
    time_ = SimulatedSleep(clock)
    runner = CampaignRunner(
        store=store,
        settings=settings,
        campaign=campaign,
        dialer=dialer,
        launcher=InstantLauncher(),
        clock=clock,
        sleep=time_,
    )
    time_.runner = runner
    # Warm the HTTP session (one connection set-up) outside the timed run.
    await dialer.hang_up(room="warm-up")
    fake_before = fake.ask("cpu")
    cpu_before, began = time.process_time(), time.perf_counter()
    # Busy numbers are retried after an hour: stopping at 30 min leaves one attempt each.
    progress = await runner.run(until=DISPATCH_START + timedelta(minutes=30))
    wall, cpu = time.perf_counter() - began, time.process_time() - cpu_before
    fake_cpu = fake.ask("cpu") - fake_before  # type: ignore[operator]
    await dialer.aclose()
    await store.close()
    return DispatchRow(
        "CampaignRunner", cap, progress.dialled, wall, cpu, fake_cpu, Counter(progress.outcomes)
    )


async def run_http_only(fake: FakeHost, phones: list[str], cap: int) -> DispatchRow:
    """The same LiveKit requests per call (create room, dial, delete room), nothing else."""
    dialer = LiveKitDialer(url=fake.url, api_key=API_KEY, api_secret=API_SECRET)
    await dialer.hang_up(room="warm-up")
    queue = list(reversed(phones))
    outcomes: Counter[str] = Counter()

    async def worker() -> None:
        while queue:
            phone = queue.pop()
            room = f"elo-{uuid.uuid4().hex[:16]}"
            await dialer.create_room(room=room, metadata="{}", empty_timeout_s=120)
            result = await dialer.dial(
                DialRequest(
                    room=room,
                    phone=phone,
                    participant_identity="patient-1",
                    trunk_id="ST_bench",
                    caller_id=None,
                    ringing_timeout_s=30.0,
                )
            )
            outcomes[result.outcome or "answered"] += 1
            await dialer.hang_up(room=room)

    fake_before = fake.ask("cpu")
    cpu_before, began = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(cap)))
    wall, cpu = time.perf_counter() - began, time.process_time() - cpu_before
    fake_cpu = fake.ask("cpu") - fake_before  # type: ignore[operator]
    await dialer.aclose()
    return DispatchRow(
        "LiveKitDialer requests only", cap, len(phones), wall, cpu, fake_cpu, outcomes
    )


def dispatch_phase(work: Path, args: argparse.Namespace) -> list[DispatchRow]:
    """Runner and HTTP-only runs at each cap, each on fresh numbers; half of them busy."""
    caps = [int(c) for c in args.caps.split(",")]
    sets = {
        (kind, cap): _phones(k * 10 + j, args.calls)
        for k, kind in enumerate(("r", "h"))
        for j, cap in enumerate(caps)
    }
    busy = [p for phones in sets.values() for p in phones[1::2]]
    log(f"dispatch: {args.calls} contacts per run, caps {caps}; starting the LiveKit fake ...")
    fake = FakeHost(busy)
    rows: list[DispatchRow] = []
    try:
        for cap in caps:
            rows.append(asyncio.run(run_dispatch(work, fake, sets[("r", cap)], cap)))
            rows.append(asyncio.run(run_http_only(fake, sets[("h", cap)], cap)))
            for row in rows[-2:]:
                log(
                    f"  {row.label}, cap {cap}: {row.wall_s / row.attempts * 1000:.2f} ms/attempt,"
                    f" {row.attempts / row.wall_s:.0f}/s, outcomes {dict(row.outcomes)}"
                )
        requests = fake.ask("requests")
        log(f"  fake served {dict(requests)}")  # type: ignore[call-overload]
    finally:
        fake.close()
    return rows


# --- the report ---------------------------------------------------------------------------------


def report(
    host: dict[str, str],
    fs: str,
    load: tuple[float, float],
    plan: PlanResult,
    dispatch: list[DispatchRow],
    args: argparse.Namespace,
    total_s: float,
) -> str:
    s = plan.seed
    worst_ms = plan.worst_plan_ms
    plan_rows = [[r.label, str(len(r.ms)), *_ms(r.ms), str(r.returned)] for r in plan.rows]
    lines = [
        HEADING,
        "",
        f"Measured {host['date']} with `make bench-campaign` (`python -m bench.campaign_bench`,"
        f" {total_s:.0f} s in all) on:",
        "",
        f"- CPU: {host['cpu']}, {host['cores']}",
        f"- {host['os']}; database in a temp dir on {fs}",
        f"- Python {host['python']}, SQLite {host['sqlite']}, aiosqlite {host['aiosqlite']},"
        f" livekit-api {importlib.metadata.version('livekit-api')},"
        f" aiohttp {importlib.metadata.version('aiohttp')}",
        f"- Load average (1 min) {load[0]:.2f} before and {load[1]:.2f} after the run (other"
        " work on the machine inflates the tails)",
        "",
        "### Targets",
        "",
        table(
            ["Target", "Goal", "Measured (slowest plan_batch of any run)", "Met"],
            [
                [
                    f"Plan the next dial batch, {s.contacts:,} contacts",
                    f"< {PLAN_TARGET_S:.0f} s",
                    f"{worst_ms:.1f} ms",
                    "yes" if worst_ms < PLAN_TARGET_S * 1000 else "**no**",
                ]
            ],
        ),
        "",
        f"### Planning ({s.contacts:,} contacts, one campaign, {args.runs} runs each)",
        "",
        table(["Call", "Runs", "p50 ms", "p95 ms", "max ms", "Returned"], plan_rows),
        "",
        f"Database: {s.contacts:,} contacts ("
        + ", ".join(f"{cc} {n / s.contacts:.0%}" for cc, n in s.by_zone.most_common())
        + f"), {s.queued:,} queued of which {s.due:,} due, {s.attempts:,} finished attempts,"
        f" {s.dnc:,} numbers on the do-not-call list (seeding took {s.seconds:.1f} s)."
        " claim_contact results: "
        + ", ".join(f"{k} {v}" for k, v in sorted(plan.claim_kinds.items()))
        + ".",
        "",
        f"### Dispatcher ({args.calls} contacts per run, half answered, half busy)",
        "",
        table(
            [
                "Run",
                "Cap (campaign = global)",
                "Attempts",
                "Wall ms per attempt",
                "Attempts/s",
                "Our CPU ms per attempt",
                "Fake's CPU ms per attempt",
            ],
            [r.row() for r in dispatch],
        ),
        "",
        "### Reading the numbers",
        "",
        *_reading(plan, dispatch),
        "",
        "### Method",
        "",
        f"- Planning: `Store.open` creates and migrates a database file; {s.contacts:,} contacts"
        " of one campaign are inserted with raw SQL in one transaction (70% Europe/Tirane AL,"
        " 10% Europe/Rome IT, 10% Europe/Berlin DE, 5% America/New_York US, 5% Asia/Tokyo JP;"
        " priorities 80% 0, 15% 1, 5% 2). 30% have 1-3 finished attempts (no answer, busy,"
        " voicemail) in the last 25 days and a retry time, 60% of them already due and 40% in"
        " the next 3 days; 5% are done; 2% of the numbers are on the do-not-call list but still"
        " queued; then `ANALYZE`. Seeding is not timed.",
        "- Each call is timed with `perf_counter` through the Store (aiosqlite) after one"
        " untimed warm-up, on a fixed clock: Wednesday 2 December 2026 17:00 in Tirana, when the"
        " default window (Mon-Fri 10-13, 14-20 local) is open in Europe and New York and closed"
        " in Tokyo; the Tokyo-only rows at Thursday 11:00 in Tokyo. `plan_batch` reads the"
        " distinct (zone, country) pairs, judges the window per pair and runs the due query;"
        " `next_wake` reads the pairs and the earliest due time. `claim_contact` is timed on the"
        " first contacts of a plan (each opens an attempt; caps set high). The worst case is a"
        " copy where every queued contact waits a week except the 10 that come last in calling"
        " order (priority 0, newest ids, Albania). Percentiles are nearest-rank.",
        "- Dispatcher: a real `CampaignRunner` (lease, plan, claim, per-call task, record) with"
        " the real `LiveKitDialer` (livekit-api over HTTP) against `devtools/livekit_fake.py`"
        " in a child process on 127.0.0.1 (JWT checks, protobuf), every other number answering"
        " and the rest busy (486), ringing 0 s. The voice pipeline is an instant stand-in: ready"
        " at once; an answered callee hangs up at once (recorded as `declined`). Time is"
        " simulated as in `tests/campaign` (the runner's sleep moves the clock once no call is in"
        " progress); the run stops at 30 simulated minutes, before the busy retries (60 min),"
        " so each contact is attempted once. Per attempt the runner creates the room, dials"
        " (`wait_until_answered`), deletes the room and writes the attempt and the contact's next"
        " step; loguru writes its JSON-lines file with PII masking, as in production. Wall time"
        " is from `run()` to its return; CPU is `process_time` of this process and of the fake's"
        " (the simulated sleep polls every 1 ms while calls are in progress, a little CPU that a"
        " real sleep does not cost).",
        "- The HTTP-only rows send the same three requests per call with the same dialer and the"
        " same concurrency, without the runner or the database: the difference to the runner"
        " rows is the dispatcher's own cost.",
        "- `--quick` seeds 5,000 contacts, runs 40 calls per run and leaves this file alone.",
    ]
    return "\n".join(lines) + "\n"


def _reading(plan: PlanResult, dispatch: list[DispatchRow]) -> list[str]:
    by = {(r.label, r.cap): r for r in dispatch}
    caps = sorted({r.cap for r in dispatch})
    parts = []
    for cap in caps:
        runner, http = by.get(("CampaignRunner", cap)), by.get(("LiveKitDialer requests only", cap))
        if runner and http:
            own = (runner.wall_s / runner.attempts - http.wall_s / http.attempts) * 1000
            own_cpu = (runner.cpu_s / runner.attempts - http.cpu_s / http.attempts) * 1000
            parts.append(
                f"cap {cap}: {runner.wall_s / runner.attempts * 1000:.1f} ms per attempt, of"
                f" which the LiveKit requests alone take {http.wall_s / http.attempts * 1000:.1f}"
                f" ms, leaving {own:.1f} ms wall and {own_cpu:.1f} ms CPU to the runner"
            )
    plan_p50 = {r.label: percentile(r.ms, 50) for r in plan.rows}
    main = plan_p50.get("plan_batch, limit 100", float("nan"))
    nxt = plan_p50.get("next_wake", float("nan"))
    nda = plan_p50.get("  part: CampaignQueue.due_by_zone (next_wake)", float("nan"))
    cnt = plan_p50.get("  part: CampaignQueue.count_queued", float("nan"))
    return [
        f"- Planning a batch takes {main:.1f} ms at p50 for 100 contacts; the slowest plan of any"
        f" run took {plan.worst_plan_ms:.1f} ms, far inside the 1 s target. The due query walks"
        " the `campaign_contacts_due` index in calling order (priority, then due time), so it"
        " stops after `limit` hits when most contacts are due; in the worst case it reads every"
        " queued entry of the index to find the few due ones (tens of ms, not seconds). The"
        " runner asks for twice its free slots (at most 2 x the campaign cap).",
        "- Found with this benchmark and fixed by migration 5 (index `campaign_contacts_zones` on"
        " `(campaign_id, state, time_zone, country, next_call_at, phone)`): `contact_zones`,"
        " which `plan_batch` calls before every batch, read every queued contact's row and"
        " sorted them in a temp b-tree to find the distinct zones: 57 ms per plan at 100,000"
        " contacts (limit 10 or 100 alike, measured before the migration); `next_wake` grouped"
        " every queued contact by zone with two `NOT EXISTS` probes each (66 ms). Now both read"
        " the covering index: the zones from its prefix, and per zone the first entry in due"
        " order that is not in a call, a few index steps whatever the size of the list.",
        f"- Per runner loop: `next_wake` {nxt:.2f} ms at p50 (`due_by_zone` {nda:.2f} ms);"
        f" `count_queued` ({cnt:.1f} ms) still counts the queued entries of an index, the one"
        " read that grows with the list, harmless against calls that last minutes.",
        "- Dispatcher: " + "; ".join(parts) + ". The runner's own share per attempt is two"
        " write transactions (claim, complete), the reads of its loop (plan, count, next wake),"
        " the progress and two log lines, all on one event loop: a few ms against calls that"
        " last minutes, so one runner keeps any realistic cap busy. A larger cap shares the loop's"
        " reads among more calls and overlaps the HTTP round trips, so the cost per attempt"
        " falls as the cap grows.",
    ]


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    began = time.perf_counter()
    host = machine()
    load_before = os.getloadavg()[0]
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="elo-campaign-bench-", dir=args.tmpdir) as tmp:
        work = Path(tmp)
        # The runner logs every attempt: to a JSON-lines file with masking, as in production.
        configure_logging(make_settings(work / "x.db", work / "elo.jsonl").logging, console=False)
        logger.add(sys.stderr, level="ERROR")
        fs = filesystem(work)
        plan = asyncio.run(planning_phase(work, args, rng))
        dispatch = dispatch_phase(work, args)
    section = report(
        host,
        fs,
        (load_before, os.getloadavg()[0]),
        plan,
        dispatch,
        args,
        total_s=time.perf_counter() - began,
    )
    print(section)
    publish(section, heading=HEADING, keep_doc=args.quick or args.no_doc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
