"""The fault breaker trips on bursts of system faults only."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from campaign.breaker import FaultBreaker
from config.settings_campaign import CampaignSettings

T0 = datetime(2026, 12, 3, 10, 0, tzinfo=ZoneInfo("Europe/Tirane"))


def _breaker() -> FaultBreaker:
    return FaultBreaker(
        CampaignSettings(
            fault_breaker_dials=4, fault_breaker_ratio=0.5, fault_breaker_window_secs=120
        )
    )


def test_trips_once_when_half_of_enough_recent_dials_are_faults() -> None:
    breaker = _breaker()
    assert breaker.record(T0, None) is None
    assert breaker.record(T0, None) is None
    assert breaker.record(T0, "trunk") is None  # 3 dials: fewer than 4
    reason = breaker.record(T0 + timedelta(seconds=10), "trunk")
    assert reason is not None and "2 of the last 4 dials" in reason and "trunk" in reason
    assert breaker.record(T0 + timedelta(seconds=11), "trunk") is None  # trips only once


def test_patient_outcomes_and_old_faults_do_not_trip_it() -> None:
    breaker = _breaker()
    for second in range(3):
        assert breaker.record(T0 + timedelta(seconds=second), "trunk") is None
    later = T0 + timedelta(minutes=5)  # the three faults fell out of the window
    for second in range(3):
        assert breaker.record(later + timedelta(seconds=second), None) is None
    assert breaker.record(later + timedelta(seconds=5), "trunk") is None  # 1 of 4
