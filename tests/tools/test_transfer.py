"""transfer_to_human: the configured target only, and a callback for staff whenever it fails."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from config.settings import AppSettings, load_settings
from pipeline.telephony import NO_TELEPHONY
from storage import Store
from tools.call_port import TransferOutcome
from tools.context import ToolContext
from tools.registry import ToolRegistry
from tools.transfer import UNKNOWN_NAME

ARTA = "+355691234567"
CLINIC_TARGET = "tel:+35542223344"  # the sample clinic's phone, as config/clinic.toml has it
CALL_ID = "call-9"
NOW = "2026-12-01T07:00:00Z"  # the fixed clock, 08:00 in Tirana

Rows = list[dict[str, Any]]


class FakeControl:
    """The call-control interface a tool sees; transfers end as ``outcome`` says.

    ``outcome=None`` behaves like a call without telephony (a file or browser call).
    """

    def __init__(
        self, outcome: TransferOutcome | None = None, *, callee_name: str | None = None
    ) -> None:
        self.outcome = outcome or TransferOutcome(ok=False, reason=NO_TELEPHONY)
        self.callee_name = callee_name
        self.transfers: list[str] = []
        self.ended: list[str] = []

    async def end_call(self, *, reason: str) -> None:
        self.ended.append(reason)

    async def transfer(self, *, to: str) -> TransferOutcome:
        self.transfers.append(to)
        return self.outcome

    async def voicemail_reached(self, *, leave_message: bool) -> None:
        raise AssertionError("not expected in a transfer")


FAILED = TransferOutcome(ok=False, reason="busy (SIP 486)")


@pytest.fixture
def call(make_context: Callable[..., ToolContext]) -> Callable[..., ToolContext]:
    """A tool context inside a call bound to Arta's number."""

    def make(control: FakeControl, **overrides: Any) -> ToolContext:
        params: dict[str, Any] = {"phone": ARTA, "call_id": CALL_ID, "call_control": control}
        params.update(overrides)
        return make_context(**params)

    return make


def _follow_ups(rows: Callable[..., Rows]) -> Rows:
    return rows(
        "SELECT f.due_at, f.status, f.reason, f.source, f.call_id, p.phone, p.name"
        " FROM follow_ups f JOIN patients p ON p.id = f.patient_id"
    )


@pytest.mark.asyncio
async def test_a_successful_transfer_goes_to_the_clinic_phone_and_silences_elo(
    registry: ToolRegistry, call: Callable[..., ToolContext], rows: Callable[..., Rows]
) -> None:
    control = FakeControl(TransferOutcome(ok=True))
    result = await registry.call(
        "transfer_to_human", {"reason": "question about an invoice"}, call(control)
    )
    assert result["status"] == "transferred"
    assert "say nothing more" in result["hint"].lower()
    assert control.transfers == [CLINIC_TARGET]
    assert _follow_ups(rows) == []


@pytest.mark.asyncio
async def test_the_configured_target_wins_over_the_clinic_phone(
    registry: ToolRegistry,
    call: Callable[..., ToolContext],
    tmp_path: Path,
    db_path: Path,
) -> None:
    settings: AppSettings = load_settings(
        env_file=None,
        database={"path": db_path},
        logging={"file": tmp_path / "logs" / "elo.jsonl"},
        calling={"transfer_to": "sip:reception@clinic.example"},
    )
    control = FakeControl(TransferOutcome(ok=True))
    await registry.call("transfer_to_human", {"reason": "x"}, call(control, settings=settings))
    assert control.transfers == ["sip:reception@clinic.example"]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "arguments",
    [
        {"reason": "x", "to": "+355682223344"},
        {"reason": "x", "phone_number": "+355682223344"},
        {},
        {"reason": "   "},
        {"reason": "x" * 201},
    ],
)
async def test_bad_arguments_transfer_nothing(
    registry: ToolRegistry,
    call: Callable[..., ToolContext],
    rows: Callable[..., Rows],
    arguments: dict[str, Any],
) -> None:
    control = FakeControl(TransferOutcome(ok=True))
    result = await registry.call("transfer_to_human", arguments, call(control))
    assert "error" in result and "hint" in result
    assert control.transfers == []
    assert "+355682223344" not in str(result)
    assert _follow_ups(rows) == []


@pytest.mark.asyncio
async def test_a_failed_transfer_leaves_a_callback_due_now_and_tells_the_model_what_to_say(
    registry: ToolRegistry,
    call: Callable[..., ToolContext],
    store: Store,
    rows: Callable[..., Rows],
) -> None:
    await store.patients.upsert(phone=ARTA, name="Arta Hoxha")
    result = await registry.call(
        "transfer_to_human",
        {"reason": "question about an invoice"},
        call(FakeControl(FAILED, callee_name="Someone Else")),
    )
    assert result["status"] == "transfer_failed"
    assert result["follow_up"] == "created"
    assert "call them back" in result["hint"] and "end_call" in result["hint"]
    [follow_up] = _follow_ups(rows)
    assert follow_up["reason"].startswith("Transferimi te stafi dështoi")  # the call is in sq
    assert "busy (SIP 486)" in follow_up["reason"]
    assert "question about an invoice" in follow_up["reason"]
    # Due at once, for this call's number, and the known patient keeps their name.
    assert (follow_up["due_at"], follow_up["status"], follow_up["source"]) == (
        NOW,
        "pending",
        "agent",
    )
    assert (follow_up["call_id"], follow_up["phone"], follow_up["name"]) == (
        CALL_ID,
        ARTA,
        "Arta Hoxha",
    )
    assert result["follow_up_id"] == rows("SELECT id FROM follow_ups")[0]["id"]


