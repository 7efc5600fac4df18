"""A booking the model makes in a call plans its messages in the booking's own transaction."""

from __future__ import annotations

import pytest

from storage import Store
from tools.context import ToolContext
from tools.registry import ToolRegistry

pytestmark = pytest.mark.asyncio


async def test_schedule_appointment_writes_the_confirmation_and_reminders(
    registry: ToolRegistry, ctx: ToolContext, store: Store
) -> None:
    result = await registry.call(
        "schedule_appointment",
        {
            "patient_name": "Arbër Çela",
            "phone_number": "069 123 4567",
            "preferred_date": "2026-12-09T10:00",
            "service_type": "checkup",
        },
        ctx,
    )
    assert result["status"] == "booked", result
    rows = await store.db.rows("SELECT kind, channel, status FROM messages ORDER BY id")
    assert [tuple(r) for r in rows] == [
        ("confirmation", "sms", "pending"),
        ("reminder", "sms", "pending"),
        ("reminder", "sms", "pending"),
    ]
