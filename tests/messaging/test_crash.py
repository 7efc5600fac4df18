"""The sender killed with SIGKILL in the middle of a batch, then started again.

Every due message arrives; an SMS exactly once (the provider is asked about the row the dead
sender left ``sending``); an email at most twice, and then only the one in flight at the kill,
with the same Message-ID both times (SMTP cannot be asked; receivers de-duplicate on it).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from messaging.email_message import message_id
from storage import Store
from tests.conftest import PROJECT_ROOT, TIRANE
from tests.messaging.fakes import SmtpServer

PATIENTS = 10


async def _book_all(db: Path) -> list[str]:
    store = await Store.open(db, tz=TIRANE)
    try:
        start = datetime.now(TIRANE).replace(hour=10, minute=0, second=0, microsecond=0)
        start += timedelta(days=20)
        for n in range(PATIENTS):
            phone = f"+35569{n:07d}"
            await store.patients.upsert(phone=phone, name="Arta Hoxha", email=f"p{n}@example.com")
            await store.appointments.book(
                phone=phone,
                name="Arta Hoxha",
                service_id="checkup",
                starts_at=start + timedelta(hours=n),
                ends_at=start + timedelta(hours=n, minutes=30),
                slot=timedelta(minutes=30),
                chairs=1,
                price_lek=2000,
                source="agent",
            )
        rows = await store.db.rows(
            "SELECT idempotency_key FROM messages WHERE kind = 'confirmation'"
        )
        return [row[0] for row in rows]
    finally:
        await store.close()


def _sender(db: Path, sms_file: Path, port: int) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.messaging.sender_process", str(db), str(sms_file), str(port)],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _sms(sms_file: Path) -> list[dict[str, str]]:
    if not sms_file.exists():
        return []
    return [json.loads(line) for line in sms_file.read_text().splitlines() if line]


@pytest.mark.slow
def test_sigkill_mid_batch_then_restart_sends_everything_once(tmp_path: Path) -> None:
    db, sms_file = tmp_path / "elo.db", tmp_path / "sms.jsonl"
    keys = asyncio.run(_book_all(db))
    assert len(keys) == 2 * PATIENTS
    server = SmtpServer(delay=0.3).start()  # slow enough that the kill lands mid-batch
    try:
        first = _sender(db, sms_file, server.port)
        deadline = time.monotonic() + 60
        while len(server.received) + len(_sms(sms_file)) < PATIENTS // 2:
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline, "the sender made no progress"
            time.sleep(0.02)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
        assert first.returncode == -signal.SIGKILL
        before = len(server.received) + len(_sms(sms_file))
        assert before < 2 * PATIENTS, "the batch had finished before the kill"
        time.sleep(2.1)  # past the 1-second lease the dead sender held its rows under
        second = _sender(db, sms_file, server.port)
        _, err = second.communicate(timeout=120)
        assert second.returncode == 0, err
        # The delayed server may still be handling the killed connection's DATA; it finishes
        # within its delay.
        time.sleep(0.5)
        mails = server.mails()
    finally:
        server.stop()

    email_keys = [k for k in keys if k.endswith(":email")]
    sms_keys = [k for k in keys if k.endswith(":sms")]
    sms_counts = Counter(record["key"] for record in _sms(sms_file))
    assert sms_counts == Counter(sms_keys), "every SMS exactly once"
    ids = Counter(m["Message-ID"] for m in mails)
    assert set(ids) == {message_id(k, "buzeqeshja.example") for k in email_keys}
    repeated = {mid: n for mid, n in ids.items() if n > 1}
    assert len(repeated) <= 1 and all(n == 2 for n in repeated.values()), repeated
    with sqlite3.connect(db) as conn:
        statuses = conn.execute(
            "SELECT status, count(*) FROM messages WHERE kind = 'confirmation' GROUP BY status"
        ).fetchall()
    assert statuses == [("sent", 2 * PATIENTS)]
