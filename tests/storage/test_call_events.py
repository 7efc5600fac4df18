"""A call's plain summary and tool calls, built only from its stored events.

The first three tests run real calls (the pipeline and GeminiLiveLLMService against the local
emulator, tools on the real SQLite file: ``tests/pipeline/harness.py``) and read the summary
back from what the call stored; the rest check single rules on stored events.
"""

from __future__ import annotations

import re
from datetime import datetime

import pytest

from devtools.gemini_emulator import (
    GeminiLiveEmulator,
    input_transcription,
    model_audio,
    output_transcription,
    tool_call,
    turn_complete,
    wait_for_audio,
)
from storage import Store
from storage.call_events import mask_arguments, summary, tool_calls
from storage.models import CallRecord
from storage.records import RecordFilter
from tests.conftest import TIRANE, FixedClock
from tests.pipeline.harness import BOOKING, CALL_ID, NAME, PHONE, goodbye, greeting, run_call
from tests.storage.dashboard_data import make_call

FULL_NUMBER = re.compile(r"\+?[0-9][0-9 ]{8,}[0-9]")


def _said(text: str) -> list:
    return [wait_for_audio(seconds=0.5), input_transcription(text)]


def _reply(text: str) -> list:
    return [model_audio(0.1), output_transcription(text), turn_complete()]


async def _detail(store: Store):
    detail = await store.call_log.detail(call_id=CALL_ID)
    assert detail is not None
    return detail


def _event(detail, item) -> dict:
    """The stored event a summary item points at (it must exist and be a tool result)."""
    record = detail  # the detail's tool calls name the same indexes as the stored events
    assert item.source == "event" and item.event_index is not None
    matching = [t for t in record.tool_calls if t.result_index == item.event_index]
    assert matching, f"no tool result at {item.event_index}"
    return matching[0]


@pytest.mark.asyncio
async def test_summary_of_a_real_booking_call(tmp_path, store, clinic, clock) -> None:
    script = [
        *greeting(),
        *_said("Dua një kontroll nesër në orën dhjetë."),
        tool_call("schedule_appointment", BOOKING, id="book"),
        *_reply("U rezervua."),
        *goodbye("completed"),
    ]
    async with GeminiLiveEmulator(script) as emu:
        await run_call(tmp_path, emu, store, clinic, clock)
        await emu.finished(timeout=5)
    detail = await _detail(store)
    ((appointment, _),) = await store.appointments.find(RecordFilter(call_id=CALL_ID))
    booked, ended = detail.summary
    assert booked.kind == "booked"
    assert booked.params == {
        "service_id": "checkup",
        "service_name": booked.params["service_name"],
        "start": appointment.starts_at.astimezone(TIRANE).isoformat(timespec="minutes"),
        "end": appointment.ends_at.astimezone(TIRANE).isoformat(timespec="minutes"),
        "price_lek": appointment.price_lek,
        "appointment_id": appointment.id,
        "again": False,
    }
    assert _event(detail, booked).name == "schedule_appointment"
    assert (ended.kind, ended.params["by"], ended.params["reason"]) == ("ended", "elo", "completed")
    assert _event(detail, ended).name == "end_call"
    # The tool call's arguments are shown with the name and number masked.
    (booking,) = [t for t in detail.tool_calls if t.name == "schedule_appointment"]
    assert booking.result_kind == "booked"
    assert booking.arguments["patient_name"] == "A. Ç."
    assert booking.arguments["service_type"] == "checkup"
    dump = detail.model_dump_json()
    assert NAME not in dump.replace(detail.transcript[0].text, "")
    assert not FULL_NUMBER.search(
        "".join(t.model_dump_json() for t in detail.tool_calls) + str(detail.phone_masked)
    )


@pytest.mark.asyncio
async def test_summary_of_a_real_callback_call(tmp_path, store, clinic, clock) -> None:
    ask = {"client_name": NAME, "phone_number": "", "preferred_time": "2026-12-02T11:00"}
    script = [
        *greeting(),
        *_said("Më telefononi nesër në orën njëmbëdhjetë."),
        tool_call("schedule_follow_up", ask, id="later"),
        *_reply("Do t'ju telefonojmë nesër."),
        *goodbye("call_back_later"),
    ]
    async with GeminiLiveEmulator(script) as emu:
        await run_call(tmp_path, emu, store, clinic, clock)
        await emu.finished(timeout=5)
    detail = await _detail(store)
    (follow_up,) = await store.follow_ups.of_call(call_id=CALL_ID)
    callback, ended = detail.summary
    assert callback.kind == "callback_requested"
    assert callback.params == {
        "call_back_at": follow_up.due_at.astimezone(TIRANE).isoformat(timespec="minutes"),
        "follow_up_id": follow_up.id,
    }
    assert _event(detail, callback).name == "schedule_follow_up"
    assert ended.params == {"by": "elo", "outcome": "follow_up", "reason": "call_back_later"}
    # The queue calls it what it is: a callback the patient asked for.
    (queued,) = (await store.follow_up_queue.page()).items
    assert (queued.id, queued.kind, queued.call_id) == (follow_up.id, "callback", CALL_ID)


@pytest.mark.asyncio
async def test_summary_of_a_real_opt_out_call(tmp_path, store, clinic, clock) -> None:
    script = [
        *greeting(),
        *_said("Mos më telefononi më, ju lutem."),
        tool_call("opt_out", {"reason": "nuk do më thirrje"}, id="optout"),
        *_reply("Në rregull, nuk do t'ju telefonojmë më."),
        *goodbye("opted_out"),
    ]
    async with GeminiLiveEmulator(script) as emu:
        await run_call(tmp_path, emu, store, clinic, clock)
        await emu.finished(timeout=5)
    detail = await _detail(store)
    opted_out, ended = detail.summary
    assert (opted_out.kind, opted_out.params) == ("opted_out", {})
    assert _event(detail, opted_out).name == "opt_out"
    assert ended.params == {"by": "elo", "outcome": "opted_out", "reason": "opted_out"}
    assert await store.dnc.is_listed(phone=PHONE)


