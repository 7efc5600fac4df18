"""The Twilio fake's own rules, over raw HTTP (no Elo adapter): what it refuses, how it answers,
the pages it links and the webhooks it signs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl

import httpx
import pytest
from aiohttp import web

from devtools.twilio_rules import sign
from messaging.twilio_signature import is_valid
from tests.messaging.twilio_account import (
    ACCOUNT_SID,
    API_KEY_SECRET,
    API_KEY_SID,
    AUTH_TOKEN,
    CLINIC,
    PATIENT,
    SERVICE_SID,
    fake_account,
)

PATH = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
ERROR_KEYS = {"code", "message", "more_info", "status"}


def _client(base: str, user: str = ACCOUNT_SID, password: str = AUTH_TOKEN) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=base, auth=(user, password))


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("user", "password", "path"),
    [
        (ACCOUNT_SID, "wrong", PATH),
        (API_KEY_SID, AUTH_TOKEN, PATH),  # a key with the account's token, not its own secret
        ("AC" + "f" * 32, AUTH_TOKEN, PATH),
        (ACCOUNT_SID, AUTH_TOKEN, PATH.replace(ACCOUNT_SID, "AC" + "e" * 32)),  # another account
    ],
)
async def test_bad_credentials_get_twilios_401(user, password, path):
    async with fake_account() as twilio, _client(twilio.url, user, password) as client:
        answer = await client.post(path, data={"To": PATIENT, "From": CLINIC, "Body": "x"})
        async with httpx.AsyncClient() as anonymous:
            unauthenticated = await anonymous.post(twilio.url + PATH, data={"To": PATIENT})
    assert answer.status_code == 401 and unauthenticated.status_code == 401
    assert answer.json() == {
        "code": 20003,
        "message": "Authenticate",
        "more_info": "https://www.twilio.com/docs/errors/20003",
        "status": 401,
    }
    assert twilio.messages == []


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("form", "code"),
    [
        ({"From": CLINIC, "Body": "x"}, 21604),
        ({"To": "355691234567", "From": CLINIC, "Body": "x"}, 21211),
        ({"To": "+355 69 123 4567", "From": CLINIC, "Body": "x"}, 21211),
        ({"To": PATIENT, "Body": "x"}, 21603),
        ({"To": PATIENT, "From": "+35542000000", "Body": "x"}, 21606),
        ({"To": PATIENT, "MessagingServiceSid": "MG" + "9" * 32, "Body": "x"}, 21701),
        ({"To": PATIENT, "From": CLINIC}, 21602),
        ({"To": PATIENT, "From": CLINIC, "Body": "é" * 1601}, 21617),
        ({"To": PATIENT, "From": CLINIC, "Body": "x", "StatusCallback": "ftp://x"}, 21609),
        ({"To": "+12025550123", "From": CLINIC, "Body": "x"}, 21408),
    ],
)
async def test_refused_fields_get_twilios_error_codes(form, code):
    async with fake_account() as twilio, _client(twilio.url) as client:
        answer = await client.post(PATH, data=form)
    assert answer.status_code == 400
    assert set(answer.json()) == ERROR_KEYS and answer.json()["code"] == code
    assert twilio.messages == []


@pytest.mark.asyncio
async def test_an_api_key_and_a_messaging_service_are_accepted():
    async with fake_account() as twilio, _client(twilio.url, API_KEY_SID, API_KEY_SECRET) as c:
        answer = await c.post(
            PATH, data={"To": PATIENT, "MessagingServiceSid": SERVICE_SID, "Body": "x" * 1600}
        )
    assert answer.status_code == 201
    message = answer.json()
    assert message["status"] == "accepted" and message["from"] is None
    assert message["messaging_service_sid"] == SERVICE_SID
    assert message["sid"].startswith("SM") and len(message["sid"]) == 34
    assert message["date_sent"] is None and message["direction"] == "outbound-api"


async def _empty_twiml(_request: web.Request) -> web.Response:
    return web.Response(text="<Response/>")


@pytest.mark.asyncio
async def test_a_patient_who_texts_stop_is_refused_with_21610_until_start():
    async with fake_account(inbound_url="") as twilio, _client(twilio.url) as client:
        app = web.Application()
        app.router.add_post("/in", _empty_twiml)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        twilio.inbound_url = f"http://127.0.0.1:{runner.addresses[0][1]}/in"
        form = {"To": PATIENT, "From": CLINIC, "Body": "x"}
        await twilio.patient_sends(from_=PATIENT, body=" stop ")
        refused = await client.post(PATH, data=form)
        await twilio.patient_sends(from_=PATIENT, body="Stop please")  # not a keyword alone
        await twilio.patient_sends(from_=PATIENT, body="start")
        accepted = await client.post(PATH, data=form)
        await runner.cleanup()
    assert (refused.status_code, refused.json()["code"]) == (400, 21610)
    assert accepted.status_code == 201
    # Without Advanced Opt-Out the webhook carries no OptOutType.
    assert all("OptOutType" not in d.params for d in twilio.deliveries)


@pytest.mark.asyncio
async def test_faults_are_injected_once_each():
    async with fake_account() as twilio, _client(twilio.url) as client:
        twilio.fail_next(429)
        twilio.fail_next(500)
        form = {"To": PATIENT, "From": CLINIC, "Body": "x"}
        answers = [await client.post(PATH, data=form) for _ in range(3)]
    assert [a.status_code for a in answers] == [429, 500, 201]
    assert [a.json().get("code") for a in answers[:2]] == [20429, 20500]


@pytest.mark.asyncio
async def test_the_list_filters_by_number_and_send_date_and_links_its_pages():
    clock = {"now": datetime(2026, 12, 1, 9, 0, tzinfo=UTC)}
    async with fake_account(clock=lambda: clock["now"]) as twilio, _client(twilio.url) as client:
        for n in range(5):
            clock["now"] += timedelta(days=1)
            await client.post(PATH, data={"To": PATIENT, "From": CLINIC, "Body": f"m{n}"})
            await twilio.flush()
        await client.post(PATH, data={"To": "+355692345678", "From": CLINIC, "Body": "other"})
        await twilio.flush()
        query = {"To": PATIENT, "DateSent>": "2026-12-04", "PageSize": "2"}
        first = (await client.get(PATH, params=query)).json()
        second = (await client.get(first["next_page_uri"])).json()
        forged_page = await client.get(PATH, params={**query, "Page": "1", "PageToken": "PAx"})
    assert [m["body"] for m in first["messages"]] == ["m4", "m3"]  # newest first
    assert [m["body"] for m in second["messages"]] == ["m2"]
    assert second["next_page_uri"] is None and first["previous_page_uri"] is None
    assert dict(parse_qsl(first["next_page_uri"].split("?")[1]))["DateSent>"] == "2026-12-04"
    assert first["messages"][0]["date_sent"] == "Sun, 06 Dec 2026 09:00:00 +0000"
    assert forged_page.status_code == 404


@pytest.mark.asyncio
async def test_webhooks_are_signed_as_twilio_signs_and_forgeries_are_not():
    received: list[tuple[str, dict[str, str], str]] = []

    async def hook(request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        received.append((str(request.url), form, request.headers.get("X-Twilio-Signature", "")))
        return web.Response(text="<Response/>")

    app = web.Application()
    app.router.add_post("/{kind}", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    async with fake_account(advanced_opt_out=True, inbound_url=base + "/in") as twilio:
        async with _client(twilio.url) as client:
            form = {"To": PATIENT, "From": CLINIC, "Body": "x", "StatusCallback": base + "/st"}
            await client.post(PATH, data=form)
        await twilio.flush()
        await twilio.patient_sends(from_=PATIENT, body="Po")
        await twilio.patient_sends(from_=PATIENT, body="HELP")
        for forgery in ("unsigned", "wrong_token", "altered"):
            await twilio.patient_sends(from_=PATIENT, body="Po", forgery=forgery)
    await runner.cleanup()
    genuine, forged = received[:4], received[4:]
    assert [form.get("MessageStatus") for _, form, _ in genuine[:2]] == ["sent", "delivered"]
    assert genuine[3][1]["OptOutType"] == "HELP" and "OptOutType" not in genuine[2][1]
    for url, form, signature in genuine:
        assert is_valid(AUTH_TOKEN, url, form, signature)
        assert signature == sign(AUTH_TOKEN, url, form.items())
    assert len(forged) == 3
    assert not any(is_valid(AUTH_TOKEN, url, form, sig) for url, form, sig in forged)
