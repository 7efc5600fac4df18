"""Fixtures of the messages tests: a real SMTP server on 127.0.0.1, a sender over a store."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from app.calling_rules import CallingWindow
from config.clinic import ClinicProfile
from config.settings_messages import EmailSettings, MessagesSettings
from messaging.sender import Sender, SenderConfig
from messaging.smtp import SmtpEmailChannel
from storage import Store
from tests.conftest import FixedClock
from tests.messaging.fakes import SmtpServer, StrictSms

ALWAYS = CallingWindow(
    days=frozenset(range(7)), intervals=((0, 24 * 60),), skip_public_holidays=False
)
FROM = "Klinika Buzeqeshja <info@buzeqeshja.example>"


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


def email_settings(server: SmtpServer, **extra: Any) -> EmailSettings:
    return EmailSettings(
        host="127.0.0.1", port=server.port, tls="plain", from_address=FROM, **extra
    )


@pytest.fixture
def make_sender(
    store: Store, clinic: ClinicProfile, clock: FixedClock, smtp: SmtpServer
) -> Callable[..., Sender]:
    """A sender over the test store; keywords override the SMS channel, window or settings."""

    def make(
        *,
        sms: StrictSms | None = None,
        window: CallingWindow = ALWAYS,
        email: bool = True,
        **settings: Any,
    ) -> Sender:
        async def no_sleep(_: float) -> None:
            return None

        return Sender(
            store=store,
            config=SenderConfig(
                clinic=clinic,
                window=window,
                settings=MessagesSettings(**settings),
                from_address=FROM,
            ),
            sms=sms,
            email=SmtpEmailChannel(email_settings(smtp)) if email else None,
            clock=clock,
            sleep=no_sleep,
        )

    return make
