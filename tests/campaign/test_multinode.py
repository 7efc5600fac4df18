"""Three runner processes work one campaign on PostgreSQL; one fails half-way.

Each node runs in its own network namespace (tests/netlab.py) and reaches PostgreSQL and the
LiveKit fake over TCP across a bridge, as separate machines would; each registers under its own
host name, so a failed node is found by its expired lease. The failure is either a SIGKILL (the
process dies; the kernel closes its connections) or a pulled cable (the process lives on, cut off
past its lease, then comes back and must stop by itself without dialling anyone). Afterwards the
attempts table must show every rule held across the nodes.
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
from uuid import uuid4

import asyncpg
import pytest

from devtools.livekit_fake import FakeLiveKitServer
from devtools.postgres import PostgresCluster, PostgresUnavailable, new_base_dir
from storage import NewContact, Store
from tests.backends import PG_HASH_KEY
from tests.campaign.conftest import API_KEY, API_SECRET, TIRANE
from tests.campaign.multinode_child import FAILING_TALK_S, GLOBAL_CAP, LEASE_S, TALK_S
from tests.netlab import NetLab, NetLabUnavailable
from tests.required import start_or_fail

ROOT = Path(__file__).resolve().parents[2]
CONTACTS = 2000
# The cut-off case is about the partition, not the volume: a smaller campaign keeps CI short.
CUT_OFF_CONTACTS = 800
CAMPAIGN_CAP = 10  # above the global cap on purpose: both caps are exercised
NODES = ("node0", "node1", "node2")


def _node(lab: NetLab, i: int, url: str, livekit_url: str, logs: Path) -> subprocess.Popen:
    # Logs to a file: a pipe nobody reads would fill up and stall the node.
    argv = [sys.executable, "-m", "tests.campaign.multinode_child", url, livekit_url, NODES[i]]
    return subprocess.Popen(
        lab.command(i, [*argv, "150", str(FAILING_TALK_S if i == 0 else TALK_S)]),
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=(logs / f"{NODES[i]}.log").open("wb"),
    )


@pytest.fixture(scope="module")
def lab() -> Iterator[NetLab]:
    """The nodes' namespaces, and the bridge the host's services listen on."""
    made = start_or_fail(lambda: NetLab.start(len(NODES)), NetLabUnavailable)
    yield made
    made.close()


@pytest.fixture(scope="module")
def lab_cluster(lab: NetLab) -> Iterator[PostgresCluster]:
    """A PostgreSQL listening on the bridge only, trusting the lab's network."""
    cluster = start_or_fail(
        lambda: PostgresCluster.start(
            new_base_dir(), listen=lab.host_address, allow=(lab.network,)
        ),
        PostgresUnavailable,
    )
    yield cluster
    cluster.stop()


@pytest.fixture
def database(lab_cluster: PostgresCluster) -> Iterator[str]:
    name = f"multinode_{uuid4().hex[:12]}"
    lab_cluster.create_database(name)
    yield lab_cluster.url(name)
    lab_cluster.drop_database(name)


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


async def _poll(db: asyncpg.Connection, sql: str, done: object, deadline: float) -> bool:
    """Poll ``sql`` until it returns ``done``; False at the deadline."""
    while time.monotonic() < deadline:
        if await db.fetchval(sql) == done:
            return True
        await asyncio.sleep(0.1)
    return False


async def _half_way(db: asyncpg.Connection, size: int, deadline: float, logs: Path) -> None:
    """Wait until half the contacts are handled and node0 has calls open."""
    while time.monotonic() < deadline:
        ended = await db.fetchval("SELECT count(*) FROM call_attempts WHERE outcome IS NOT NULL")
        open_by_node0 = await db.fetchval(
            "SELECT count(*) FROM call_attempts a JOIN campaign_runners r"
            " ON r.token = a.runner_token WHERE a.outcome IS NULL AND r.host = 'node0'"
        )
        if ended >= size // 2 and open_by_node0 > 0:
            return
        await asyncio.sleep(0.1)
    by_host = await db.fetch(
        "SELECT r.host, count(*) AS n FROM call_attempts a JOIN campaign_runners r"
        " ON r.token = a.runner_token GROUP BY r.host"
    )
    pytest.fail(f"the nodes did not reach half-way ({ended} ended, {by_host}): " + _errors(logs))


