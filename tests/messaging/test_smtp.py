"""The SMTP channel against a real server: replies mapped to the channel contract, STARTTLS."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path

import pytest
import trustme

from config.clinic import ClinicProfile
from config.settings_messages import EmailSettings
from messaging.channels import PermanentSendError, TemporarySendError
from messaging.email_message import build_email, message_id
from messaging.render import render
from messaging.smtp import SmtpEmailChannel
from tests.conftest import TIRANE
from tests.messaging.conftest import FROM, email_settings
from tests.messaging.fakes import SmtpServer, free_port

pytestmark = pytest.mark.asyncio
KEY = "appt:7:confirmation:0:0:email"


@pytest.fixture
def mail(clinic: ClinicProfile) -> EmailMessage:
    start = datetime(2026, 12, 9, 10, tzinfo=TIRANE)
    return build_email(
        rendered=render("confirmation", language="en", starts_at=start, clinic=clinic),
        kind="confirmation",
        idempotency_key=KEY,
        from_address=FROM,
        to="arta@example.com",
        appointment_id=7,
        revision=0,
        starts_at=start,
        ends_at=datetime(2026, 12, 9, 10, 30, tzinfo=TIRANE),
        tz=TIRANE,
        location=clinic.address,
        now=start,
    )


async def test_accepted_mail_reports_its_message_id(smtp: SmtpServer, mail: EmailMessage) -> None:
    sent = await SmtpEmailChannel(email_settings(smtp)).send(mail, idempotency_key=KEY)
    assert sent.provider_id == message_id(KEY, "buzeqeshja.example") == mail["Message-ID"]
    assert len(smtp.mails()) == 1


@pytest.mark.parametrize(
    ("where", "reply", "error"),
    [
        ("rcpt", "550 5.1.1 no such user", PermanentSendError),
        ("rcpt", "452 4.2.2 mailbox full", TemporarySendError),
        ("data", "554 5.7.1 rejected as spam", PermanentSendError),
        ("data", "451 4.3.0 try again later", TemporarySendError),
    ],
)
async def test_replies_map_5xx_to_permanent_and_4xx_to_temporary(
    smtp: SmtpServer, mail: EmailMessage, where: str, reply: str, error: type
) -> None:
    setattr(smtp, f"{where}_reply", reply)
    with pytest.raises(error) as caught:
        await SmtpEmailChannel(email_settings(smtp)).send(mail, idempotency_key=KEY)
    assert caught.value.reason.startswith(f"smtp {reply[:3]}")
    assert "arta" not in caught.value.reason  # no address in a stored reason
    assert smtp.mails() == []


async def test_a_server_that_is_not_there_is_temporary(mail: EmailMessage) -> None:
    settings = EmailSettings(host="127.0.0.1", port=free_port(), tls="plain", from_address=FROM)
    with pytest.raises(TemporarySendError, match="connection"):
        await SmtpEmailChannel(settings).send(mail, idempotency_key=KEY)


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[SmtpServer, Path]]:
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    server = SmtpServer(tls_context=context).start()
    yield server, ca_file
    server.stop()


async def test_starttls_with_login_sends_over_tls(tls_server, mail: EmailMessage) -> None:
    server, ca_file = tls_server
    settings = email_settings(server, ca_file=ca_file).model_copy(update={"tls": "starttls"})
    sent = await SmtpEmailChannel(settings).send(mail, idempotency_key=KEY)
    assert sent.status == "accepted"
    assert len(server.mails()) == 1


async def test_a_plain_client_is_refused_by_a_server_requiring_starttls(
    tls_server, mail: EmailMessage
) -> None:
    server, _ = tls_server
    with pytest.raises(PermanentSendError, match="smtp 530"):
        await SmtpEmailChannel(email_settings(server)).send(mail, idempotency_key=KEY)
    assert server.mails() == []
