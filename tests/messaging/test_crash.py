"""The sender killed with SIGKILL in the middle of a batch, then started again.

Every due message arrives; an SMS exactly once (the provider is asked about the row the dead
sender left ``sending``); an email at most twice, and then only the one in flight at the kill,
with the same Message-ID both times (SMTP cannot be asked; receivers de-duplicate on it).
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import time
from collections import Counter
from pathlib import Path

import pytest

from messaging.email_message import message_id
from tests.messaging.fakes import SmtpServer
from tests.messaging.sender_process import book_patients, sms_accepted, start_sender

PATIENTS = 10


@pytest.mark.slow
def test_sigkill_mid_batch_then_restart_sends_everything_once(tmp_path: Path) -> None:
    db, sms_file = tmp_path / "elo.db", tmp_path / "sms.jsonl"
    keys = asyncio.run(book_patients(str(db), PATIENTS))
    assert len(keys) == 2 * PATIENTS
    server = SmtpServer(delay=0.3).start()  # slow enough that the kill lands mid-batch
    try:
        first = start_sender(str(db), sms_file, server.port)
        deadline = time.monotonic() + 60
        while len(server.received) + len(sms_accepted(sms_file)) < PATIENTS // 2:
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline, "the sender made no progress"
            time.sleep(0.02)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
        assert first.returncode == -signal.SIGKILL
        before = len(server.received) + len(sms_accepted(sms_file))
        assert before < 2 * PATIENTS, "the batch had finished before the kill"
        time.sleep(2.1)  # past the 1-second lease the dead sender held its rows under
        second = start_sender(str(db), sms_file, server.port)
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
    sms_counts = Counter(record["key"] for record in sms_accepted(sms_file))
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
