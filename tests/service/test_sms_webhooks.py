"""Twilio's SMS webhooks over real HTTP: the Twilio fake signs and posts to Elo's service app.

Elo's HTTP app (create_http_app) runs on uvicorn on 127.0.0.1; the fake posts a patient's
replies and the delivery reports of messages sent through the real adapter, signed as Twilio
does, or forged. Most tests record what reaches the SmsInbox; one runs the real StoreInbox.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from loguru import logger

from app.application import Application, open_application
from config.settings import load_settings
from devtools.twilio_fake import FakeTwilio
from messaging.sms_replies import Reply
from messaging.sms_twilio import INBOUND_PATH, STATUS_PATH, TwilioSms
from service.http import create_http_app
from service.sms_webhooks import EMPTY_TWIML
from storage.appointments import Booked
from tests.conftest import TIRANE
from tests.messaging.twilio_account import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    PATIENT,
    fake_account,
    sms_settings,
)
from tests.service.live_http import serving

PUBLIC = "https://elo.clinic.example"


class Inbox:
    """An SmsInbox that records what reaches it."""

    def __init__(self) -> None:
        self.replies: list[dict[str, Any]] = []
        self.statuses: list[dict[str, Any]] = []

    async def on_reply(self, *, phone: str, reply: Reply, provider_id: str) -> None:
        self.replies.append({"phone": phone, "reply": reply, "provider_id": provider_id})

    async def on_status(self, *, provider_id: str, status: str, error_code: str | None) -> None:
        self.statuses.append({"provider_id": provider_id, "status": status, "error": error_code})


@contextmanager
def logged() -> Iterator[list[str]]:
    """Every log line written meanwhile, with its extra fields."""
    lines: list[str] = []
    sink = logger.add(
        lambda message: lines.append(str(message)), level="DEBUG", format="{message} {extra}"
    )
    try:
        yield lines
    finally:
        logger.remove(sink)


@asynccontextmanager
async def elo(
    tmp_path: Path, twilio: FakeTwilio, inbox: Inbox | None, **sms: Any
) -> AsyncIterator[tuple[str, Application]]:
    settings = load_settings(
        env_file=None,
        database={"path": tmp_path / "elo.db"},
        logging={"file": tmp_path / "logs" / "elo.jsonl"},
        sms=sms_settings(twilio.url, **sms).model_dump(),
    )
    async with open_application(settings) as app:
        async with serving(create_http_app(app, sms_inbox=inbox)) as base:
            yield base, app


async def _scrape(base: str) -> str:
    async with httpx.AsyncClient() as client:
        return (await client.get(base + "/metrics")).text


def _count(scrape: str, kind: str, result: str) -> float:
    prefix = f'elo_sms_webhooks_total{{kind="{kind}",result="{result}"}} '
    return sum(float(line.split()[-1]) for line in scrape.splitlines() if line.startswith(prefix))


@pytest.mark.asyncio
async def test_a_signed_reply_reaches_the_inbox_and_gets_empty_twiml(tmp_path):
    inbox = Inbox()
    async with fake_account() as twilio, elo(tmp_path, twilio, inbox) as (base, _):
        twilio.inbound_url = base + INBOUND_PATH
        delivery = await twilio.patient_sends(from_=PATIENT, body="Po, faleminderit")
    assert (delivery.status, delivery.body) == (200, EMPTY_TWIML)
    assert inbox.replies == [
        {"phone": PATIENT, "reply": Reply.CONFIRM, "provider_id": delivery.params["MessageSid"]}
    ]


@pytest.mark.asyncio
@pytest.mark.parametrize("forgery", ["unsigned", "wrong_token", "altered"])
async def test_a_forged_reply_is_refused_counted_and_not_logged(tmp_path, forgery):
    inbox = Inbox()
    async with fake_account() as twilio, elo(tmp_path, twilio, inbox) as (base, _):
        twilio.inbound_url = base + INBOUND_PATH
        before = _count(await _scrape(base), "inbound", "forged")
        with logged() as lines:
            delivery = await twilio.patient_sends(from_=PATIENT, body="JO", forgery=forgery)
        after = _count(await _scrape(base), "inbound", "forged")
    assert delivery.status == 401
    assert inbox.replies == []
    assert after == before + 1
    log = "\n".join(lines)
    assert "signature" in log
    assert PATIENT not in log and PATIENT[-7:] not in log and "JO" not in log


@pytest.mark.asyncio
async def test_behind_a_proxy_the_public_url_is_what_twilio_signed(tmp_path):
    inbox = Inbox()
    async with fake_account() as twilio:
        async with elo(tmp_path, twilio, inbox, public_base_url=PUBLIC) as (base, _):
            twilio.proxy = (PUBLIC, base)
            twilio.inbound_url = PUBLIC + INBOUND_PATH
            good = await twilio.patient_sends(from_=PATIENT, body="STOP")
        # Elo checking its own address instead of the public one refuses the same request.
        async with elo(tmp_path / "b", twilio, Inbox()) as (base, _):
            twilio.proxy = (PUBLIC, base)
            refused = await twilio.patient_sends(from_=PATIENT, body="STOP")
    assert (good.status, refused.status) == (200, 401)
    assert [r["reply"] for r in inbox.replies] == [Reply.STOP]


@pytest.mark.asyncio
async def test_twilios_opt_out_type_stop_counts_as_stop(tmp_path):
    inbox = Inbox()
    async with (
        fake_account(advanced_opt_out=True) as twilio,
        elo(tmp_path, twilio, inbox) as (
            base,
            _,
        ),
    ):
        twilio.inbound_url = base + INBOUND_PATH
        stop = await twilio.patient_sends(from_=PATIENT, body="quit")
        help_ = await twilio.patient_sends(from_=PATIENT, body="HELP")
    assert stop.params["OptOutType"] == "STOP" and help_.params["OptOutType"] == "HELP"
    assert [r["reply"] for r in inbox.replies] == [Reply.STOP, Reply.UNKNOWN]
    assert PATIENT in twilio.opted_out


@pytest.mark.asyncio
async def test_delivery_reports_of_a_sent_message_reach_the_inbox_once(tmp_path):
    inbox = Inbox()
    async with fake_account() as twilio:
        async with elo(tmp_path, twilio, inbox, public_base_url=PUBLIC) as (base, app):
            twilio.proxy = (PUBLIC, base)
            twilio.undeliverable["+355699999999"] = 30003
            sms = TwilioSms(app.settings.sms)
            ok = await sms.send(to=PATIENT, body="Kujtesë", idempotency_key="a")
            bad = await sms.send(to="+355699999999", body="Kujtesë", idempotency_key="b")
            await twilio.flush()
            # Twilio delivers a webhook again when it saw no answer: acted on once.
            again = twilio.deliveries[-1]
            await twilio.post_webhook("status", again.url, again.params, "none")
            await sms.aclose()
    assert all(d.status == 200 for d in twilio.deliveries if d.kind == "status")
    assert sorted((s["provider_id"], s["status"], s["error"]) for s in inbox.statuses) == sorted(
        [
            (ok.provider_id, "sent", None),
            (ok.provider_id, "delivered", None),
            (bad.provider_id, "sent", None),
            (bad.provider_id, "undelivered", "30003"),
        ]
    )


@pytest.mark.asyncio
async def test_a_forged_status_report_is_refused(tmp_path):
    inbox = Inbox()
    async with fake_account() as twilio, elo(tmp_path, twilio, inbox) as (base, _):
        params = {"MessageSid": "SM" + "0" * 32, "MessageStatus": "delivered"}
        params["AccountSid"] = ACCOUNT_SID
        delivery = await twilio.post_webhook("status", base + STATUS_PATH, params, "wrong_token")
    assert delivery.status == 401 and inbox.statuses == []


@pytest.mark.asyncio
async def test_without_an_auth_token_nothing_is_accepted(tmp_path):
    inbox = Inbox()
    async with fake_account() as twilio, elo(tmp_path, twilio, inbox, auth_token="") as (base, _):
        twilio.inbound_url = base + INBOUND_PATH
        delivery = await twilio.patient_sends(from_=PATIENT, body="PO")
    assert delivery.status == 503 and inbox.replies == []


@pytest.mark.asyncio
async def test_a_signed_confirmation_confirms_the_appointment_in_the_database(tmp_path):
    async with fake_account() as twilio, elo(tmp_path, twilio, None) as (base, app):
        twilio.inbound_url = base + INBOUND_PATH
        start = datetime.now(TIRANE).replace(minute=0, second=0, microsecond=0)
        start += timedelta(days=3)
        booked = await app.store.appointments.book(
            phone=PATIENT,
            name="Arta Hoxha",
            service_id="checkup",
            starts_at=start,
            ends_at=start + timedelta(minutes=30),
            slot=timedelta(minutes=30),
            chairs=1,
            price_lek=3000,
            source="agent",
        )
        assert isinstance(booked, Booked)
        with logged() as lines:
            stranger = await twilio.patient_sends(from_="+355682345678", body="PO")
            forged = await twilio.patient_sends(from_=PATIENT, body="PO", forgery="wrong_token")
        with sqlite3.connect(tmp_path / "elo.db") as db:
            unchanged = db.execute("SELECT status FROM appointments").fetchall()
        good = await twilio.patient_sends(from_=PATIENT, body="PO")
    assert (stranger.status, forged.status, good.status) == (200, 401, 200)
    assert unchanged == [("scheduled",)]
    with sqlite3.connect(tmp_path / "elo.db") as db:
        assert db.execute("SELECT status FROM appointments").fetchall() == [("confirmed",)]
        assert db.execute("SELECT actor, action FROM audit_log").fetchall() == [
            ("sms", "appointment.confirm")
        ]
    log = "\n".join(lines)
    assert "no patient" in log, lines
    assert "+355682345678" not in log and "682345678" not in log
    assert AUTH_TOKEN not in log


@pytest.mark.asyncio
async def test_a_redelivered_reply_and_a_sender_that_is_no_number_do_nothing_more(tmp_path):
    inbox = Inbox()
    async with fake_account() as twilio, elo(tmp_path, twilio, inbox) as (base, _):
        twilio.inbound_url = base + INBOUND_PATH
        first = await twilio.patient_sends(from_=PATIENT, body="JO")
        again = await twilio.post_webhook("inbound", first.url, first.params, "none")
        named = await twilio.patient_sends(from_="CLINIC", body="PO")
    assert (first.status, again.status, named.status) == (200, 200, 200)
    assert again.body == EMPTY_TWIML
    assert [r["reply"] for r in inbox.replies] == [Reply.DECLINE]


@pytest.mark.asyncio
async def test_a_body_too_large_to_be_a_webhook_is_refused_before_anything(tmp_path):
    inbox = Inbox()
    async with fake_account() as twilio, elo(tmp_path, twilio, inbox) as (base, _):
        async with httpx.AsyncClient() as client:
            answer = await client.post(base + INBOUND_PATH, data={"Body": "x" * 70_000})
    assert answer.status_code == 413 and inbox.replies == []
