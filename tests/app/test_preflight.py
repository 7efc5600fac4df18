"""The one configuration preflight, as bot.py and `elo campaign run` use it."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.preflight import Purpose, missing_settings
from config.settings import AppSettings, load_settings

LIVEKIT = {"url": "wss://example.livekit.cloud", "api_key": "APIkey", "api_secret": "s" * 32}
LIVEKIT_NAMES = ["ELO_LIVEKIT__URL", "ELO_LIVEKIT__API_KEY", "ELO_LIVEKIT__API_SECRET"]


def make(tmp_path: Path, **groups: object) -> AppSettings:
    return load_settings(env_file=None, database={"path": tmp_path / "e.db"}, **groups)


def test_a_file_call_needs_only_the_model_key(tmp_path: Path) -> None:
    settings = make(tmp_path, pipeline={"transport": "file"})
    assert missing_settings(settings, purpose=Purpose.CALL) == ["ELO_GOOGLE__API_KEY"]
    keyed = make(tmp_path, pipeline={"transport": "file"}, google={"api_key": "k"})
    assert missing_settings(keyed, purpose=Purpose.CALL) == []


def test_a_livekit_call_needs_livekit_too(tmp_path: Path) -> None:
    settings = make(tmp_path, pipeline={"transport": "livekit"}, google={"api_key": "k"})
    assert missing_settings(settings, purpose=Purpose.CALL) == LIVEKIT_NAMES
    ready = make(
        tmp_path, pipeline={"transport": "livekit"}, google={"api_key": "k"}, livekit=LIVEKIT
    )
    assert missing_settings(ready, purpose=Purpose.CALL) == []


@pytest.mark.parametrize("purpose", list(Purpose))
def test_an_own_model_endpoint_needs_no_google_key(tmp_path: Path, purpose: Purpose) -> None:
    settings = make(
        tmp_path,
        pipeline={"transport": "file"},
        google={"base_url": "https://127.0.0.1:9/"},
        livekit={**LIVEKIT, "sip_trunk_id": "ST_x"},
    )
    assert "ELO_GOOGLE__API_KEY" not in missing_settings(settings, purpose=purpose)


def test_a_campaign_needs_livekit_and_a_trunk_whatever_the_transport(tmp_path: Path) -> None:
    settings = make(tmp_path, pipeline={"transport": "file"})
    assert missing_settings(settings, purpose=Purpose.CAMPAIGN) == [
        *LIVEKIT_NAMES,
        "ELO_LIVEKIT__SIP_TRUNK_ID",
        "ELO_GOOGLE__API_KEY",
    ]


def test_a_campaign_trunk_stands_in_for_the_configured_one(tmp_path: Path) -> None:
    settings = make(tmp_path, google={"api_key": "k"}, livekit=LIVEKIT)
    assert missing_settings(settings, purpose=Purpose.CAMPAIGN) == ["ELO_LIVEKIT__SIP_TRUNK_ID"]
    assert missing_settings(settings, purpose=Purpose.CAMPAIGN, trunk_id="ST_own") == []


def test_the_service_needs_a_chosen_sms_provider_set_up(tmp_path: Path) -> None:
    ready = {"google": {"api_key": "k"}, "livekit": LIVEKIT}
    assert missing_settings(make(tmp_path, **ready), purpose=Purpose.SERVICE) == []
    twilio = make(tmp_path, sms={"provider": "twilio"}, **ready)
    assert missing_settings(twilio, purpose=Purpose.SERVICE) == [
        "ELO_SMS__ACCOUNT_SID",
        "ELO_SMS__AUTH_TOKEN",
        "ELO_SMS__FROM_NUMBER",
    ]
    # A single call sends no messages: the SMS provider is not its business.
    assert "ELO_SMS__ACCOUNT_SID" not in missing_settings(twilio, purpose=Purpose.CALL)


@pytest.mark.parametrize("purpose", list(Purpose))
def test_postgresql_needs_the_hash_key_first(tmp_path: Path, purpose: Purpose) -> None:
    """Every node hashes erased numbers with one key: without it nothing may start."""
    ready = {"google": {"api_key": "k"}, "livekit": {**LIVEKIT, "sip_trunk_id": "ST_x"}}
    url = {"path": tmp_path / "e.db", "url": "postgresql://elo:pw@db.example/elo"}
    settings = load_settings(env_file=None, database=url, pipeline={"transport": "file"}, **ready)
    assert missing_settings(settings, purpose=purpose) == ["ELO_PRIVACY__HASH_KEY"]
    keyed = load_settings(
        env_file=None,
        database=url,
        pipeline={"transport": "file"},
        privacy={"hash_key": "a-key"},
        **ready,
    )
    assert missing_settings(keyed, purpose=purpose) == []
    # SQLite keeps a key file next to the database: no setting needed.
    local = make(tmp_path, pipeline={"transport": "file"}, **ready)
    assert missing_settings(local, purpose=purpose) == []
