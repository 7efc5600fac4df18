"""The outcome rules of a call and of the campaign attempt it serves (pipeline.call.outcome)."""

from __future__ import annotations

import pytest

from pipeline.call.outcome import (
    OutcomeLatch,
    attempt_outcome,
    end_call_outcome,
    recovered_outcome,
)
from storage.models import CallOutcome


@pytest.mark.parametrize(
    ("reason", "outcome"),
    [
        ("declined", "declined"),
        ("opted_out", "opted_out"),
        ("voicemail", "voicemail"),
        ("wrong_person", "wrong_person"),
        ("call_back_later", "follow_up"),
        ("completed", "completed"),
        ("other", "completed"),
    ],
)
def test_end_call_reasons(reason, outcome):
    assert end_call_outcome(reason) == outcome


def test_the_first_cause_wins_and_no_cause_is_completed():
    latch = OutcomeLatch()
    assert latch.final(answered=True, bookings=0) == ("completed", None)
    latch.set(CallOutcome.HUNG_UP, "the patient hung up")
    latch.set(CallOutcome.FAILED, "pipeline error")
    assert latch.final(answered=True, bookings=0) == ("hung_up", "the patient hung up")


@pytest.mark.parametrize(
    ("cause", "bookings", "outcome"),
    [
        (CallOutcome.COMPLETED, 1, "booked"),
        (CallOutcome.HUNG_UP, 2, "booked"),
        (CallOutcome.FAILED, 1, "failed"),
        (CallOutcome.OPTED_OUT, 1, "opted_out"),
        (CallOutcome.DECLINED, 0, "declined"),
    ],
)
def test_a_booking_makes_a_call_booked_unless_it_failed_or_opted_out(cause, bookings, outcome):
    latch = OutcomeLatch()
    latch.set(cause, "why")
    assert latch.final(answered=True, bookings=bookings) == (outcome, "why")


def test_a_dial_nobody_answered_is_not_answered():
    latch = OutcomeLatch()
    latch.set(CallOutcome.CANCELLED, "not answered (486)")
    assert latch.final(answered=False, bookings=0) == ("not_answered", "not answered (486)")


@pytest.mark.parametrize(
    ("call", "callback", "opted_out", "attempt"),
    [
        ("booked", False, True, "opted_out"),
        ("opted_out", False, False, "opted_out"),
        ("booked", True, False, "booked"),
        ("transferred", False, False, "transferred"),
        ("voicemail", True, False, "voicemail"),
        ("completed", True, False, "follow_up"),
        ("follow_up", False, False, "follow_up"),
        ("declined", False, False, "declined"),
        ("completed", False, False, "declined"),
        ("hung_up", False, False, "declined"),
        ("no_response", False, False, "no_answer"),
        ("failed", False, False, "failed"),
        ("cancelled", False, False, "failed"),
        ("wrong_person", False, False, "failed"),
    ],
)
def test_call_outcome_to_attempt_outcome(call, callback, opted_out, attempt):
    outcome = attempt_outcome(CallOutcome(call), callback=callback, opted_out=opted_out)
    assert outcome == attempt


def test_a_call_a_stopped_runner_left_keeps_its_own_outcome_or_counts_its_bookings():
    assert recovered_outcome("declined", booked=1) == "declined"
    assert recovered_outcome(None, booked=1) == "booked"
    assert recovered_outcome(None, booked=0) == "failed"


@pytest.mark.parametrize(
    ("call", "callback", "opted_out", "attempt"),
    [
        ("completed", False, False, "booked"),  # confirmed or moved: the appointment stands
        ("hung_up", False, False, "booked"),
        ("declined", False, False, "booked"),
        ("completed", True, False, "follow_up"),  # a callback asked for still wins
        ("opted_out", False, False, "opted_out"),
        ("completed", False, True, "opted_out"),
        ("voicemail", False, False, "voicemail"),
        ("failed", False, False, "failed"),
        ("no_response", False, False, "no_answer"),
    ],
)
def test_a_call_that_kept_an_appointment_is_no_refusal(call, callback, opted_out, attempt):
    outcome = attempt_outcome(CallOutcome(call), callback=callback, opted_out=opted_out, kept=True)
    assert outcome == attempt
