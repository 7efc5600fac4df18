"""The label vocabulary: the stored outcomes, SIP statuses reduced to a fixed set, tool names."""

from __future__ import annotations

from typing import get_args

import pytest

from storage.campaign_queue import NOT_DIALLED
from storage.models import AttemptOutcome, CallOutcome
from telemetry.vocabulary import (
    ATTEMPT_OUTCOMES,
    CALL_OUTCOMES,
    OTHER,
    UNKNOWN_TOOL,
    bounded,
    sip_label,
    tool_label,
)
from tools.catalog import default_registry


def test_the_outcome_labels_are_the_stored_outcomes() -> None:
    # telemetry sits below storage and keeps its own copy: this keeps the two equal.
    assert set(CALL_OUTCOMES) == {outcome.value for outcome in CallOutcome}
    assert set(ATTEMPT_OUTCOMES) == set(get_args(AttemptOutcome))


@pytest.mark.parametrize(
    ("status", "label"),
    [
        ("200 OK", "200"),
        ("486 Busy Here", "486"),
        ("603 Decline", "603"),
        ("404", "404"),
        ("503 Service Unavailable", "503"),
        ("482 Loop Detected", "4xx"),  # not named one by one: its class
        ("599 Whatever", "5xx"),
        (None, "none"),  # LiveKit's own ringing timeout
        (NOT_DIALLED, "not_dialled"),
        ("interrupted", "interrupted"),
        ("999 Nonsense", OTHER),
        ("Busy", OTHER),
        ("+355691234567", OTHER),  # never a number, whatever reaches it
        ("", OTHER),
    ],
)
def test_a_sip_status_becomes_a_code_a_class_or_a_fixed_word(status: str | None, label: str):
    assert sip_label(status) == label


def test_every_registry_tool_name_is_its_own_label() -> None:
    names = default_registry().names
    assert names and all(tool_label(name) == name for name in names)


@pytest.mark.parametrize(
    "name", ["Arbër Çela", "+355691234567", "x" * 49, "", "DROP TABLE", "book appointment"]
)
def test_anything_else_is_no_tool_label(name: str) -> None:
    assert tool_label(name) == UNKNOWN_TOOL


def test_a_value_outside_the_set_is_other() -> None:
    assert bounded("booked", CALL_OUTCOMES) == "booked"
    assert bounded("Arbër Çela", CALL_OUTCOMES) == OTHER
