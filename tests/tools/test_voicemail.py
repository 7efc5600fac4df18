"""voicemail_detected: a neutral message in the call's language, or an immediate hang-up."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from config.settings import AppSettings, load_settings
from storage import Store
from tools.call_port import TransferOutcome
from tools.context import ToolContext
from tools.registry import ToolRegistry

ARTA = "+355691234567"
NAME = "Arbër Çela"
REASON = "kontrolli gjashtëmujor pas mjekimit të kanalit"
EVIDENCE = {"evidence": "greeting says leave a message after the beep"}


class FakeControl:
    """The call-control interface, recording what the voicemail tool asked of the call."""

    def __init__(self) -> None:
        self.callee_name = NAME
        self.voicemail: list[bool] = []

    async def end_call(self, *, reason: str) -> None:
        raise AssertionError("the tool itself never ends the call through end_call")

    async def transfer(self, *, to: str) -> TransferOutcome:
        raise AssertionError("not expected")

    async def voicemail_reached(self, *, leave_message: bool) -> None:
        self.voicemail.append(leave_message)


def _settings(tmp_path: Path, db_path: Path, **calling: Any) -> AppSettings:
    return load_settings(
        env_file=None,
        database={"path": db_path},
        logging={"file": tmp_path / "logs" / "elo.jsonl"},
        calling=calling,
    )


@pytest_asyncio.fixture
async def known_patient(store: Store) -> None:
    # The patient and why they are called exist, so a leak would have something to leak.
    await store.patients.upsert(phone=ARTA, name=NAME)


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("sq", "Ju lutemi na telefononi në 04 222 3344"),
        ("en", "Please call us back at 04 222 3344"),
        ("it", "La preghiamo di richiamarci al numero 04 222 3344"),
        ("it-IT", "La preghiamo di richiamarci al numero 04 222 3344"),
    ],
)
async def test_the_message_names_only_the_clinic_in_the_call_language(
    registry: ToolRegistry,
    make_context: Callable[..., ToolContext],
    known_patient: None,
    language: str,
    expected: str,
) -> None:
    control = FakeControl()
    ctx = make_context(phone=ARTA, call_id="c1", call_control=control, language=language)
    result = await registry.call("voicemail_detected", EVIDENCE, ctx)

    assert result["status"] == "leave_message"
    message = result["message"]
    assert expected in message and "Klinika Dentare Buzëqeshja" in message
    # Health data on a shared answering machine: no name, no reason, no patient number.
    for secret in ("Arbër", "Çela", "kontroll", "kanal", ARTA, "691234567", "{"):
        assert secret not in message
    assert "end_call" in result["hint"] and "voicemail" in result["hint"]
    assert control.voicemail == [True]  # the outcome is voicemail, the call goes on


@pytest.mark.asyncio
async def test_hang_up_ends_the_call_without_a_message(
    registry: ToolRegistry,
    make_context: Callable[..., ToolContext],
    tmp_path: Path,
    db_path: Path,
) -> None:
    control = FakeControl()
    ctx = make_context(
        settings=_settings(tmp_path, db_path, voicemail_action="hang_up"),
        phone=ARTA,
        call_control=control,
    )
    result = await registry.call("voicemail_detected", EVIDENCE, ctx)
    assert result["status"] == "hanging_up" and "message" not in result
    assert control.voicemail == [False]


@pytest.mark.asyncio
async def test_a_template_with_other_braces_is_filled_literally(
    registry: ToolRegistry,
    make_context: Callable[..., ToolContext],
    tmp_path: Path,
    db_path: Path,
) -> None:
    settings = _settings(
        tmp_path, db_path, voicemail_message_en="{clinic} ({phone}) {name} {0} {__class__}"
    )
    ctx = make_context(settings=settings, call_control=FakeControl(), language="en")
    result = await registry.call("voicemail_detected", EVIDENCE, ctx)
    assert result["message"] == "Klinika Dentare Buzëqeshja (04 222 3344) {name} {0} {__class__}"


@pytest.mark.asyncio
@pytest.mark.parametrize("arguments", [{}, {"evidence": ""}, {"evidence": "x" * 201}])
async def test_bad_evidence_is_refused_and_nothing_is_recorded(
    registry: ToolRegistry, make_context: Callable[..., ToolContext], arguments: dict[str, Any]
) -> None:
    control = FakeControl()
    result = await registry.call(
        "voicemail_detected", arguments, make_context(call_control=control)
    )
    assert "error" in result and control.voicemail == []


@pytest.mark.asyncio
async def test_outside_a_call_it_is_an_error(registry: ToolRegistry, ctx: ToolContext) -> None:
    result = await registry.call("voicemail_detected", EVIDENCE, ctx)
    assert "error" in result and "hint" in result


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("language", "purpose", "first_sentence"),
    [
        (
            "sq",
            "confirmation",
            "Përshëndetje, ju telefonon asistenti automatik i Klinika Dentare Buzëqeshja, për"
            " takimin tuaj të ardhshëm.",
        ),
        (
            "en",
            "confirmation",
            "Hello, this is the automated assistant of Klinika Dentare Buzëqeshja, about your"
            " upcoming appointment.",
        ),
        (
            "en",
            "unfinished_treatment",
            "Hello, this is the automated assistant of Klinika Dentare Buzëqeshja, to arrange a"
            " visit.",
        ),
        ("en", None, "Hello, this is the automated assistant of Klinika Dentare Buzëqeshja."),
    ],
)
async def test_the_first_sentence_says_who_calls_and_why_without_health_details(
    registry: ToolRegistry,
    make_context: Callable[..., ToolContext],
    known_patient: None,
    language: str,
    purpose: str | None,
    first_sentence: str,
) -> None:
    ctx = make_context(
        phone=ARTA, call_id="c1", call_control=FakeControl(), language=language, purpose=purpose
    )
    message = (await registry.call("voicemail_detected", EVIDENCE, ctx))["message"]
    assert message.startswith(first_sentence + " ")
    # Never the treatment (an unfinished one says nothing of what), the name or the number.
    for secret in ("trajtim", "treatment", "kontroll", "check", "Arbër", "691234567", "{"):
        assert secret not in message
