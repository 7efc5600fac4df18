"""Three runner processes work one campaign on PostgreSQL; one is SIGKILLed half-way.

Each node reaches PostgreSQL over TCP (127.0.0.1: see the report on network namespaces) and
registers under its own host name, so the dead node is found by its expired lease, as it would be
on another machine. Afterwards the attempts table must show every rule held across the nodes.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from devtools.livekit_fake import FakeLiveKitServer
from devtools.postgres import PostgresCluster
from storage import NewContact, Store
from tests.backends import PG_HASH_KEY
from tests.campaign.conftest import API_KEY, API_SECRET, TIRANE
from tests.campaign.multinode_child import GLOBAL_CAP

ROOT = Path(__file__).resolve().parents[2]
CONTACTS = 2000
CAMPAIGN_CAP = 10  # above the global cap on purpose: both caps are exercised
NODES = ("node0", "node1", "node2")


def _node(url: str, livekit_url: str, node: str, logs: Path) -> subprocess.Popen:
    # Logs to a file: a pipe nobody reads would fill up and stall the node.
    return subprocess.Popen(
        [sys.executable, "-m", "tests.campaign.multinode_child", url, livekit_url, node, "150"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=(logs / f"{node}.log").open("wb"),
    )


@pytest.fixture
def database(pg_cluster: PostgresCluster) -> Iterator[str]:
    name = f"multinode_{os.getpid()}"
    pg_cluster.create_database(name)
    yield pg_cluster.url(name)
    pg_cluster.drop_database(name)


def _peak(spans: list[tuple[str, str]]) -> int:
    """Most spans open at one instant; at equal times an end counts before a start (the
    stored times have whole seconds, so this is the most lenient order the data allows)."""
    events = sorted(
        [(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans],
        key=lambda e: (e[0], e[1]),
    )
    peak = now = 0
    for _, delta in events:
        now += delta
        peak = max(peak, now)
    return peak


@pytest.mark.slow
@pytest.mark.asyncio
async def test_three_nodes_share_a_campaign_and_recover_a_killed_one(
    database: str, tmp_path: Path
) -> None:
    store = await Store.open(database, tz=TIRANE, hash_key=PG_HASH_KEY)
    campaign = await store.campaigns.create(
        name="Many", purpose="recall", max_concurrent_calls=CAMPAIGN_CAP
    )
    await store.campaigns.add_contacts(
        campaign_id=campaign.id,
        contacts=[NewContact(phone=f"+35569{i:07d}", name="P") for i in range(CONTACTS)],
    )
    await store.close()
    db = await asyncpg.connect(database)
    nodes: list[subprocess.Popen] = []
    samples: list[tuple[int, int]] = []
    try:
        with FakeLiveKitServer(API_KEY, API_SECRET) as livekit:
            nodes = [_node(database, livekit.url, node, tmp_path) for node in NODES]
            deadline = time.monotonic() + float(os.environ.get("MN_DEADLINE", "170"))
            # Half-way: SIGKILL node0 while it has calls open.
            while time.monotonic() < deadline:
                ended = await db.fetchval(
                    "SELECT count(*) FROM call_attempts WHERE outcome IS NOT NULL"
                )
                open_by_node0 = await db.fetchval(
                    "SELECT count(*) FROM call_attempts a JOIN campaign_runners r"
                    " ON r.token = a.runner_token WHERE a.outcome IS NULL AND r.host = 'node0'"
                )
                if ended >= CONTACTS // 2 and open_by_node0 > 0:
                    break
                await asyncio.sleep(0.1)
            else:
                by_host = await db.fetch(
                    "SELECT r.host, count(*) AS n FROM call_attempts a JOIN campaign_runners r"
                    " ON r.token = a.runner_token GROUP BY r.host"
                )
                pytest.fail(
                    f"the nodes did not reach half-way ({ended} ended, {by_host}): "
                    + _errors(tmp_path)
                )
            killed_token = await db.fetchval(
                "SELECT token FROM campaign_runners WHERE host = 'node0'"
            )
            nodes[0].send_signal(signal.SIGKILL)
            nodes[0].wait(timeout=10)
            stranded = {
                row["id"]
                for row in await db.fetch(
                    "SELECT id FROM call_attempts WHERE outcome IS NULL AND runner_token = $1",
                    killed_token,
                )
            }
            assert stranded, "the kill should have left calls open"
            # The others finish: everything recorded, nothing open, no queued contact due.
            while time.monotonic() < deadline:
                row = await db.fetchrow(
                    "SELECT (SELECT count(*) FROM call_attempts WHERE outcome IS NULL) AS open,"
                    " (SELECT count(*) FROM campaign_contacts WHERE state = 'queued'"
                    "   AND (next_call_at IS NULL OR next_call_at <= to_char(now() AT TIME ZONE"
                    "   'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'))) AS due"
                )
                samples.append((row["open"], row["due"]))
                if row["open"] == 0 and row["due"] == 0:
                    break
                await asyncio.sleep(0.1)
            else:
                pytest.fail("the surviving nodes did not finish: " + _errors(tmp_path))
            for node in nodes[1:]:
                node.send_signal(signal.SIGTERM)
            for node in nodes[1:]:
                node.wait(timeout=30)
                assert node.returncode == 0, _errors(tmp_path)
            requests = livekit.requests
        attempts = await db.fetch(
            "SELECT id, phone, room, started_at, ended_at, outcome, sip_status, runner_token"
            " FROM call_attempts ORDER BY id"
        )
        contacts = await db.fetch("SELECT phone, state, done_reason FROM campaign_contacts")
        runners = await db.fetch("SELECT host FROM campaign_runners")
    finally:
        for node in nodes:
            if node.poll() is None:
                node.kill()
                node.wait()
        await db.close()

    assert all(a["outcome"] is not None for a in attempts)
    # The caps held at every instant, across the three nodes (one campaign: its open attempts
    # are all the open attempts, so the global cap is the tighter one and binds).
    spans = [(a["started_at"], a["ended_at"]) for a in attempts]
    assert _peak(spans) <= min(GLOBAL_CAP, CAMPAIGN_CAP)
    # No number was ever in two calls at once.
    by_phone: dict[str, list[tuple[str, str]]] = {}
    for a in attempts:
        by_phone.setdefault(a["phone"], []).append((a["started_at"], a["ended_at"]))
    for phone, phone_spans in by_phone.items():
        for (_, end), (start, _) in itertools.pairwise(sorted(phone_spans)):
            assert start >= end, phone
    # No attempt doubled: one dial per room, each room an attempt's.
    dialled = [r.body["room_name"] for r in requests if r.method == "CreateSIPParticipant"]
    assert len(dialled) == len(set(dialled))
    assert set(dialled) <= {a["room"] for a in attempts}
    # The killed node's calls were hung up and recorded by a surviving node.
    by_id = {a["id"]: a for a in attempts}
    survivors = {a["runner_token"] for a in attempts if a["id"] not in stranded}
    for attempt_id in stranded:
        adopted = by_id[attempt_id]
        assert (adopted["outcome"], adopted["sip_status"]) == ("failed", "interrupted")
        assert adopted["runner_token"] not in (None, killed_token)
        assert adopted["runner_token"] in survivors
        assert any(
            r.method == "DeleteRoom" and r.body.get("room") == adopted["room"] for r in requests
        )
    # Every contact is done (booked), except the killed node's: those wait for their retry
    # (the "failed" delay, 120 minutes by default), as the calling rules say.
    stranded_phones = {by_id[i]["phone"] for i in stranded}
    assert {c["phone"] for c in contacts if c["state"] == "queued"} == stranded_phones
    assert {c["done_reason"] for c in contacts if c["state"] == "done"} == {"booked"}
    assert len(contacts) == CONTACTS
    # Each number was attempted once: booked, or interrupted by the kill.
    assert len(attempts) == CONTACTS
    # The surviving nodes left; the dead one's row was deleted by its adopter.
    assert runners == []
    # Sampled while running: never more open attempts than the caps allow.
    assert max(open_ for open_, _ in samples) <= GLOBAL_CAP


def _errors(logs: Path) -> str:
    """The end of each node's log, for a failure message."""
    return " | ".join(
        f"{path.name}: {path.read_text(errors='replace')[-800:]}"
        for path in sorted(logs.glob("node*.log"))
    )
