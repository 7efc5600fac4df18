"""Recording in one process (outside `elo serve`): what each event adds to the scrape."""

from __future__ import annotations

import pytest

from telemetry import ErrorKind, Reconnect, ToolResultKind, record
from tests.telemetry.scrape import Scrape


def test_an_ended_call_counts_its_outcome_length_bookings_and_revenue() -> None:
    before = Scrape.in_process()
    record.call_ended(
        "outbound", "booked", answered=True, duration_s=42.0, bookings=2, revenue_lek=4500
    )
    record.call_ended(
        "inbound", "hung_up", answered=True, duration_s=5.0, bookings=0, revenue_lek=0
    )
    record.call_refused("outbound")
    after = Scrape.in_process()

    def grew(name: str, **labels: str) -> float:
        return after.value(name, **labels) - before.value(name, **labels)

    assert grew("elo_calls_total", direction="outbound", outcome="booked") == 1
    assert grew("elo_calls_total", direction="inbound", outcome="hung_up") == 1
    assert grew("elo_calls_total", direction="outbound", outcome="refused") == 1
    assert grew("elo_bookings_total", direction="outbound") == 2
    assert grew("elo_revenue_booked_lek_total", direction="outbound") == 4500
    assert grew("elo_bookings_total", direction="inbound") == 0
    duration = {"direction": "outbound", "answered": "true"}
    assert grew("elo_call_duration_seconds_count", **duration) == 1
    assert grew("elo_call_duration_seconds_sum", **duration) == 42.0
    assert grew("elo_call_duration_seconds_bucket", le="30.0", **duration) == 0
    assert grew("elo_call_duration_seconds_bucket", le="60.0", **duration) == 1


def test_values_outside_the_vocabulary_become_other_never_a_new_label() -> None:
    before = Scrape.in_process()
    record.call_ended(
        "sideways", "Arbër Çela", answered=False, duration_s=1.0, bookings=0, revenue_lek=0
    )
    record.tool_called("Arbër Çela", ToolResultKind.OK, 0.01)
    record.dial_attempt("+355691234567", "+355691234567", fault=False)
    after = Scrape.in_process()
    assert after.value("elo_calls_total", direction="other", outcome="other") == (
        before.value("elo_calls_total", direction="other", outcome="other") + 1
    )
    assert after.value("elo_tool_calls_total", tool="unknown", result="ok") >= 1
    labels = {"outcome": "other", "sip_status": "other", "fault": "false"}
    assert after.value("elo_dial_attempts_total", **labels) >= 1
    assert not any("Arbër" in v or "355" in v for v in after.label_values())


def test_the_fixed_series_are_there_from_the_start() -> None:
    scrape = Scrape.in_process()
    for kind in ErrorKind:
        assert ("elo_errors_total", (("kind", kind.value),)) in scrape.samples
    for reason in Reconnect:
        assert ("elo_gemini_reconnects_total", (("reason", reason.value),)) in scrape.samples
    assert ("elo_active_calls", (("direction", "inbound"),)) in scrape.samples
    # The serving process's own process metrics.
    assert scrape.value("process_resident_memory_bytes") > 0


def test_an_active_call_counts_while_it_runs_even_when_it_raises() -> None:
    def active() -> float:
        return Scrape.in_process().value("elo_active_calls", direction="inbound")

    start = active()
    with pytest.raises(RuntimeError), record.active_call("inbound"):
        assert active() == start + 1
        raise RuntimeError("the call broke")
    assert active() == start
