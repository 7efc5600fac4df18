"""A sender in a process of its own, for the SIGKILL test.

``python -m tests.messaging.sender_process DB SMS_FILE SMTP_PORT``: email goes to the SMTP
server on 127.0.0.1; SMS to the strict provider whose accepted messages live in SMS_FILE (so a
killed process and the next see one provider).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from config.clinic import load_clinic_profile
from config.clock import system_clock
from config.settings_messages import EmailSettings, MessagesSettings
from messaging.sender import Sender, SenderConfig
from messaging.smtp import SmtpEmailChannel
from storage import Store
from tests.conftest import SAMPLE_PROFILE, TIRANE
from tests.messaging.conftest import ALWAYS, FROM
from tests.messaging.fakes import StrictSms


async def main(db: Path, sms_file: Path, port: int) -> None:
    store = await Store.open(db, tz=TIRANE)
    try:
        sender = Sender(
            store=store,
            config=SenderConfig(
                clinic=load_clinic_profile(SAMPLE_PROFILE),
                window=ALWAYS,
                settings=MessagesSettings(lease_secs=1, batch_size=5),
                from_address=FROM,
            ),
            sms=StrictSms(path=sms_file, answer_delay=0.15),
            email=SmtpEmailChannel(
                EmailSettings(host="127.0.0.1", port=port, tls="plain", from_address=FROM)
            ),
            clock=system_clock,
        )
        print("started", flush=True)
        summary = await sender.run_once()
        print(summary.line(), flush=True)
    finally:
        await store.close()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])))
