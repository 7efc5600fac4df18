"""What the service sends its workers survives the trip: settings (with the keys) and calls."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pydantic import SecretStr

from campaign.calls import CallEnd, CallJob
from config.settings import AppSettings, load_settings
from service import worker_protocol as protocol
from storage import NewContact, Store
from storage.models import CallOutcome


def test_settings_arrive_whole_with_their_secrets(tmp_path: Path) -> None:
    settings = load_settings(
        env_file=None,
        database={"path": tmp_path / "elo.db"},
        google={"api_key": "g-key", "base_url": "https://127.0.0.1:9443"},
        livekit={"url": "wss://lk.example", "api_key": "k", "api_secret": "s" * 40},
        server={"workers": 3, "drain_secs": 12.5},
    )
    line = protocol.encode({"settings": protocol.settings_message(settings)})
    again = protocol.settings_from(protocol.decode(line)["settings"])
    assert isinstance(again, AppSettings)
    assert again.google.api_key == SecretStr("g-key")
    assert again.livekit.api_secret.get_secret_value() == "s" * 40
    assert again.model_dump() == settings.model_dump()


@pytest.mark.asyncio
async def test_a_call_and_its_end_arrive_as_they_were_sent(store: Store) -> None:
    campaign = await store.campaigns.create(name="Recall", purpose="recall", notes="čë")
    await store.campaigns.add_contacts(
        campaign_id=campaign.id, contacts=[NewContact(phone="+355691234567", name="Arta Hoxha")]
    )
    (contact,) = await store.campaigns.contacts(campaign_id=campaign.id)
    claim = await store.queue.claim_contact(
        contact_id=contact.id,
        room="elo-room",
        call_id="c1",
        campaign_cap=2,
        global_cap=10,
        max_attempts=4,
        policy=lambda history, now: None,
        history_since=datetime(2026, 1, 1, tzinfo=ZoneInfo("Europe/Tirane")) - timedelta(days=1),
    )
    assert claim.attempt is not None
    job = CallJob(
        campaign=campaign,
        contact=contact,
        attempt=claim.attempt,
        call_id="c1",
        room="elo-room",
        participant_identity="patient-1",
        dialer=object(),  # type: ignore[arg-type]
    )
    line = protocol.encode({"job": protocol.job_message(job)})
    dialer = object()
    again = protocol.job_from(protocol.decode(line)["job"], dialer)
    assert again == CallJob(**{**job.__dict__, "dialer": dialer})

    end = CallEnd(outcome=CallOutcome.BOOKED, reason=None, duration_s=61)
    sent = protocol.encode(protocol.end_message("c1", end))
    assert protocol.end_from(protocol.decode(sent)) == end


def test_something_that_is_no_message_is_refused() -> None:
    with pytest.raises(ValueError):
        protocol.decode(b"[1, 2]\n")
    with pytest.raises(TypeError, match="cannot send a object"):
        protocol.encode({"x": object()})
