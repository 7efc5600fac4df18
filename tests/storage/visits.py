"""Hand-made patients, appointments and messages for the recall and attendance tests.

Rows are written directly (no booking rules, no planned messages) so each test states exactly
the history it needs, in the past as well as the future.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from storage import Store
from storage.dialect import columns_sql
from storage.schema_pg import PG_BASELINE
from storage.timefmt import to_db


async def patient(store: Store, phone: str, name: str = "Arta Hoxha", language: str = "sq") -> int:
    patient_row, _ = await store.patients.upsert(phone=phone, name=name, language=language)
    return patient_row.id


async def visit(
    store: Store,
    patient_id: int,
    start: datetime,
    status: str = "completed",
    *,
    minutes: int = 30,
    price: int = 2000,
    chair: int = 1,
) -> int:
    """One appointment row; ``chair`` keeps active ones apart (one per chair and start)."""
    async with store.db.transaction() as conn:
        (row,) = await conn.execute_fetchall(
            "INSERT INTO appointments (patient_id, service_id, chair, starts_at, ends_at, status,"
            " price_lek, source, created_at) VALUES (?, 'checkup', ?, ?, ?, ?, ?, 'cli', ?)"
            " RETURNING id",
            (
                patient_id,
                chair,
                to_db(start),
                to_db(start + timedelta(minutes=minutes)),
                status,
                price,
                to_db(start - timedelta(days=30)),
            ),
        )
    return int(row[0])


async def message(
    store: Store,
    appointment_id: int,
    channel: str,
    sent_at: datetime | None,
    *,
    kind: str = "reminder",
    status: str = "sent",
) -> None:
    """One outbox row of the appointment; ``sent_at`` None for one never sent."""
    async with store.db.transaction() as conn:
        (row,) = await conn.execute_fetchall(
            "SELECT patient_id FROM appointments WHERE id = ?", (appointment_id,)
        )
        at = sent_at or datetime(2026, 1, 1).astimezone()
        await conn.execute(
            "INSERT INTO messages (patient_id, appointment_id, channel, kind, language, due_at,"
            " status, next_attempt_at, idempotency_key, created_at, sent_at)"
            " VALUES (?, ?, ?, ?, 'sq', ?, ?, ?, ?, ?, ?)",
            (
                row[0],
                appointment_id,
                channel,
                kind,
                to_db(at),
                status,
                to_db(at),
                f"test:{appointment_id}:{channel}:{kind}:{to_db(at)}:{status}",
                to_db(at),
                to_db(sent_at) if sent_at else None,
            ),
        )


async def has_confirmed_columns(store: Store) -> bool:
    """Whether migration 16 (``appointments.confirmed_at``/``confirmed_via``) is applied."""
    rows = await store.db.rows(columns_sql(store.db.conn), ("appointments",))
    return {"confirmed_at", "confirmed_via"} <= {row[0] for row in rows}


async def italian_contacts(store: Store) -> bool:
    """Whether campaign contacts may be Italian (migration 16)."""
    if store.db.dialect == "postgresql":
        return PG_BASELINE >= 16  # PostgreSQL's schema starts at this version
    sql = await store.db.scalar(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'campaign_contacts'"
    )
    return "'it'" in str(sql)
