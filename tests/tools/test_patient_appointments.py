"""my_appointments, confirm_appointment, reschedule_appointment and cancel_appointment.

Real SQLite files. The clock is fixed at Tue 2026-12-01 08:00 in Tirana (a holiday); Wed
2026-12-02 is open 09:00-13:00 and 14:00-19:00. Every tool acts on the call's own number only:
another patient's appointment id is answered exactly like an id that does not exist.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from config.clinic import ClinicProfile
from config.settings import AppSettings
from storage import Booked, Store
from tests.conftest import FixedClock
from tests.db_reader import DbReader
from tests.storage.booking import at, book, phone
from tools.context import ToolContext, ToolMode, build_context
from tools.registry import ToolRegistry

CALLEE = "+355691234567"
OTHER = "+355682223333"
Snapshot = Callable[[], dict[str, list[dict[str, Any]]]]
pytestmark = pytest.mark.asyncio


async def _booked(
    store: Store, number: str, hour: int, minute: int = 0, *, day: int = 2, **extra: Any
) -> int:
    extra.setdefault("chairs", 2)
    outcome = await book(store, start=at(hour, minute, day), number=number, **extra)
    assert isinstance(outcome, Booked)
    return outcome.appointment.id


def _slots(reader: DbReader, appointment_id: int) -> list[tuple[int, str]]:
    return reader.tuples(
        "SELECT chair, slot_start FROM appointment_slots WHERE appointment_id = ?",
        (appointment_id,),
    )


@pytest.fixture
def callee(make_context: Callable[..., ToolContext]) -> ToolContext:
    return make_context(phone=CALLEE, patient_name="Arta Hoxha", call_id="call-1")


async def test_my_appointments_lists_only_the_callees_upcoming_active_ones(
    registry: ToolRegistry, store: Store, callee: ToolContext
) -> None:
    later = await _booked(store, CALLEE, 15)
    first = await _booked(store, CALLEE, 10)
    cancelled = await _booked(store, CALLEE, 11)
    await store.calendar.cancel(appointment_id=cancelled, reason=None, actor="cli")
    await _booked(store, OTHER, 12, name="Mira Kastrati")

    result = await registry.call("my_appointments", {}, callee)
    assert result["appointments"] == [
        {
            "appointment_id": first,
            "service": "Kontroll i përgjithshëm",
            "day": "2026-12-02",
            "weekday": "Wednesday",
            "time": "10:00",
            "appointment_status": "scheduled",
        },
        {
            "appointment_id": later,
            "service": "Kontroll i përgjithshëm",
            "day": "2026-12-02",
            "weekday": "Wednesday",
            "time": "15:00",
            "appointment_status": "scheduled",
        },
    ]


@pytest.mark.parametrize(
    ("tool", "extra"),
    [
        ("confirm_appointment", {}),
        ("reschedule_appointment", {"new_time": "2026-12-02T16:00"}),
        ("cancel_appointment", {"reason": "travelling"}),
    ],
)
async def test_another_patients_id_is_answered_like_an_unknown_id(
    registry: ToolRegistry, store: Store, callee: ToolContext, snapshot: Snapshot, tool: str,
    extra: dict[str, Any],
) -> None:  # fmt: skip
    await _booked(store, CALLEE, 10)
    theirs = await _booked(store, OTHER, 11, name="Mira Kastrati")
    before = snapshot()
    other = await registry.call(tool, {"appointment_id": theirs, **extra}, callee)
    unknown = await registry.call(tool, {"appointment_id": 987_654, **extra}, callee)
    assert other == unknown
    assert other["error"].startswith("appointment_id: is not an upcoming appointment")
    assert "my_appointments" in other["hint"]
    assert snapshot() == before


async def test_unbound_calls_and_staff_are_refused(
    registry: ToolRegistry, store: Store, make_context: Callable[..., ToolContext]
) -> None:
    mine = await _booked(store, CALLEE, 10)
    for ctx in (make_context(), make_context(mode=ToolMode.ADMIN, phone=CALLEE)):
        listed = await registry.call("my_appointments", {}, ctx)
        assert "only in a call to the patient's own number" in listed["error"]
        confirm = await registry.call("confirm_appointment", {"appointment_id": mine}, ctx)
        assert "error" in confirm
    assert (await store.calendar.get(appointment_id=mine)).status == "scheduled"


async def test_confirm_records_status_time_and_channel(
    registry: ToolRegistry, store: Store, callee: ToolContext, clock: FixedClock
) -> None:
    mine = await _booked(store, CALLEE, 10)
    result = await registry.call("confirm_appointment", {"appointment_id": mine}, callee)
    assert (result["status"], result["appointment_id"], result["time"]) == (
        "confirmed",
        mine,
        "10:00",
    )
    stored = await store.calendar.get(appointment_id=mine)
    assert (stored.status, stored.confirmed_via, stored.confirmed_at) == (
        "confirmed",
        "call",
        clock.now,
    )
    (entry,) = [e for e in await store.audit.list() if e.action == "appointment.confirm"]
    assert (entry.actor, entry.subject) == ("agent:call-1", f"appointment:{mine}")


async def test_reschedule_frees_the_old_slot_and_books_the_new_with_the_same_id(
    registry: ToolRegistry, store: Store, callee: ToolContext, reader: DbReader
) -> None:
    mine = await _booked(store, CALLEE, 10)
    result = await registry.call(
        "reschedule_appointment", {"appointment_id": mine, "new_time": "2026-12-02T16:30"}, callee
    )
    assert result["status"] == "rescheduled"
    assert (result["appointment_id"], result["day"], result["time"]) == (
        mine,
        "2026-12-02",
        "16:30",
    )
    assert (result["previous_day"], result["previous_time"]) == ("2026-12-02", "10:00")
    moved = await store.calendar.get(appointment_id=mine)
    assert (moved.id, moved.revision, moved.starts_at) == (mine, 1, at(16, 30))
    assert _slots(reader, mine) == [(1, "2026-12-02T15:30:00Z")]
    # The old 10:00 on chair 1 is free: someone else books exactly it.
    other = await book(store, start=at(10), number=OTHER, name="Mira Kastrati", chairs=1)
    assert isinstance(other, Booked)


async def test_reschedule_refused_by_the_patient_rules_changes_nothing(
    registry: ToolRegistry, store: Store, callee: ToolContext, snapshot: Snapshot
) -> None:
    mine = await _booked(store, CALLEE, 10)
    before = snapshot()
    for new_time, problem in (
        ("2026-12-02T20:00", "outside opening hours"),
        ("2026-12-01T08:30", "cannot be booked"),  # today is a holiday, and too soon
        ("2027-06-01T10:00", "more than 90 days ahead"),
    ):
        result = await registry.call(
            "reschedule_appointment", {"appointment_id": mine, "new_time": new_time}, callee
        )
        assert problem in result["error"], result
        assert result["nearest_free_slots"], result
    no_time = await registry.call(
        "reschedule_appointment", {"appointment_id": mine, "new_time": "2026-12-03"}, callee
    )
    assert no_time["error"] == "new_time: needs a time of day" and no_time["free_slots"]
    assert snapshot() == before


async def test_cancel_keeps_the_reason_and_frees_the_slot(
    registry: ToolRegistry, store: Store, callee: ToolContext, reader: DbReader
) -> None:
    mine = await _booked(store, CALLEE, 10)
    result = await registry.call(
        "cancel_appointment", {"appointment_id": mine, "reason": "travelling abroad"}, callee
    )
    assert (result["status"], result["appointment_id"]) == ("cancelled", mine)
    stored = await store.calendar.get(appointment_id=mine)
    assert (stored.status, stored.cancel_reason) == ("cancelled", "travelling abroad")
    assert _slots(reader, mine) == []
    # It is no longer the callee's to change: the same answer as an unknown id.
    again = await registry.call(
        "cancel_appointment", {"appointment_id": mine, "reason": "again"}, callee
    )
    assert again["error"].startswith("appointment_id: is not an upcoming appointment")
    missing = await registry.call("cancel_appointment", {"appointment_id": mine}, callee)
    assert missing["error"] == "invalid arguments: reason is required"


async def test_twenty_patients_rescheduling_into_one_slot_exactly_one_wins(
    registry: ToolRegistry,
    open_store: Callable[..., Awaitable[Store]],
    settings: AppSettings,
    one_chair_clinic: ClinicProfile,
    clock: FixedClock,
) -> None:
    """Twenty calls, each with its own connection, move their patient into Wed 16:00 at once."""
    numbers = [phone(100 + n) for n in range(20)]
    seed = await open_store()
    ids = []
    for n, number in enumerate(numbers):
        # Twenty different times on Thursday, one chair: 09:00 ... 12:30 and 14:00 ... 17:30.
        hour, minute = divmod(9 * 60 + 30 * n + (60 if n >= 8 else 0), 60)
        ids.append(await _booked(seed, number, hour, minute, day=3, chairs=1, name="Ana Dede"))

    # Closed by the fixture at teardown; the seed's connection stays idle meanwhile.
    stores = [await open_store() for _ in numbers]
    contexts = [
        build_context(
            store=s,
            settings=settings,
            clinic=one_chair_clinic,
            clock=clock,
            phone=number,
            call_id=f"call-{n}",
        )
        for n, (s, number) in enumerate(zip(stores, numbers, strict=True))
    ]
    results = await asyncio.gather(
        *(
            registry.call(
                "reschedule_appointment",
                {"appointment_id": appointment_id, "new_time": "2026-12-02T16:00"},
                ctx,
            )
            for appointment_id, ctx in zip(ids, contexts, strict=True)
        )
    )

    winners = [r for r in results if r.get("status") == "rescheduled"]
    losers = [r for r in results if "error" in r]
    assert len(winners) == 1 and len(losers) == 19
    for lost in losers:
        assert lost["error"].startswith("slot taken: 2026-12-02 16:00")
        offered = {slot["start"] for slot in lost["nearest_free_slots"]}
        assert offered and "2026-12-02T16:00+01:00" not in offered
    check = await open_store()
    at_four = [a for a in await check.appointments.list(start=at(16), end=at(16, 30))]
    assert [a.id for a in at_four] == [winners[0]["appointment_id"]]
    # Every loser kept its own Thursday time, untouched.
    for appointment_id in ids:
        if appointment_id != winners[0]["appointment_id"]:
            stored = await check.calendar.get(appointment_id=appointment_id)
            assert (stored.revision, stored.starts_at.day) == (0, 3)
    assert (await check.health.check(slot_minutes=30)).healthy
