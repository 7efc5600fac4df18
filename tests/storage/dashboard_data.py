"""Helpers of the dashboard read-model tests: calls written through the real repositories."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from storage import Store
from storage.models import CallDirection
from tests.conftest import FixedClock


async def make_call(
    store: Store,
    clock: FixedClock,
    *,
    call_id: str,
    at: datetime,
    outcome: str | None = "completed",
    phone: str | None = None,
    direction: CallDirection = CallDirection.OUTBOUND,
    entries: list[dict[str, Any]] | None = None,
    counters: dict[str, Any] | None = None,
    reason: str | None = None,
) -> None:
    """A call started at ``at`` (the clock is moved there) and, unless ``outcome`` is None,
    finished at once with it, as the call session records one."""
    clock.now = at
    patient = await store.patients.get(phone=phone) if phone else None
    await store.calls.start(
        call_id=call_id,
        patient_id=patient.id if patient else None,
        phone=phone,
        direction=direction,
    )
    if entries is not None or counters is not None:
        await store.calls.save_progress(
            call_id=call_id,
            transcript=entries or [],
            counters=counters or {},
            turns=len(entries or []),
            tool_calls=0,
        )
    if outcome is not None:
        await store.calls.finish(call_id=call_id, outcome=outcome, outcome_reason=reason)
