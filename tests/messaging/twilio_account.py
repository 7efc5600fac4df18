"""One made-up Twilio account shared by the SMS tests: the fake's and Elo's settings of it."""

from __future__ import annotations

from typing import Any

from config.settings_sms import SmsSettings
from devtools.twilio_fake import FakeTwilio

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "a-test-auth-token-0123456789abcdef"
API_KEY_SID = "SK" + "fedcba9876543210" * 2
API_KEY_SECRET = "an-api-key-secret"
SERVICE_SID = "MG" + "00112233445566778899aabbccddeeff"
CLINIC = "+35542223344"
PATIENT = "+355691234567"


def fake_account(**options: Any) -> FakeTwilio:
    """The fake with the account's number, API key and Messaging Service."""
    return FakeTwilio(
        ACCOUNT_SID,
        AUTH_TOKEN,
        numbers=(CLINIC,),
        api_keys={API_KEY_SID: API_KEY_SECRET},
        messaging_services=(SERVICE_SID,),
        **options,
    )


def sms_settings(api_base_url: str, **overrides: Any) -> SmsSettings:
    """Elo's ``ELO_SMS__*`` for the account, pointed at the fake."""
    values: dict[str, Any] = {
        "provider": "twilio",
        "account_sid": ACCOUNT_SID,
        "auth_token": AUTH_TOKEN,
        "from_number": CLINIC,
        "api_base_url": api_base_url,
        "timeout_secs": 5,
    }
    return SmsSettings(**{**values, **overrides})
