"""Every dashboard query walks an index: no scan of calls, appointments or campaign contacts.

The SQL each repository method runs is captured with SQLite's trace callback (values bound) and
planned again with EXPLAIN QUERY PLAN on a second connection. Without ANALYZE statistics (as a
clinic's file has none) the plan does not depend on the number of rows, so a small file shows
the plan a file with a million calls gets.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from typing import Any

import pytest

from storage import NewContact, Store
from tests.conftest import DEFAULT_NOW, FixedClock
from tests.storage.booking import phone
from tests.storage.dashboard_data import make_call

BIG_TABLES = ("calls", "appointments", "campaign_contacts", "call_attempts", "messages")


async def _statements(store: Store, query: Callable[[], Awaitable[Any]]) -> list[str]:
    seen: list[str] = []
    await store.db.conn.set_trace_callback(seen.append)
    try:
        await query()
    finally:
        await store.db.conn.set_trace_callback(None)
    return [s for s in seen if s.lstrip().upper().startswith(("SELECT", "WITH"))]


def _full_scans(raw: sqlite3.Connection, sql: str, *, walk: bool = True) -> list[str]:
    """Plan lines that read a big table (under any alias) without an index, or sort all the
    rows found to order them (a list must come in its index's order).

    ``walk``: the query is a list page, which may walk an index in order (it stops at its
    LIMIT); any other query may only search (ranges and keys), never walk a whole index.
    """
    aliases = {table: table for table in BIG_TABLES}
    for table, alias in re.findall(r"\b(" + "|".join(BIG_TABLES) + r")\s+(?:AS\s+)?([a-z])\b", sql):
        aliases[alias] = table
    bad = []
    for row in raw.execute(f"EXPLAIN QUERY PLAN {sql}"):
        detail = row[3]
        match = re.match(r"SCAN (\w+)", detail)
        if match and match.group(1) in aliases and ("USING" not in detail or not walk):
            bad.append(detail)
        if "TEMP B-TREE FOR ORDER BY" in detail or "TEMP B-TREE FOR RIGHT PART" in detail:
            bad.append(detail)
    return bad


@pytest.mark.asyncio
async def test_no_dashboard_query_scans_a_big_table(
    store: Store, clock: FixedClock, raw: sqlite3.Connection
) -> None:
    campaign = await store.campaigns.create(name="Spring", purpose="recall")
    await store.campaigns.add_contacts(
        campaign_id=campaign.id, contacts=[NewContact(phone=phone(1), name="Arta Hoxha")]
    )
    await store.patients.upsert(phone=phone(1), name="Arta Hoxha")
    for n in range(3):
        await make_call(store, clock, call_id=f"c{n}", at=DEFAULT_NOW - timedelta(minutes=n))
    await store.follow_ups.create(
        phone=phone(1), name="Arta Hoxha", due_at=DEFAULT_NOW, reason=None, source="agent"
    )
    await store.dnc.add(phone=phone(2), reason=None, source="cli")
    day = date(2026, 12, 1)
    page = await store.call_log.page(limit=1)
    await store.campaigns.create(name="Autumn", purpose="recall")
    campaigns = await store.campaign_list.page(limit=1)
    patient = await store.patients.get(phone=phone(1))
    assert patient is not None and campaigns.next_cursor is not None
    # Not lists: figures, one call, the funnel, a patient's page (its lists are bounded
    # ranges of one patient's index entries: aggregates and look-ups only search).
    searches_only = {
        "today",
        "series",
        "call detail",
        "campaign funnel",
        "patient page",
        "dead messages",
        "patient messages",
        "patient opt-outs",
    }
    queries: dict[str, Callable[[], Awaitable[Any]]] = {
        "today": lambda: store.figures.day(day=day),
        "series": lambda: store.figures.series(last_day=day, days=30),
        "calls": lambda: store.call_log.page(),
        "calls, next page": lambda: store.call_log.page(cursor=page.next_cursor),
        "calls, names": lambda: store.call_log.page(with_names=True),
        "calls, day": lambda: store.call_log.page(first_day=day, last_day=day),
        "calls, outcome": lambda: store.call_log.page(outcome="booked"),
        "calls, direction": lambda: store.call_log.page(direction="inbound"),
        "calls, outcome and day": lambda: store.call_log.page(
            outcome="booked", first_day=day, last_day=day
        ),
        "calls, campaign": lambda: store.call_log.page(campaign_id=campaign.id),
        "call detail": lambda: store.call_log.detail(call_id="c1"),
        "follow-ups": lambda: store.follow_up_queue.page(),
        "patients by name": lambda: store.patient_search.search(query="hoxha"),
        "patients by digits": lambda: store.patient_search.search(query="069 000"),
        "patients by number": lambda: store.patient_search.search(query=phone(1)),
        "do-not-call": lambda: store.dnc.page(),
        "campaign funnel": lambda: store.campaigns.status(campaign_id=campaign.id),
        "campaigns": lambda: store.campaign_list.page(),
        "campaigns, next page": lambda: store.campaign_list.page(cursor=campaigns.next_cursor),
        "patient page": lambda: store.patient_record.get(patient_id=patient.id),
        "messages": lambda: store.message_board.page(),
        "messages, channel": lambda: store.message_board.page(channel="sms"),
        "messages, status": lambda: store.message_board.page(status="dead"),
        "messages, status and channel": lambda: store.message_board.page(
            status="pending", channel="email"
        ),
        "dead messages": lambda: store.message_board.dead_count(),
        "patient messages": lambda: store.message_board.of_patient(patient_id=patient.id),
        "patient opt-outs": lambda: store.message_board.opt_outs(patient_id=patient.id),
    }
    problems = {}
    for label, query in queries.items():
        statements = await _statements(store, query)
        assert statements, label
        for sql in statements:
            if bad := _full_scans(raw, sql, walk=label not in searches_only):
                problems[f"{label}: {sql[:80]}"] = bad
    assert problems == {}
    # The campaigns table is small, but its pages still come in the order of its b-tree.
    (first,) = await _statements(store, queries["campaigns"])
    (following,) = await _statements(store, queries["campaigns, next page"])
    assert "SEARCH c USING INTEGER PRIMARY KEY (rowid<?)" in _plan(raw, following)
    for sql in (first, following):
        assert not any("TEMP B-TREE" in line for line in _plan(raw, sql))
    # A patient's page reads the indexes made for it (migration 14), never sorts.
    lines = [
        line
        for sql in await _statements(store, queries["patient page"])
        for line in _plan(raw, sql)
    ]
    for index in (
        "appointments_patient_start",
        "calls_patient_started",
        "calls_phone_started",
        "follow_ups_patient_status_due",
    ):
        assert any(index in line for line in lines), index
    assert not any("TEMP B-TREE" in line for line in lines)


def _plan(raw: sqlite3.Connection, sql: str) -> list[str]:
    return [row[3] for row in raw.execute(f"EXPLAIN QUERY PLAN {sql}")]


def test_the_check_sees_a_full_scan(raw: sqlite3.Connection) -> None:
    assert _full_scans(raw, "SELECT * FROM calls c WHERE c.outcome_reason = 'x'") == ["SCAN c"]
    assert _full_scans(raw, "SELECT id FROM calls ORDER BY turns LIMIT 5") != []
    walk = "SELECT id FROM calls ORDER BY started_at, id LIMIT 5"
    assert _full_scans(raw, walk) == []
    assert _full_scans(raw, walk, walk=False) != []
