"""ELO_INBOUND__*: inbound rooms never overlap Elo's own, the forward number is E.164."""

from __future__ import annotations

import pytest

from config.settings import ConfigError, load_settings


def test_defaults_answer_every_inbound_call_in_call_rooms() -> None:
    inbound = load_settings(env_file=None).inbound
    assert (inbound.room_prefix, inbound.forward_to, inbound.recent_call_days) == ("call-", "", 30)


def test_the_forward_number_is_stored_in_e164(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ELO_INBOUND__FORWARD_TO", "+355 4 222 3344")
    assert load_settings(env_file=None).inbound.forward_to == "+35542223344"


@pytest.mark.parametrize(
    ("variable", "value", "problem"),
    [
        ("ELO_INBOUND__ROOM_PREFIX", "elo-in", "must not overlap Elo's own rooms"),
        ("ELO_INBOUND__ROOM_PREFIX", "el", "must not overlap Elo's own rooms"),
        ("ELO_INBOUND__ROOM_PREFIX", "call room", "should match pattern"),
        ("ELO_INBOUND__FORWARD_TO", "the clinic", "must be a phone number in E.164 form"),
        ("ELO_INBOUND__FORWARD_TO", "+355 12", "must be a phone number in E.164 form"),
        ("ELO_INBOUND__RECENT_CALL_DAYS", "0", "greater than or equal to 1"),
    ],
)
def test_bad_inbound_settings_are_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, problem: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as caught:
        load_settings(env_file=None)
    message = str(caught.value)
    assert f"{variable}: " in message and problem in message
    assert "\n" not in message
