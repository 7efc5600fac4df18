"""A stored call read back: what was said, its tool calls, its latencies and a plain summary.

Everything here is built only from the call's row: the events the transcript observer stored
(``pipeline/observers/transcript.py``: patient and Elo lines, each tool call's arguments and its
result), the counters (``pipeline/observers/analytics.py``: ``latency_ms``, ``pipeline_ms``) and
the outcome. A summary item exists only when a stored tool result (or the row's outcome) says
so; nothing is inferred from what anyone said.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from config.logs import redactor
from storage.dashboard_models import Latency, SummaryItem, ToolCallView, TranscriptLine
from storage.models import CallOutcome, CallRecord
from validation.people import mask_name
from validation.phone import mask_phone

_E164 = re.compile(r"\+[1-9][0-9]{5,14}")
# Who ended a call, by its outcome, when no end_call event says Elo did (see
# pipeline/call/outcome.py and pipeline/call/lifecycle.py for the causes).
_ENDED_BY = {
    CallOutcome.HUNG_UP: "patient",
    CallOutcome.NOT_ANSWERED: "nobody",
    CallOutcome.CANCELLED: "operator",
    CallOutcome.FAILED: "system",
    CallOutcome.NO_RESPONSE: "system",
    CallOutcome.TRANSFERRED: "transfer",
}
# The reason the pipeline records when the patient hangs up (pipeline/call/lifecycle.py); a
# call that booked keeps it beside its "booked" outcome.
_HUNG_UP_REASON = "the patient hung up"


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def mask_arguments(value: Any, key: str = "") -> Any:
    """Tool arguments with personal data masked.

    Numbers and names by their key; inside free text, numbers, emails and known names
    (:data:`config.logs.redactor`).
    """
    if isinstance(value, dict):
        return {k: mask_arguments(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_arguments(v, key) for v in value]
    if not isinstance(value, str):
        return value
    lowered = key.lower()
    if "phone" in lowered or "number" in lowered:
        return mask_phone(value) if _E164.fullmatch(value) else ("•••" if value else value)
    if "name" in lowered:
        return mask_name(value)
    return _E164.sub(lambda m: mask_phone(m.group(0)), redactor.redact(value))


def _result_kind(result: Any) -> str:
    if isinstance(result, dict):
        if isinstance(result.get("status"), str):
            return result["status"]
        if "error" in result:
            return "error"
    return "ok"


def transcript_lines(entries: list[dict[str, Any]]) -> list[TranscriptLine]:
    """The patient's and Elo's lines, in stored order (tool events left out)."""
    return [
        TranscriptLine(
            index=index,
            at=_time(entry.get("t")),
            role=entry["role"],
            text=str(entry.get("text", "")),
            interrupted=bool(entry.get("interrupted", False)),
        )
        for index, entry in enumerate(entries)
        if isinstance(entry, dict) and entry.get("role") in ("patient", "elo")
    ]


def _tool_pairs(entries: list[dict[str, Any]]) -> list[tuple[int, dict[str, Any], int | None]]:
    """Each tool call event with the index of its result event (matched by name, in order)."""
    pairs: list[list[Any]] = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or entry.get("role") != "tool":
            continue
        if "arguments" in entry:
            pairs.append([index, entry, None])
        elif "result" in entry:
            for pair in pairs:
                if pair[2] is None and pair[1].get("name") == entry.get("name"):
                    pair[2] = index
                    break
    return [(i, e, r) for i, e, r in pairs]


def tool_calls(entries: list[dict[str, Any]]) -> list[ToolCallView]:
    """Every tool call with masked arguments and its result's kind."""
    views = []
    for index, entry, result_index in _tool_pairs(entries):
        arguments = entry.get("arguments")
        views.append(
            ToolCallView(
                index=index,
                result_index=result_index,
                at=_time(entry.get("t")),
                name=str(entry.get("name", "")),
                arguments=mask_arguments(arguments) if isinstance(arguments, dict) else {},
                result_kind=(
                    "pending"
                    if result_index is None
                    else _result_kind(entries[result_index].get("result"))
                ),
            )
        )
    return views


