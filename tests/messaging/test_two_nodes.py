"""Two senders on two nodes share one PostgreSQL database: every message goes exactly once.

Each sender claims rows with a lease inside the one-writer transaction that all nodes share
(``MessageBoard.claim``); here two sender processes start claiming at the same moment, against
one SMTP server and one SMS provider, and split the work between them.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from messaging.email_message import message_id
from tests.messaging.fakes import SmtpServer
from tests.messaging.sender_process import book_patients, sms_accepted, start_sender

PATIENTS = 12


@pytest.mark.slow
def test_two_senders_on_one_postgresql_database_send_each_message_once(
    pg_cluster: Any, pg_template: str, tmp_path: Path
) -> None:
    name = f"two_senders_{tmp_path.name}"[:60].lower()
    pg_cluster.create_database(name, template=pg_template)
    url = pg_cluster.url(name)
    sms_file = tmp_path / "sms.jsonl"
    try:
        keys = asyncio.run(book_patients(url, PATIENTS))
        assert len(keys) == 2 * PATIENTS
        server = SmtpServer(delay=0.1).start()
        try:
            senders = [
                start_sender(url, sms_file, server.port, lease_secs=60, wait=True) for _ in range(2)
            ]
            for sender in senders:
                assert sender.stdout is not None and sender.stdout.readline() == "started\n"
            for sender in senders:
                assert sender.stdin is not None
                sender.stdin.write("go\n")
                sender.stdin.flush()
            lines = []
            for sender in senders:
                out, err = sender.communicate(timeout=120)
                assert sender.returncode == 0, err
                lines.append(out.strip())
            mails = server.mails()
        finally:
            server.stop()
        statuses = asyncio.run(_statuses(url))
    finally:
        pg_cluster.drop_database(name)

    sms_counts = Counter(record["key"] for record in sms_accepted(sms_file))
    assert sms_counts == Counter(k for k in keys if k.endswith(":sms")), "every SMS exactly once"
    mail_ids = Counter(m["Message-ID"] for m in mails)
    assert mail_ids == Counter(
        message_id(k, "buzeqeshja.example") for k in keys if k.endswith(":email")
    ), "every email exactly once"
    assert statuses == {"sent": 2 * PATIENTS}
    # Both nodes did part of the work, and their counts add up.
    sent = [int(re.match(r"sent (\d+)", line).group(1)) for line in lines]  # type: ignore[union-attr]
    assert all(n > 0 for n in sent), lines
    assert sum(sent) == 2 * PATIENTS


async def _statuses(url: str) -> dict[str, int]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT status, count(*) AS n FROM messages WHERE kind = 'confirmation' GROUP BY status"
        )
    finally:
        await conn.close()
    return {row["status"]: row["n"] for row in rows}
