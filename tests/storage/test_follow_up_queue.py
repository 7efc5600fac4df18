"""The follow-ups queue: kinds from stored events, oldest due first, pages, marking done."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest

from storage import Store
from storage.errors import CursorError
from tests.conftest import TIRANE, FixedClock
from tests.storage.booking import phone
from tests.storage.dashboard_data import make_call
from tests.tools.test_transfer import FAILED, FakeControl
from tools.context import ToolContext
from tools.registry import ToolRegistry

DUE = datetime(2026, 12, 2, 10, 0, tzinfo=TIRANE)
FULL_NUMBER = re.compile(r"\+[0-9]{8,15}")


@pytest.mark.asyncio
async def test_a_failed_transfer_is_told_apart_from_a_requested_callback_and_staffs_own(
    store: Store,
    clock: FixedClock,
    registry: ToolRegistry,
    make_context: Callable[..., ToolContext],
) -> None:
    # The transfer tool itself leaves the follow-up; its result is stored with the call's
    # events as the transcript observer stores it.
    await make_call(store, clock, call_id="t1", at=clock.now, phone=None, outcome=None)
    ctx = make_context(phone=phone(1), call_id="t1", call_control=FakeControl(FAILED))
    arguments = {"reason": "question about an invoice"}
    result = await registry.call("transfer_to_human", arguments, ctx)
    assert result["status"] == "transfer_failed"
    await store.calls.save_progress(
        call_id="t1",
        transcript=[
            {"t": "x", "role": "tool", "name": "transfer_to_human", "arguments": arguments},
            {"t": "x", "role": "tool", "name": "transfer_to_human", "result": result},
        ],
        counters={},
        turns=0,
        tool_calls=1,
    )
    # A callback the patient asked for, in another call.
    await make_call(store, clock, call_id="c1", at=clock.now, outcome=None)
    await store.follow_ups.create(
        phone=phone(2), name="Ben Leka", due_at=DUE, reason="after work", source="agent",
        call_id="c1",
    )  # fmt: skip
    await store.follow_ups.create(
        phone=phone(3), name="Drita Kola", due_at=DUE + timedelta(hours=1), reason=None,
        source="cli",
    )  # fmt: skip
    page = await store.follow_up_queue.page()
    assert [(i.kind, i.source) for i in page.items] == [
        ("transfer_failed", "agent"),  # due at once (the clock's now)
        ("callback", "agent"),
        ("staff", "cli"),
    ]
    assert page.items[0].id == result["follow_up_id"]
    assert [i.patient_name for i in page.items][1:] == ["Ben Leka", "Drita Kola"]
    assert not FULL_NUMBER.search(page.model_dump_json())
    assert page.items[1].phone_masked == "+355*******02"
    unnamed = await store.follow_up_queue.page(with_names=False)
    assert {i.patient_name for i in unnamed.items} == {None}


@pytest.mark.asyncio
async def test_pages_run_oldest_due_first_with_ties_by_id(store: Store) -> None:
    made = []
    for n in range(5):
        follow_up, _ = await store.follow_ups.create(
            phone=phone(n), name="Arta Hoxha", due_at=DUE if n < 4 else DUE - timedelta(days=1),
            reason=None, source="agent",
        )  # fmt: skip
        made.append(follow_up.id)
    seen, cursor = [], None
    while True:
        page = await store.follow_up_queue.page(cursor=cursor, limit=2)
        seen += [i.id for i in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == [made[4], *made[:4]]
    with pytest.raises(CursorError):
        await store.follow_up_queue.page(cursor=cursor or "x", status="done")


@pytest.mark.asyncio
async def test_marking_done_records_who_and_when_once(store: Store, clock: FixedClock) -> None:
    follow_up, _ = await store.follow_ups.create(
        phone=phone(1), name="Arta Hoxha", due_at=DUE, reason=None, source="agent"
    )
    done = await store.follow_up_queue.mark_done(follow_up_id=follow_up.id, by="web:ana")
    assert done is not None
    assert (done.changed, done.status, done.done_by, done.done_at) == (
        True,
        "done",
        "web:ana",
        clock.now,
    )
    again = await store.follow_up_queue.mark_done(follow_up_id=follow_up.id, by="web:ben")
    assert again is not None and (again.changed, again.done_by) == (False, "web:ana")
    assert (await store.follow_up_queue.page()).items == []
    assert [i.id for i in (await store.follow_up_queue.page(status="done")).items] == [follow_up.id]
    assert await store.follow_up_queue.mark_done(follow_up_id=999, by="web:ana") is None
    with pytest.raises(ValueError):
        await store.follow_up_queue.mark_done(follow_up_id=follow_up.id, by="")
