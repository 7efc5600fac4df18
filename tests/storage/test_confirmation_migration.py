"""Migration 16 (confirmation calls) on a database that already runs campaigns.

The file is built at the schema just before migration 16 with plain SQLite, filled with a
campaign, its contacts (one linked to a patient) and attempts (one open, one finished), then
opened by the store, which migrates it. The three rebuilt tables must keep every row and id,
every index (but the one replaced on purpose) and their constraints; the new values
('confirmation', 'it', confirmed_via) are accepted and others still refused.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from storage import Store
from storage.database import _split_sql
from storage.migrations import MIGRATIONS
from tests.conftest import TIRANE, FixedClock

CONFIRMATION_MIGRATION = next(
    i for i, script in enumerate(MIGRATIONS) if "-- 16: confirmation" in script
)
T0 = "2026-11-20T08:00:00Z"
TABLES = ("campaigns", "campaign_contacts", "call_attempts")


def _schema_before(path: Path) -> None:
    with sqlite3.connect(path, isolation_level=None) as conn:
        conn.execute("PRAGMA foreign_keys = ON")
        for number, script in enumerate(MIGRATIONS[:CONFIRMATION_MIGRATION], start=1):
            for statement in _split_sql(script):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {number}")
        conn.execute(
            "INSERT INTO patients (id, phone, name, language, created_at, updated_at)"
            " VALUES (7, '+355691234567', 'Arta Hoxha', 'sq', ?, ?)",
            (T0, T0),
        )
        conn.execute(
            "INSERT INTO appointments (id, patient_id, service_id, chair, starts_at, ends_at,"
            " status, price_lek, source, created_at) VALUES (3, 7, 'checkup', 1,"
            " '2026-12-02T09:00:00Z', '2026-12-02T09:30:00Z', 'scheduled', 2000, 'agent', ?)",
            (T0,),
        )
        # What the booking left besides its row (the health check compares them).
        conn.execute("INSERT INTO appointment_slots VALUES (1, '2026-12-02T09:00:00Z', 3)")
        conn.execute(
            "INSERT INTO call_analytics (day, appointments_booked, revenue_generated)"
            " VALUES ('2026-11-20', 1, 2000)"
        )
        conn.execute(
            "INSERT INTO campaigns (id, name, purpose, notes, status, max_concurrent_calls,"
            " max_attempts, created_at, window_days, retry_delays, runner_pid, pause_reason,"
            " service_state) VALUES (4, 'winter', 'recall', 'n', 'paused', 2, 4, ?, 'mon,tue',"
            " '{\"busy\": 60}', 123, 'trunk down', 'active')",
            (T0,),
        )
        conn.execute(
            "INSERT INTO campaigns (id, name, purpose, max_concurrent_calls, max_attempts,"
            " created_at) VALUES (9, 'spring', 'check_up', 1, 1, ?)",
            (T0,),
        )
        conn.executemany(
            "INSERT INTO campaign_contacts (id, campaign_id, patient_id, phone, name, time_zone,"
            " country, language, priority, created_at, state, next_call_at, done_reason)"
            " VALUES (?, ?, ?, ?, ?, 'Europe/Tirane', 'AL', ?, ?, ?, ?, ?, ?)",
            [
                (5, 4, 7, "+355691234567", "Arta Hoxha", "sq", 2, T0, "queued", T0, None),
                (8, 4, None, "+355682223344", "Ben Lika", "en", 0, T0, "done", None, "booked"),
                (12, 9, None, "+355682223344", "Ben Lika", "en", 0, T0, "queued", None, None),
            ],
        )
        conn.executemany(
            "INSERT INTO call_attempts (id, contact_id, started_at, ended_at, outcome,"
            " sip_status, call_id, duration_s, phone, campaign_id, room, system_fault)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (20, 5, T0, None, None, None, "c-20", None, "+355691234567", 4, "r-20", None),
                (21, 8, T0, T0, "booked", "200", "c-21", 95, "+355682223344", 4, "r-21", None),
                (22, 12, T0, T0, "failed", None, None, 0, "+355682223344", 9, None, "trunk"),
            ],
        )


def _snapshot(path: Path) -> dict[str, object]:
    with sqlite3.connect(path) as conn:
        snap: dict[str, object] = {}
        for table in TABLES:
            columns = [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]
            # appointment_id is migration 16's own; runner_token migration 17's, after it.
            columns = [c for c in columns if c not in ("appointment_id", "runner_token")]
            snap[table] = conn.execute(
                f"SELECT {', '.join(columns)} FROM {table} ORDER BY id"
            ).fetchall()
            snap[f"{table} columns"] = columns
        # Every named index with its SQL (the autoindexes of UNIQUE constraints are unnamed).
        snap["indexes"] = conn.execute(
            "SELECT name, tbl_name, sql FROM sqlite_schema WHERE type = 'index'"
            f" AND tbl_name IN {TABLES} AND sql IS NOT NULL ORDER BY name"
        ).fetchall()
        return snap


@pytest.mark.asyncio
async def test_migration_keeps_campaign_rows_ids_indexes_and_constraints(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    _schema_before(path)
    before = _snapshot(path)

    async with await Store.open(path, tz=TIRANE, clock=FixedClock()) as store:
        assert await store.health.schema_version() >= CONFIRMATION_MIGRATION + 1
        report = await store.health.check(slot_minutes=30)
        assert report.healthy, report.to_result()
        campaign = await store.campaigns.get(name="winter")
        assert campaign is not None
        assert (campaign.id, campaign.service_state, campaign.retry_delays) == (
            4,
            "active",
            {"busy": 60},
        )
        contacts = await store.campaigns.contacts(campaign_id=4)
        assert [(c.id, c.patient_id, c.appointment_id) for c in contacts] == [
            (5, 7, None),
            (8, None, None),
        ]

    after = _snapshot(path)
    replaced = "campaign_contacts_campaign_phone", "campaign_contacts_appointment"
    # Indexes that migrations after this one create are not this migration's business.
    later = set(re.findall(r"CREATE (?:UNIQUE )?INDEX (\w+)", "".join(MIGRATIONS[16:])))
    kept = [i for i in after["indexes"] if i[0] not in replaced and i[0] not in later]
    assert kept == before["indexes"]
    assert {i[0] for i in after["indexes"]} >= set(replaced)
    for table in TABLES:
        assert after[table] == before[table], table
        assert after[f"{table} columns"] == before[f"{table} columns"], table

    with sqlite3.connect(path, isolation_level=None) as conn:
        conn.execute("PRAGMA foreign_keys = ON")
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        contact_columns = [row[1] for row in conn.execute("PRAGMA table_info(campaign_contacts)")]
        assert contact_columns[-1] == "appointment_id"
        appointment_columns = [row[1] for row in conn.execute("PRAGMA table_info(appointments)")]
        assert appointment_columns[-2:] == ["confirmed_at", "confirmed_via"]

        # New values accepted.
        conn.execute("UPDATE campaigns SET purpose = 'confirmation' WHERE id = 9")
        conn.execute("UPDATE campaign_contacts SET language = 'it' WHERE id = 12")
        conn.execute(
            "UPDATE appointments SET confirmed_via = 'sms', confirmed_at = ? WHERE id = 3", (T0,)
        )
        # Old rules still enforced.
        for statement in (
            "UPDATE campaigns SET purpose = 'survey' WHERE id = 9",
            "UPDATE campaign_contacts SET language = 'de' WHERE id = 12",
            "UPDATE appointments SET confirmed_via = 'fax' WHERE id = 3",
            "UPDATE campaigns SET status = 'lost' WHERE id = 4",
            "UPDATE campaign_contacts SET state = 'gone' WHERE id = 5",
            "UPDATE call_attempts SET outcome = 'maybe' WHERE id = 21",
        ):
            with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
                conn.execute(statement)
        with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):  # one number per campaign
            conn.execute(
                "INSERT INTO campaign_contacts (campaign_id, phone, name, created_at)"
                " VALUES (4, '+355691234567', 'Arta', ?)",
                (T0,),
            )
        with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):  # one open attempt a number
            conn.execute(
                "INSERT INTO call_attempts (contact_id, started_at, phone, campaign_id)"
                " VALUES (8, ?, '+355691234567', 4)",
                (T0,),
            )
        with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
            conn.execute(
                "INSERT INTO campaign_contacts (campaign_id, phone, name, created_at)"
                " VALUES (77, '+355690000001', 'X', ?)",
                (T0,),
            )
        with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
            conn.execute(
                "INSERT INTO campaign_contacts (campaign_id, phone, name, created_at,"
                " appointment_id) VALUES (9, '+355690000001', 'X', ?, 999)",
                (T0,),
            )
        # A confirmation contact per appointment: the same number again for another
        # appointment is allowed, the same appointment twice is not.
        conn.execute(
            "INSERT INTO campaign_contacts (campaign_id, phone, name, created_at, appointment_id)"
            " VALUES (9, '+355691234567', 'Arta', ?, 3)",
            (T0,),
        )
        with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
            conn.execute(
                "INSERT INTO campaign_contacts (campaign_id, phone, name, created_at,"
                " appointment_id) VALUES (4, '+355691234567', 'Arta', ?, 3)",
                (T0,),
            )
        with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
            conn.execute("DELETE FROM campaigns WHERE id = 4")
