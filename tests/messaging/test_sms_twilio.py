"""TwilioSms against the strict Twilio fake over real HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import socket
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI

from config.settings import ConfigError
from messaging.channels import PermanentSendError, Sent, TemporarySendError
from messaging.sms_twilio import STATUS_PATH, TwilioSms, sms_channel
from tests.messaging.twilio_account import (
    ACCOUNT_SID,
    API_KEY_SECRET,
    API_KEY_SID,
    CLINIC,
    PATIENT,
    SERVICE_SID,
    fake_account,
    sms_settings,
)
from tests.service.live_http import serving

BODY = "Klinika Dentare: takimi juaj është nesër në 10:00. Përgjigjuni PO për ta konfirmuar."


@pytest.mark.asyncio
async def test_a_message_is_sent_with_the_accounts_credentials_and_fields():
    async with fake_account() as twilio:
        sms = TwilioSms(sms_settings(twilio.url, public_base_url="https://elo.clinic.al"))
        sent = await sms.send(to=PATIENT, body=BODY, idempotency_key="msg-1")
        await sms.aclose()
    assert sent.status == "queued" and sent.provider_id.startswith("SM")
    (request,) = twilio.requests
    assert request.user == ACCOUNT_SID
    assert request.path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    assert request.fields == {
        "To": PATIENT,
        "From": CLINIC,
        "Body": BODY,
        "StatusCallback": "https://elo.clinic.al" + STATUS_PATH,
    }
    (message,) = twilio.sent_to(PATIENT)
    assert (message.sid, message.body) == (sent.provider_id, BODY)


@pytest.mark.asyncio
async def test_an_api_key_and_a_messaging_service_are_used_when_set():
    async with fake_account() as twilio:
        settings = sms_settings(
            twilio.url,
            api_key_sid=API_KEY_SID,
            api_key_secret=API_KEY_SECRET,
            messaging_service_sid=SERVICE_SID,
            status_callbacks=False,
        )
        sms = TwilioSms(settings)
        sent = await sms.send(to=PATIENT, body=BODY, idempotency_key="k")
        await sms.aclose()
    assert sent.status == "accepted"
    (request,) = twilio.requests
    assert request.user == API_KEY_SID
    assert request.fields == {"To": PATIENT, "MessagingServiceSid": SERVICE_SID, "Body": BODY}


@pytest.mark.asyncio
async def test_a_wrong_token_is_refused_and_kept_for_retry():
    async with fake_account() as twilio:
        sms = TwilioSms(sms_settings(twilio.url, auth_token="not-the-token"))
        with pytest.raises(TemporarySendError) as raised:
            await sms.send(to=PATIENT, body=BODY, idempotency_key="k")
        await sms.aclose()
    assert "20003" in raised.value.reason
    assert twilio.messages == []


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("to", "code", "setup"),
    [
        ("0691234567", 21211, None),  # not E.164
        ("+355691234568", 21610, "opted_out"),
        ("+4915112345678", 21408, None),  # Germany is outside the account's permissions
        ("+35542111222", 21614, "landline"),
    ],
)
async def test_refusals_are_permanent_with_a_short_reason_without_the_number(to, code, setup):
    async with fake_account(landlines=frozenset({"+35542111222"})) as twilio:
        if setup == "opted_out":
            twilio.opted_out.add(to)
        sms = TwilioSms(sms_settings(twilio.url))
        with pytest.raises(PermanentSendError) as raised:
            await sms.send(to=to, body=BODY, idempotency_key="k")
        await sms.aclose()
    assert f"code {code}" in raised.value.reason
    assert to not in raised.value.reason and to[-6:] not in raised.value.reason
    assert BODY not in raised.value.reason
    assert twilio.messages == []


@pytest.mark.asyncio
async def test_a_body_over_1600_characters_and_a_foreign_sender_are_refused():
    async with fake_account() as twilio:
        sms = TwilioSms(sms_settings(twilio.url))
        with pytest.raises(PermanentSendError, match="21617"):
            await sms.send(to=PATIENT, body="x" * 1601, idempotency_key="k")
        assert (await sms.send(to=PATIENT, body="x" * 1600, idempotency_key="k")).status
        await sms.aclose()
        other = TwilioSms(sms_settings(twilio.url, from_number="+35542999999"))
        with pytest.raises(PermanentSendError, match="21606"):
            await other.send(to=PATIENT, body=BODY, idempotency_key="k")
        await other.aclose()


@pytest.mark.asyncio
@pytest.mark.parametrize(("status", "code"), [(429, 20429), (500, 20500)])
async def test_rate_limits_and_server_errors_are_temporary(status, code):
    async with fake_account() as twilio:
        twilio.fail_next(status)
        sms = TwilioSms(sms_settings(twilio.url))
        with pytest.raises(TemporarySendError, match=str(code)):
            await sms.send(to=PATIENT, body=BODY, idempotency_key="k")
        # The fault was one request: the retry goes through.
        assert isinstance(await sms.send(to=PATIENT, body=BODY, idempotency_key="k"), Sent)
        await sms.aclose()
    assert len(twilio.sent_to(PATIENT)) == 1


@pytest.mark.asyncio
async def test_a_refused_connection_and_a_silent_server_are_temporary():
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    sms = TwilioSms(sms_settings(f"http://127.0.0.1:{port}"))
    with pytest.raises(TemporarySendError, match="network error"):
        await sms.send(to=PATIENT, body=BODY, idempotency_key="k")
    await sms.aclose()

    silent = FastAPI()
    release = asyncio.Event()

    @silent.post("/{path:path}")
    async def never(path: str) -> None:
        await release.wait()

    async with serving(silent) as base:
        sms = TwilioSms(sms_settings(base, timeout_secs=0.3))
        with pytest.raises(TemporarySendError, match="in time"):
            await sms.send(to=PATIENT, body=BODY, idempotency_key="k")
        await sms.aclose()
        release.set()


@pytest.mark.asyncio
async def test_find_sent_pages_through_the_list_and_matches_body_and_time():
    now = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
    clock = {"now": now - timedelta(days=2)}
    async with fake_account(clock=lambda: clock["now"]) as twilio:
        sms = TwilioSms(sms_settings(twilio.url))
        old = await sms.send(to=PATIENT, body=BODY, idempotency_key="old")
        await twilio.flush()
        clock["now"] = now
        for n in range(120):  # more than two pages of 50 of other messages to the number
            await sms.send(to=PATIENT, body=f"other {n}", idempotency_key=str(n))
        target = await sms.send(to=PATIENT, body=BODY, idempotency_key="new")
        for n in range(60):
            await sms.send(to=PATIENT, body=f"later {n}", idempotency_key=str(n))
        await twilio.flush()
        found = await sms.find_sent(to=PATIENT, body=BODY, since=now - timedelta(minutes=1))
        missing = await sms.find_sent(to=PATIENT, body="never sent", since=now)
        lists = [r for r in twilio.requests if r.method == "GET"]
        await sms.aclose()
    assert found is not None and found.provider_id == target.provider_id != old.provider_id
    assert found.status == "delivered"
    assert missing is None
    # The first search asked Twilio for the number and the day, then followed next_page_uri.
    assert lists[0].fields == {"To": PATIENT, "PageSize": "50", "DateSent>": "2026-12-04"}
    assert {r.fields.get("Page") for r in lists} >= {"1", "2"}


@pytest.mark.asyncio
async def test_find_sent_finds_a_message_still_queued_without_a_send_date():
    async with fake_account(auto_deliver=False) as twilio:
        sms = TwilioSms(sms_settings(twilio.url))
        since = datetime.now(UTC)
        sent = await sms.send(to=PATIENT, body=BODY, idempotency_key="k")
        found = await sms.find_sent(to=PATIENT, body=BODY, since=since)
        await sms.aclose()
    assert found == Sent(provider_id=sent.provider_id, status="queued")


@pytest.mark.asyncio
async def test_find_sent_says_twilio_could_not_be_asked():
    async with fake_account() as twilio:
        twilio.fail_next(500)
        sms = TwilioSms(sms_settings(twilio.url))
        with pytest.raises(TemporarySendError):
            await sms.find_sent(to=PATIENT, body=BODY, since=datetime.now(UTC))
        await sms.aclose()


@pytest.mark.asyncio
async def test_the_settings_choose_the_channel_and_name_what_is_missing():
    assert sms_channel(sms_settings("http://127.0.0.1:1", provider="none")) is None
    channel = sms_channel(sms_settings("http://127.0.0.1:1"))
    assert isinstance(channel, TwilioSms)
    await channel.aclose()
    with pytest.raises(ConfigError, match="ELO_SMS__ACCOUNT_SID"):
        sms_channel(sms_settings("http://127.0.0.1:1", account_sid=""))
    with pytest.raises(ConfigError, match="ELO_SMS__FROM_NUMBER"):
        sms_channel(sms_settings("http://127.0.0.1:1", from_number=""))
    with pytest.raises(ConfigError, match="ELO_SMS__PROVIDER"):
        TwilioSms(sms_settings("http://127.0.0.1:1", provider="none"))
