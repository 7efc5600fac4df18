"""A sender in a process of its own, for the SIGKILL and two-node tests; and its parent's helpers.

``python -m tests.messaging.sender_process DB SMS_FILE SMTP_PORT [--lease S] [--wait]``: DB is
a SQLite path or a ``postgresql://`` URL; email goes to the SMTP server on 127.0.0.1; SMS to the
strict provider whose accepted messages live in SMS_FILE (so a killed process and the next, or
two at once, see one provider). It prints ``started`` once ready; with ``--wait`` it then claims
nothing before a line on its standard input, so that two senders start claiming at one moment.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

from config.clinic import load_clinic_profile
from config.clock import system_clock
from config.settings_messages import EmailSettings, MessagesSettings
from messaging.sender import Sender, SenderConfig
from messaging.smtp import SmtpEmailChannel
from storage import Store
from tests.backends import PG_HASH_KEY
from tests.conftest import PROJECT_ROOT, SAMPLE_PROFILE, TIRANE
from tests.messaging.conftest import ALWAYS, FROM
from tests.messaging.fakes import StrictSms


def _hash_key(db: str) -> str | None:
    return PG_HASH_KEY if db.startswith("postgresql://") else None


async def book_patients(db: str, patients: int) -> list[str]:
    """Book one appointment for each of ``patients`` patients; the confirmations' keys."""
    store = await Store.open(db, tz=TIRANE, hash_key=_hash_key(db))
    try:
        start = datetime.now(TIRANE).replace(hour=10, minute=0, second=0, microsecond=0)
        start += timedelta(days=20)
        for n in range(patients):
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


def start_sender(
    db: str, sms_file: Path, port: int, *, lease_secs: int = 1, wait: bool = False
) -> subprocess.Popen[str]:
    """Start a sender process (see the module docstring)."""
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    args = [sys.executable, "-m", "tests.messaging.sender_process", db, str(sms_file), str(port)]
    args += ["--lease", str(lease_secs)]
    if wait:
        args.append("--wait")
    return subprocess.Popen(
        args,
        cwd=PROJECT_ROOT,
        env=env,
        stdin=subprocess.PIPE if wait else None,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def sms_accepted(sms_file: Path) -> list[dict[str, str]]:
    """Every SMS the provider accepted, in order."""
    if not sms_file.exists():
        return []
    return [json.loads(line) for line in sms_file.read_text().splitlines() if line]


async def main(db: str, sms_file: Path, port: int, lease_secs: int, wait: bool) -> None:
    store = await Store.open(db, tz=TIRANE, hash_key=_hash_key(db))
    try:
        sender = Sender(
            store=store,
            config=SenderConfig(
                clinic=load_clinic_profile(SAMPLE_PROFILE),
                window=ALWAYS,
                settings=MessagesSettings(lease_secs=lease_secs, batch_size=5),
                from_address=FROM,
            ),
            sms=StrictSms(path=sms_file, answer_delay=0.15),
            email=SmtpEmailChannel(
                EmailSettings(host="127.0.0.1", port=port, tls="plain", from_address=FROM)
            ),
            clock=system_clock,
        )
        print("started", flush=True)
        if wait:
            await asyncio.to_thread(sys.stdin.readline)
        summary = await sender.run_once()
        print(summary.line(), flush=True)
    finally:
        await store.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("db")
    parser.add_argument("sms_file", type=Path)
    parser.add_argument("port", type=int)
    parser.add_argument("--lease", type=int, default=1)
    parser.add_argument("--wait", action="store_true")
    options = parser.parse_args()
    asyncio.run(main(options.db, options.sms_file, options.port, options.lease, options.wait))
