"""The backends benchmark's planning case: a campaign of 1,000,000 contacts in each engine.

The rows are made once, in chunks, and loaded into both engines (set-up, not timed): SQLite
with ``executemany`` in one transaction, PostgreSQL with COPY (asyncpg
``copy_records_to_table``); then both are analysed. The timed calls are the runner's:
:func:`campaign.planner.plan_batch` (the zones, then the due-contacts query) and
:func:`campaign.planner.next_wake`, through a :class:`storage.Store` on each engine.

The population follows the campaign benchmark's (bench/campaign_bench.py): five zones, 30% of
contacts with 1-3 finished attempts and a retry time, 5% done, 2% of numbers on the
do-not-call list.
"""

from __future__ import annotations

import random
import sqlite3
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg

from app.calling_rules import CampaignRules
from bench.backends_work import open_store
from bench.campaign_bench import PLAN_NOW, ZONES
from bench.common import make_settings
from campaign.planner import next_wake, plan_batch
from storage.timefmt import to_db

CHUNK = 50_000
CONTACT_COLUMNS = (
    "id campaign_id phone name time_zone country language priority created_at state"
    " next_call_at done_reason"
).split()
ATTEMPT_COLUMNS = "id contact_id started_at ended_at outcome call_id phone campaign_id room".split()
DNC_COLUMNS = ("phone", "reason", "source", "added_at")


@dataclass
class Chunk:
    """Rows for one chunk of contacts."""

    contacts: list[tuple[Any, ...]] = field(default_factory=list)
    attempts: list[tuple[Any, ...]] = field(default_factory=list)
    dnc: list[tuple[Any, ...]] = field(default_factory=list)


def chunks(campaign_id: int, n: int, seed: int) -> Iterator[Chunk]:
    """The campaign's rows, ``CHUNK`` contacts at a time (deterministic for ``seed``)."""
    rng = random.Random(seed)
    now = PLAN_NOW
    created = to_db(now - timedelta(days=40))
    zones = [z[:2] for z in ZONES]
    weights = [z[2] for z in ZONES]
    prefix = {(tz, cc): p for tz, cc, _, p in ZONES}
    attempt_id = 0
    chunk = Chunk()
    for cid in range(1, n + 1):
        tz, cc = rng.choices(zones, weights)[0]
        phone = f"{prefix[(tz, cc)]}{cid:010d}"[:16]
        priority = rng.choices((0, 1, 2), (80, 15, 5))[0]
        state, done_reason, next_call_at, tries = "queued", None, None, 0
        roll = rng.random()
        if roll < 0.05:
            state, done_reason = "done", rng.choice(("booked", "declined", "exhausted"))
            tries = rng.randint(1, 3)
        elif roll < 0.35:
            tries = rng.randint(1, 3)
            offset = timedelta(minutes=rng.randint(1, 3 * 24 * 60))
            next_call_at = to_db(now + offset if rng.random() < 0.4 else now - offset)
        last = now - timedelta(days=rng.uniform(0.5, 25))
        for k in range(tries):
            attempt_id += 1
            started = last - timedelta(days=2 * (tries - 1 - k), minutes=rng.randint(0, 60))
            chunk.attempts.append(
                (
                    *(attempt_id, cid, to_db(started), to_db(started + timedelta(seconds=30))),
                    rng.choice(("no_answer", "busy", "voicemail")),
                    uuid.UUID(int=rng.getrandbits(128)).hex,
                    *(phone, campaign_id, f"elo-{attempt_id:016x}"),
                )
            )
        if rng.random() < 0.02:
            chunk.dnc.append((phone, "asked in a call", "agent", to_db(now - timedelta(days=3))))
        language = "sq" if cc == "AL" else "en"
        who = (cid, campaign_id, phone, f"Patient {cid}", tz, cc, language, priority, created)
        chunk.contacts.append((*who, state, next_call_at, done_reason))
        if len(chunk.contacts) == CHUNK:
            yield chunk
            chunk = Chunk()
    if chunk.contacts:
        yield chunk


def _insert(table: str, columns: tuple[str, ...] | list[str]) -> str:
    marks = ", ".join("?" for _ in columns)
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"