@pytest.mark.asyncio
async def test_without_telephony_the_patient_gets_a_callback(
    registry: ToolRegistry, call: Callable[..., ToolContext], rows: Callable[..., Rows]
) -> None:
    control = FakeControl(callee_name="Arbër Çela")
    result = await registry.call(
        "transfer_to_human",
        {"reason": "wants to talk to the dentist"},
        call(control, language="en"),
    )
    assert result["status"] == "transfer_failed"
    [follow_up] = _follow_ups(rows)
    assert NO_TELEPHONY in follow_up["reason"]
    assert follow_up["reason"].startswith("Transfer to staff failed")
    # Nobody on file had this number: the patient is recorded under the call's bound name.
    assert (follow_up["phone"], follow_up["name"], follow_up["call_id"]) == (
        ARTA,
        "Arbër Çela",
        CALL_ID,
    )


@pytest.mark.asyncio
async def test_a_failed_transfer_in_an_italian_call_leaves_an_italian_note(
    registry: ToolRegistry, call: Callable[..., ToolContext], rows: Callable[..., Rows]
) -> None:
    control = FakeControl(callee_name="Arbër Çela")
    result = await registry.call(
        "transfer_to_human", {"reason": "domanda su una fattura"}, call(control, language="it")
    )
    assert result["status"] == "transfer_failed"
    [follow_up] = _follow_ups(rows)
    assert follow_up["reason"].startswith("Trasferimento al personale non riuscito")
    assert "Il paziente ha chiesto: domanda su una fattura" in follow_up["reason"]
    # The new patient is on file as Italian: staff call back in Italian.
    assert rows("SELECT language FROM patients WHERE phone = ?", (ARTA,))[0]["language"] == "it"


@pytest.mark.asyncio
async def test_an_unknown_callee_without_a_name_is_recorded_as_unknown(
    registry: ToolRegistry, call: Callable[..., ToolContext], rows: Callable[..., Rows]
) -> None:
    await registry.call("transfer_to_human", {"reason": "x"}, call(FakeControl(FAILED)))
    [follow_up] = _follow_ups(rows)
    assert (follow_up["phone"], follow_up["name"]) == (ARTA, UNKNOWN_NAME)


@pytest.mark.asyncio
async def test_a_second_failed_transfer_in_the_call_adds_no_second_callback(
    registry: ToolRegistry, call: Callable[..., ToolContext], rows: Callable[..., Rows]
) -> None:
    ctx = call(FakeControl(FAILED))
    first = await registry.call("transfer_to_human", {"reason": "x"}, ctx)
    second = await registry.call("transfer_to_human", {"reason": "y"}, ctx)
    assert first["follow_up_id"] == second["follow_up_id"]
    assert len(_follow_ups(rows)) == 1


@pytest.mark.asyncio
async def test_a_call_without_a_bound_number_asks_for_the_details_instead(
    registry: ToolRegistry, call: Callable[..., ToolContext], rows: Callable[..., Rows]
) -> None:
    result = await registry.call(
        "transfer_to_human", {"reason": "x"}, call(FakeControl(FAILED), phone=None)
    )
    assert result["status"] == "transfer_failed" and result["follow_up"] == "not_created"
    assert "schedule_follow_up" in result["hint"]
    assert _follow_ups(rows) == []


@pytest.mark.asyncio
async def test_outside_a_call_it_is_an_error(
    registry: ToolRegistry, ctx: ToolContext, rows: Callable[..., Rows]
) -> None:
    result = await registry.call("transfer_to_human", {"reason": "x"}, ctx)
    assert "error" in result and "hint" in result
    assert _follow_ups(rows) == []


@pytest.mark.asyncio
async def test_a_failed_transfer_leaves_no_callback_for_a_do_not_call_number(
    registry: ToolRegistry,
    call: Callable[..., ToolContext],
    rows: Callable[..., Rows],
    store: Store,
) -> None:
    # A patient on the list who called the clinic (an inbound call): never called back.
    await store.dnc.add(phone=ARTA, reason="asked", source="agent")
    control = FakeControl(FAILED)
    result = await registry.call("transfer_to_human", {"reason": "a bill"}, call(control))
    assert (result["status"], result["follow_up"]) == ("transfer_failed", "not_created")
    assert "+35542223344" in result["hint"]
    assert _follow_ups(rows) == []
    assert await store.dnc.is_listed(phone=ARTA)
