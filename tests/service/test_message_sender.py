"""`elo serve`'s message sender loop: it sends what is due, and exists only with a channel."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from app.application import open_application
from config.settings import AppSettings, load_settings
from service.messages import start_sender, stop_sender
from tests.conftest import FixedClock
from tests.messaging.fakes import SmtpServer
from tests.storage.booking import PHONE, SLOT, at

pytestmark = pytest.mark.asyncio


def _settings(tmp_path: Path, **groups: object) -> AppSettings:
    return load_settings(
        env_file=None,
        database={"path": tmp_path / "elo.db"},
        logging={"file": tmp_path / "logs" / "elo.jsonl"},
        calling={
            "window_days": "mon,tue,wed,thu,fri,sat,sun",
            "window_intervals": "00:00-24:00",
            "skip_public_holidays": False,
        },
        **groups,
    )


async def test_the_sender_loop_sends_a_booking_confirmation(tmp_path: Path) -> None:
    server = SmtpServer().start()
    settings = _settings(
        tmp_path,
        email={
            "host": "127.0.0.1",
            "port": server.port,
            "tls": "plain",
            "from_address": "info@buzeqeshja.example",
        },
        messages={"poll_secs": 0.05},
    )
    try:
        async with open_application(settings, clock=FixedClock()) as app:
            await app.store.patients.upsert(phone=PHONE, name="Arta Hoxha", email="a@example.com")
            await app.store.appointments.book(
                phone=PHONE,
                name="Arta Hoxha",
                service_id="checkup",
                starts_at=at(10, day=9),
                ends_at=at(10, 30, day=9),
                slot=SLOT,
                chairs=3,
                price_lek=2000,
                source="agent",
            )
            task = start_sender(app)
            assert task is not None
            for _ in range(200):
                if server.mails():
                    break
                await asyncio.sleep(0.05)
            await stop_sender(task)
            assert len(server.mails()) == 1
            (sent,) = await app.store.messages.list(status="sent")
            assert sent.kind == "confirmation" and sent.channel == "email"
            # Only the configured channel was planned: no SMS rows without an SMS provider.
            assert {m.channel for m in await app.store.messages.list()} == {"email"}
    finally:
        server.stop()


async def test_no_channel_no_sender(tmp_path: Path) -> None:
    async with open_application(_settings(tmp_path)) as app:
        assert start_sender(app) is None