def latency(counters: dict[str, Any], key: str) -> Latency:
    """p50/p95 of one of the counters' latency kinds (``latency_ms``, ``pipeline_ms``)."""
    data = counters.get(key)
    if not isinstance(data, dict):
        return Latency(samples=0, p50_ms=None, p95_ms=None)
    return Latency(
        samples=int(data.get("samples") or 0), p50_ms=data.get("p50"), p95_ms=data.get("p95")
    )


def _item_of(name: str, result: dict[str, Any], index: int) -> SummaryItem | None:
    """The summary item one tool result stands for, if it is one that changed something."""
    status = result.get("status")
    params: dict[str, str | int | bool | None]
    if name == "schedule_appointment" and status == "booked":
        service = result.get("service") if isinstance(result.get("service"), dict) else {}
        params = {
            "service_id": service.get("id"),
            "service_name": service.get("name"),
            "start": result.get("start"),
            "end": result.get("end"),
            "price_lek": service.get("price_lek"),
            "appointment_id": result.get("appointment_id"),
            "again": bool(result.get("already_booked", False)),
        }
        kind = "booked"
    elif name == "schedule_follow_up" and status == "scheduled":
        params = {
            "call_back_at": result.get("call_back_at"),
            "follow_up_id": result.get("follow_up_id"),
        }
        kind = "callback_requested"
    elif name == "opt_out" and status == "opted_out":
        params, kind = {}, "opted_out"
    elif name == "transfer_to_human" and status == "transferred":
        params, kind = {}, "transferred"
    elif name == "transfer_to_human" and status == "transfer_failed":
        created = result.get("follow_up") == "created"
        params = {"follow_up_created": created, "follow_up_id": result.get("follow_up_id")}
        kind = "transfer_failed"
    elif name == "voicemail_detected" and status in ("leave_message", "hanging_up"):
        params, kind = {"message_left": status == "leave_message"}, "voicemail"
    else:
        return None
    clean = {k: v for k, v in params.items() if v is None or isinstance(v, str | int | bool)}
    return SummaryItem(kind=kind, params=clean, source="event", event_index=index)  # type: ignore[arg-type]


def summary(record: CallRecord) -> list[SummaryItem]:
    """The plain summary of a call: what its stored tool results and outcome say happened.

    One item per tool result that changed something (a booking, a callback, an opt-out, a
    transfer, a voicemail), in the order they happened, then how the call ended (once ended):
    by Elo when an end_call result is stored, else by the outcome.
    """
    entries = [e for e in record.transcript if isinstance(e, dict)]
    items: list[SummaryItem] = []
    ended_by_elo: SummaryItem | None = None
    for _, entry, result_index in _tool_pairs(entries):
        if result_index is None:
            continue
        result = entries[result_index].get("result")
        if not isinstance(result, dict):
            continue
        name = str(entry.get("name", ""))
        item = _item_of(name, result, result_index)
        if item is not None:
            items.append(item)
        if name == "end_call" and result.get("status") == "ending" and ended_by_elo is None:
            arguments = entry.get("arguments") if isinstance(entry.get("arguments"), dict) else {}
            reason = arguments.get("reason") if isinstance(arguments.get("reason"), str) else None
            ended_by_elo = SummaryItem(
                kind="ended",
                params={"by": "elo", "outcome": record.outcome, "reason": reason},
                source="event",
                event_index=result_index,
            )
    if record.ended_at is not None:
        items.append(ended_by_elo or _ended_by_record(record))
    return items


def _ended_by_record(record: CallRecord) -> SummaryItem:
    try:
        by = _ENDED_BY.get(CallOutcome(record.outcome or ""), "unknown")
    except ValueError:
        by = "unknown"
    if by == "unknown" and record.outcome_reason == _HUNG_UP_REASON:
        by = "patient"
    return SummaryItem(
        kind="ended",
        params={"by": by, "outcome": record.outcome, "reason": record.outcome_reason},
        source="record",
    )