class Loader:
    """Loads the same chunks into an SQLite file and a PostgreSQL database."""

    def __init__(self, sqlite_path: Path, pg_url: str) -> None:
        self._sqlite_path = sqlite_path
        self._pg_url = pg_url
        self.seconds = {"SQLite": 0.0, "PostgreSQL": 0.0}
        self.rows = {"contacts": 0, "attempts": 0, "dnc": 0}

    async def load(self, campaign_id: int, n: int, seed: int) -> None:
        """Generate and load every chunk, then analyse both databases."""
        lite = sqlite3.connect(self._sqlite_path)
        pg = await asyncpg.connect(self._pg_url)
        try:
            for chunk in chunks(campaign_id, n, seed):
                self.rows["contacts"] += len(chunk.contacts)
                self.rows["attempts"] += len(chunk.attempts)
                self.rows["dnc"] += len(chunk.dnc)
                began = time.perf_counter()
                with lite:
                    lite.executemany(_insert("campaign_contacts", CONTACT_COLUMNS), chunk.contacts)
                    lite.executemany(_insert("call_attempts", ATTEMPT_COLUMNS), chunk.attempts)
                    lite.executemany(_insert("do_not_call", DNC_COLUMNS), chunk.dnc)
                self.seconds["SQLite"] += time.perf_counter() - began
                began = time.perf_counter()
                for table, columns, rows in (
                    ("campaign_contacts", CONTACT_COLUMNS, chunk.contacts),
                    ("call_attempts", ATTEMPT_COLUMNS, chunk.attempts),
                    ("do_not_call", DNC_COLUMNS, chunk.dnc),
                ):
                    await pg.copy_records_to_table(table, records=rows, columns=list(columns))
                self.seconds["PostgreSQL"] += time.perf_counter() - began
            began = time.perf_counter()
            lite.execute("ANALYZE")
            self.seconds["SQLite"] += time.perf_counter() - began
            began = time.perf_counter()
            for table in ("campaign_contacts", "call_attempts"):
                # Rows were given their ids: move the identity past them for later inserts.
                await pg.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                    f" (SELECT max(id) FROM {table}))"
                )
            await pg.execute("VACUUM ANALYZE")
            self.seconds["PostgreSQL"] += time.perf_counter() - began
        finally:
            lite.close()
            await pg.close()


@dataclass
class PlanTiming:
    """One timed call on one engine."""

    engine: str
    label: str
    ms: list[float]
    returned: str


async def _time(
    engine: str, label: str, runs: int, call: Callable[[], Awaitable[Any]], size: Callable
) -> PlanTiming:
    result = await call()  # warm-up: caches, zoneinfo, prepared statements
    ms = []
    for _ in range(runs):
        began = time.perf_counter()
        result = await call()
        ms.append((time.perf_counter() - began) * 1000)
    return PlanTiming(engine, label, ms, str(size(result)))


async def time_planning(engine: str, url: str, campaign_id: int, runs: int) -> list[PlanTiming]:
    """plan_batch (limits 10 and 100) and next_wake on ``url``, ``runs`` times each."""
    store = await open_store(url, pool_size=2)
    try:
        campaign = await store.campaigns.get_by_id(campaign_id=campaign_id)
        if campaign is None:
            raise RuntimeError(f"no campaign {campaign_id} in {engine}")
        rules = CampaignRules.for_campaign(campaign, make_settings(Path("x.db"), Path("x.log")))
        rows = []
        for limit in (10, 100):
            rows.append(
                await _time(
                    engine,
                    f"plan_batch, limit {limit}",
                    runs,
                    lambda limit=limit: plan_batch(
                        store, campaign, rules, now=PLAN_NOW, limit=limit
                    ),
                    len,
                )
            )
        rows.append(
            await _time(
                engine,
                "next_wake",
                runs,
                lambda: next_wake(store, campaign, rules, now=PLAN_NOW),
                lambda at: "now" if at == PLAN_NOW else at,
            )
        )
    finally:
        await store.close()
    return rows


async def explain_due(pg_url: str, campaign_id: int) -> str:
    """EXPLAIN ANALYZE of plan_batch's two queries as it sends them (zones allowed now)."""
    from storage.campaign_queue import _DUE_SQL  # the runner's exact SQL text
    from storage.dialect import queued_zones_sql

    store = await open_store(pg_url, pool_size=1)
    try:
        campaign = await store.campaigns.get_by_id(campaign_id=campaign_id)
        assert campaign is not None
        rules = CampaignRules.for_campaign(campaign, make_settings(Path("x.db"), Path("x.log")))
        from campaign.planner import zone

        pairs = await store.queue.zones(campaign_id=campaign_id)
        allowed = [p for p in pairs if rules.window.allowed(PLAN_NOW, tz=zone(p[0]), country=p[1])]
        zones_text, zones_params = queued_zones_sql(store.db.conn, campaign_id)
    finally:
        await store.close()
    sql = (
        _DUE_SQL.replace(
            "ORDER BY",
            "AND ("
            + " OR ".join("(c.time_zone = ? AND c.country = ?)" for _ in allowed)
            + ")\nORDER BY",
        )
        + " LIMIT ?"
    )
    params = [campaign_id, to_db(PLAN_NOW), *(v for p in allowed for v in p), 100]
    conn = await asyncpg.connect(pg_url)
    try:
        parts = []
        for title, text, values in (
            (
                "CampaignQueue.zones (plan_batch and next_wake): a loose index scan",
                _numbered(zones_text),
                list(zones_params),
            ),
            ("CampaignQueue.due_contacts (plan_batch, limit 100)", _numbered(sql), params),
        ):
            rows = await conn.fetch("EXPLAIN (ANALYZE, BUFFERS) " + text, *values)
            parts.append(f"-- {title}\n" + "\n".join(row[0] for row in rows))
    finally:
        await conn.close()
    return "\n\n".join(parts)


def _numbered(sql: str) -> str:
    """``?`` placeholders as PostgreSQL's ``$1, $2, ...`` (the statements have no ``?`` literal)."""
    count = iter(range(1, 1000))
    return "".join(f"${next(count)}" if ch == "?" else ch for ch in sql)