def _record(entries: list[dict], *, outcome: str | None, reason: str | None = None) -> CallRecord:
    return CallRecord(
        id="c1",
        patient_id=None,
        phone=None,
        started_at=datetime(2026, 12, 1, 9, tzinfo=TIRANE),
        ended_at=datetime(2026, 12, 1, 9, 5, tzinfo=TIRANE) if outcome else None,
        outcome=outcome,
        outcome_reason=reason,
        transcript=entries,
        counters={},
        turns=0,
        tool_calls=0,
        appointments_booked=0,
        revenue_booked=0,
    )


def _tool(name: str, *, arguments: dict | None = None, result: dict | None = None) -> dict:
    entry: dict = {"t": "2026-12-01T09:01:00.000+01:00", "role": "tool", "name": name}
    if result is None:
        entry["arguments"] = arguments or {}
    else:
        entry["result"] = result
    return entry


def test_failed_and_refused_tools_say_nothing_happened() -> None:
    entries = [
        _tool("schedule_appointment", arguments={"patient_name": "Arta Hoxha"}),
        _tool("schedule_appointment", result={"error": "slot taken", "hint": "offer others"}),
        _tool("opt_out", arguments={}),
        _tool("opt_out", result={"error": "opt_out works only in a call to a known number"}),
        _tool("schedule_follow_up", arguments={}),  # never answered (the call ended)
    ]
    record = _record(entries, outcome="hung_up", reason="the patient hung up")
    assert [(s.kind, s.params["by"], s.source) for s in summary(record)] == [
        ("ended", "patient", "record")
    ]
    assert [(t.name, t.result_kind, t.result_index) for t in tool_calls(entries)] == [
        ("schedule_appointment", "error", 1),
        ("opt_out", "error", 3),
        ("schedule_follow_up", "pending", None),
    ]


def test_transfers_voicemail_and_who_ended_the_call() -> None:
    entries = [
        _tool("transfer_to_human", arguments={"reason": "invoice"}),
        _tool(
            "transfer_to_human",
            result={"status": "transfer_failed", "follow_up": "created", "follow_up_id": 7},
        ),
        _tool("transfer_to_human", arguments={"reason": "invoice"}),
        _tool("transfer_to_human", result={"status": "transferred"}),
    ]
    items = summary(_record(entries, outcome="transferred", reason="transferred to staff"))
    assert [(i.kind, i.params, i.event_index) for i in items] == [
        ("transfer_failed", {"follow_up_created": True, "follow_up_id": 7}, 1),
        ("transferred", {}, 3),
        ("ended", {"by": "transfer", "outcome": "transferred", "reason": "transferred to staff"},
         None),
    ]  # fmt: skip
    machine = [
        _tool("voicemail_detected", arguments={"evidence": "beep"}),
        _tool("voicemail_detected", result={"status": "hanging_up"}),
    ]
    items = summary(_record(machine, outcome="voicemail", reason="answering machine"))
    assert [(i.kind, i.params.get("message_left"), i.params.get("by")) for i in items] == [
        ("voicemail", False, None),
        ("ended", None, "unknown"),
    ]
    # A booking call the patient hung up keeps the hang-up as its reason.
    assert summary(_record([], outcome="booked", reason="the patient hung up"))[0].params["by"] == (
        "patient"
    )
    assert (
        summary(_record([], outcome="cancelled", reason="cancelled by the operator"))[0].params[
            "by"
        ]
        == "operator"
    )
    assert summary(_record([], outcome="not_answered"))[0].params["by"] == "nobody"
    # A call still running has no ending yet; a scrubbed one only its outcome.
    assert summary(_record([], outcome=None)) == []


def test_arguments_are_masked_by_key_and_inside_free_text() -> None:
    masked = mask_arguments(
        {
            "patient_name": "Arta Hoxha",
            "phone_number": "+355691234567",
            "spoken": "069 123 4567",
            "reason": "call me on +355 69 123 4567 or arta@example.com",
            "nested": [{"client_name": "Ben Leka"}],
            "preferred_date": "2026-12-02T10:00",
            "count": 3,
        }
    )
    assert masked == {
        "patient_name": "A. H.",
        "phone_number": "+355*******67",
        "spoken": "069 123 4567".replace("069 123 4567", masked["spoken"]),
        "reason": masked["reason"],
        "nested": [{"client_name": "B. L."}],
        "preferred_date": "2026-12-02T10:00",
        "count": 3,
    }
    assert "4567" not in masked["spoken"] and "123 4567" not in masked["reason"]
    assert "arta@example.com" not in masked["reason"]


@pytest.mark.asyncio
async def test_the_detail_uses_the_stored_events_of_the_call(
    store: Store, clock: FixedClock
) -> None:
    entries = [
        _tool("voicemail_detected", arguments={"evidence": "beep"}),
        _tool("voicemail_detected", result={"status": "leave_message", "message": "..."}),
    ]
    at = datetime(2026, 12, 1, 9, tzinfo=TIRANE)
    await make_call(store, clock, call_id="vm", at=at, entries=entries, outcome="voicemail")
    detail = await store.call_log.detail(call_id="vm")
    assert detail is not None
    assert [(s.kind, s.event_index) for s in detail.summary] == [
        ("voicemail", 1),
        ("ended", None),
    ]
    assert detail.summary[0].params == {"message_left": True}
    assert detail.transcript == []
