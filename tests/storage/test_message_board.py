"""The Messages page's read model, send-again and staff opt-outs (``store.message_board``)."""

from __future__ import annotations

import pytest

from storage import Booked, Store
from storage.errors import CursorError
from tests.storage.booking import PHONE, at, book

pytestmark = pytest.mark.asyncio


async def _dead(store: Store, message_id: int, error: str = "21610") -> None:
    async with store.db.transaction() as conn:
        await conn.execute(
            "UPDATE messages SET status = 'dead', attempts = 5, last_error = ? WHERE id = ?",
            (error, message_id),
        )


async def test_pages_mask_recipients_filter_and_follow_cursors(store: Store) -> None:
    for day in (2, 9, 16):
        assert isinstance(await book(store, start=at(10, day=day)), Booked)
    everything = await store.message_board.page(limit=200)
    ids = [m.id for m in everything.items]
    assert ids == sorted(ids, reverse=True) and everything.next_cursor is None
    assert all(m.to != PHONE and m.to.endswith(PHONE[-2:]) for m in everything.items)
    first = await store.message_board.page(limit=2)
    second = await store.message_board.page(limit=2, cursor=first.next_cursor)
    assert [m.id for m in first.items + second.items] == ids[:4]
    await _dead(store, ids[0])
    dead = await store.message_board.page(status="dead")
    assert [(m.id, m.last_error) for m in dead.items] == [(ids[0], "21610")]
    assert await store.message_board.dead_count() == 1
    pending = await store.message_board.page(status="pending", limit=1)
    more = await store.message_board.page(status="pending", limit=1, cursor=pending.next_cursor)
    assert more.items[0].id < pending.items[0].id
    assert (await store.message_board.page(channel="email")).items == []
    with pytest.raises(CursorError):  # a cursor of another filter
        await store.message_board.page(status="dead", cursor=first.next_cursor)


async def test_send_again_only_from_dead_or_failed_while_the_appointment_is_ahead(
    store: Store,
) -> None:
    booked = await book(store, start=at(10, day=9))
    assert isinstance(booked, Booked)
    (row, *_) = (await store.message_board.page()).items
    assert await store.message_board.retry(message_id=row.id, actor="web:arta") == "unchanged"
    await _dead(store, row.id)
    assert await store.message_board.retry(message_id=row.id, actor="web:arta") == "retried"
    again = (await store.message_board.page()).items[0]
    assert (again.status, again.attempts, again.last_error) == ("pending", 0, None)
    assert await store.message_board.retry(message_id=row.id, actor="web:arta") == "unchanged"
    audit = [e for e in await store.audit.list() if e.action == "message.retry"]
    assert [(e.actor, e.subject) for e in audit] == [("web:arta", f"message:{row.id}")]
    await store.calendar.cancel(appointment_id=booked.appointment.id, reason=None, actor="x")
    await _dead(store, row.id)
    assert await store.message_board.retry(message_id=row.id, actor="web:arta") == "not_active"
    assert (await store.message_board.page(status="dead")).items[0].id == row.id
    assert await store.message_board.retry(message_id=10**6, actor="web:arta") == "not_found"


async def test_staff_opt_out_skips_waiting_ones_and_opt_in_allows_again(store: Store) -> None:
    booked = await book(store, start=at(10, day=9))
    assert isinstance(booked, Booked)
    pid = booked.appointment.patient_id
    board = store.message_board
    assert await board.set_opt_out(patient_id=pid, channel="sms", stopped=True, actor="web:a")
    assert not await board.set_opt_out(patient_id=pid, channel="sms", stopped=True, actor="web:a")
    assert [(o.channel, o.source) for o in await board.opt_outs(patient_id=pid)] == [("sms", "web")]
    assert {m.status for m in await board.of_patient(patient_id=pid)} == {"skipped"}
    assert await store.messages.opted_out(patient_phone=PHONE) == {"sms"}
    assert await board.set_opt_out(patient_id=pid, channel="sms", stopped=False, actor="web:a")
    assert await board.opt_outs(patient_id=pid) == []
    actions = [(e.action, e.subject) for e in await store.audit.list() if e.actor == "web:a"]
    assert actions == [("message.opt_in", f"patient:{pid}"), ("message.opt_out", f"patient:{pid}")]