@pytest.mark.slow
@pytest.mark.asyncio
@pytest.mark.parametrize("failure", ["killed", "cut_off"])
async def test_three_nodes_share_a_campaign_and_survive_a_failed_one(
    failure: str, lab: NetLab, database: str, tmp_path: Path
) -> None:
    size = CONTACTS if failure == "killed" else CUT_OFF_CONTACTS
    store = await Store.open(database, tz=TIRANE, hash_key=PG_HASH_KEY)
    campaign = await store.campaigns.create(
        name="Many", purpose="recall", max_concurrent_calls=CAMPAIGN_CAP
    )
    await store.campaigns.add_contacts(
        campaign_id=campaign.id,
        contacts=[NewContact(phone=f"+35569{i:07d}", name="P") for i in range(size)],
    )
    await store.close()
    db = await asyncpg.connect(database)
    nodes: list[subprocess.Popen] = []
    samples: list[tuple[int, int]] = []
    try:
        with FakeLiveKitServer(API_KEY, API_SECRET, host=lab.host_address) as livekit:
            nodes = [_node(lab, i, database, livekit.url, tmp_path) for i in range(len(NODES))]
            deadline = time.monotonic() + float(os.environ.get("MN_DEADLINE", "200"))
            # Half-way: node0 fails while it has calls open. Its calls come in cohorts that end
            # together, so it may have none left by the time it fails: it is then let go on
            # and failed again at its next calls.
            failed_token, known, stranded = None, set(), set()
            while not stranded:
                await _half_way(db, size, deadline, tmp_path)
                failed_token = await db.fetchval(
                    "SELECT token FROM campaign_runners WHERE host = 'node0'"
                )
                if failure == "killed":
                    nodes[0].send_signal(signal.SIGSTOP)  # frozen now, killed once it held calls
                else:
                    lab.cut(0)
                # Whatever node0 had sent lands (a claim committing, a completion); a
                # transaction cut off before its commit is rolled back when the server ends
                # the session. Then: what node0 held when it failed.
                await asyncio.sleep(0.3)
                known = {row["id"] for row in await db.fetch("SELECT id FROM call_attempts")}
                stranded = {
                    row["id"]
                    for row in await db.fetch(
                        "SELECT id FROM call_attempts WHERE outcome IS NULL AND runner_token = $1",
                        failed_token,
                    )
                }
                if not stranded:
                    if failure == "killed":
                        nodes[0].send_signal(signal.SIGCONT)
                    else:
                        lab.heal(0)
            if failure == "killed":
                nodes[0].send_signal(signal.SIGKILL)
                nodes[0].wait(timeout=10)
            if failure == "cut_off":
                # The others take node0 for dead once its lease expires and record its calls.
                if not await _poll(
                    db,
                    "SELECT count(*) FROM campaign_runners WHERE host = 'node0'",
                    0,
                    min(deadline, time.monotonic() + 20 * LEASE_S),
                ):
                    pytest.fail(
                        "node0's lease was never taken over: "
                        + await _server_state(db)
                        + _errors(tmp_path)
                    )
                lab.heal(0)
                # Back on the network, node0 learns it was taken for dead and stops by itself.
                try:
                    await asyncio.to_thread(nodes[0].wait, max(1.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    pytest.fail("node0 did not stop once back: " + _errors(tmp_path))
                assert nodes[0].returncode == 0, _errors(tmp_path)
                assert "took this one for dead" in (tmp_path / "node0.log").read_text()
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
    # Node0's calls were hung up and recorded by a surviving node: those it held when it
    # failed, and any claim that was landing at that moment (unknown then, node0's since).
    by_id = {a["id"]: a for a in attempts}
    interrupted = {a["id"] for a in attempts if a["sip_status"] == "interrupted"}
    assert stranded <= interrupted
    assert not (interrupted - stranded) & known
    survivors = {a["runner_token"] for a in attempts if a["id"] not in interrupted}
    for attempt_id in interrupted:
        adopted = by_id[attempt_id]
        assert adopted["outcome"] == "failed"
        assert adopted["runner_token"] not in (None, failed_token)
        assert adopted["runner_token"] in survivors
        assert any(
            r.method == "DeleteRoom" and r.body.get("room") == adopted["room"] for r in requests
        )
    # Every contact is done (booked), except node0's interrupted ones: those wait for their
    # retry (the "failed" delay, 120 minutes by default), as the calling rules say.
    interrupted_phones = {by_id[i]["phone"] for i in interrupted}
    assert {c["phone"] for c in contacts if c["state"] == "queued"} == interrupted_phones
    assert {c["done_reason"] for c in contacts if c["state"] == "done"} == {"booked"}
    assert len(contacts) == size
    # Each number was attempted once: booked, or interrupted by the failure.
    assert len(attempts) == size
    # The surviving nodes left; the failed one's row was deleted by its adopter.
    assert runners == []
    # Sampled while running: never more open attempts than the caps allow.
    assert max(open_ for open_, _ in samples) <= GLOBAL_CAP


async def _server_state(db: asyncpg.Connection) -> str:
    """What the server's sessions were doing and which locks they held or awaited."""
    sessions = await db.fetch(
        "SELECT pid, state, wait_event_type, wait_event, backend_xid IS NOT NULL AS writing,"
        " now() - state_change AS in_state, left(query, 60) AS query FROM pg_stat_activity"
        " WHERE datname = current_database() AND pid != pg_backend_pid()"
    )
    locks = await db.fetch(
        "SELECT pid, locktype, mode, granted, objid FROM pg_locks"
        " WHERE locktype IN ('advisory', 'transactionid', 'tuple') ORDER BY granted, pid"
    )
    return f"sessions {[dict(r) for r in sessions]} locks {[dict(r) for r in locks]} | "


def _errors(logs: Path) -> str:
    """The end of each node's log, for a failure message."""
    return " | ".join(
        f"{path.name}: {path.read_text(errors='replace')[-800:]}"
        for path in sorted(logs.glob("node*.log"))
    )
