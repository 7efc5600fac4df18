"""check_available_slots, schedule_appointment and schedule_follow_up on the happy paths.

The clock is fixed at Tue 2026-12-01 08:00 in Tirana (a public holiday: Liberation Day observed),
so Wed 2026-12-02 is the first working day; December is UTC+1.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from config.clinic import ClinicProfile
from config.settings import load_settings
from tools.context import ToolContext, ToolMode
from tools.registry import ToolRegistry

Rows = Callable[..., list[dict[str, Any]]]

ARBER = {"patient_name": "Arbër Çela", "phone_number": "069 123 4567"}
BESA = {"patient_name": "Besa Krasniqi", "phone_number": "+355 68 222 3333"}


def _start(slot: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(slot["start"])


def _end(slot: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(slot["end"])


async def _book(
    registry: ToolRegistry, ctx: ToolContext, when: str, service: str = "checkup", **who: str
) -> dict[str, Any]:
    args = {**(who or ARBER), "preferred_date": when, "service_type": service}
    return await registry.call("schedule_appointment", args, ctx)


# --- check_available_slots ------------------------------------------------------------------


@pytest.mark.asyncio
async def test_free_slots_are_spread_over_the_day(registry: ToolRegistry, ctx: ToolContext) -> None:
    result = await registry.call("check_available_slots", {"preferred_date": "2026-12-02"}, ctx)
    assert result["available"] is True
    assert result["date"] == "2026-12-02"
    assert result["weekday"] == "Wednesday"
    assert result["hours"] == "09:00-13:00, 14:00-19:00"
    # 09:00-13:00 and 14:00-19:00 in 30-minute steps.
    assert result["free_slot_count"] == 8 + 10
    slots = result["free_slots"]
    limit = ctx.settings.clinic.max_slots_offered
    assert len(slots) == limit
    starts = [_start(s) for s in slots]
    assert starts == sorted(set(starts))
    # Spread: from the first opening to the last slot, both halves of the day offered.
    assert starts[0].strftime("%H:%M") == "09:00"
    assert starts[-1].strftime("%H:%M") == "18:30"
    assert any(s.hour < 13 for s in starts) and any(s.hour >= 14 for s in starts)
    for slot in slots:
        assert _start(slot).utcoffset() == timedelta(hours=1)
        assert _end(slot) - _start(slot) == timedelta(minutes=30)
        assert slot["weekday"] == "Wednesday"


@pytest.mark.asyncio
@pytest.mark.parametrize("limit", [1, 3, 20])
async def test_number_of_slots_offered_follows_the_setting(
    registry: ToolRegistry, make_context: Callable[..., ToolContext], tmp_path: Path, limit: int
) -> None:
    settings = load_settings(
        env_file=None,
        database={"path": tmp_path / "elo.db"},
        clinic={"max_slots_offered": limit},
    )
    ctx = make_context(settings=settings)
    result = await registry.call("check_available_slots", {"preferred_date": "2026-12-02"}, ctx)
    assert len(result["free_slots"]) == min(limit, 18)
    assert result["free_slot_count"] == 18


@pytest.mark.asyncio
async def test_slots_near_an_asked_time(registry: ToolRegistry, ctx: ToolContext) -> None:
    result = await registry.call(
        "check_available_slots", {"preferred_date": "2026-12-02T16:00"}, ctx
    )
    starts = {_start(s).strftime("%H:%M") for s in result["free_slots"]}
    # The eight slots closest to 16:00 (15:00 and 17:00 are equally close; one of them wins).
    assert {"14:30", "15:00", "15:30", "16:00", "16:30", "17:00", "17:30"} <= starts
    assert "09:00" not in starts


@pytest.mark.asyncio
async def test_slots_fit_the_service_duration(registry: ToolRegistry, ctx: ToolContext) -> None:
    result = await registry.call(
        "check_available_slots", {"preferred_date": "2026-12-02", "service_type": "root_canal"}, ctx
    )
    assert result["available"] is True
    assert result["duration_minutes"] == 90
    assert result["service"]["id"] == "root_canal"
    # 90 minutes fit from 09:00 to 11:30 (6 starts) and from 14:00 to 17:30 (8 starts).
    assert result["free_slot_count"] == 14
    for slot in result["free_slots"]:
        start, end = _start(slot), _end(slot)
        assert end - start == timedelta(minutes=90)
        # Never across the lunch break or past closing.
        morning = end.strftime("%H:%M") <= "13:00"
        afternoon = start.strftime("%H:%M") >= "14:00" and end.strftime("%H:%M") <= "19:00"
        assert morning or afternoon, slot


@pytest.mark.asyncio
async def test_service_can_be_named_instead_of_its_id(
    registry: ToolRegistry, ctx: ToolContext
) -> None:
    result = await registry.call(
        "check_available_slots", {"preferred_date": "2026-12-02", "service_type": "Filling"}, ctx
    )
    assert result["service"]["id"] == "filling"


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("day", "reason"),
    [
        ("2026-12-06", "the clinic is closed on Sundays"),
        ("2026-12-08", "public holiday (Dita Kombëtare e Rinisë)"),
        ("2026-12-01", "public holiday"),
        ("2026-12-24", "the clinic is closed that day"),
    ],
)
async def test_a_closed_day_offers_the_nearest_free_slots(
    registry: ToolRegistry, ctx: ToolContext, day: str, reason: str
) -> None:
    result = await registry.call("check_available_slots", {"preferred_date": day}, ctx)
    assert result["available"] is False
    assert result["reason"].startswith(reason)
    assert "free_slots" not in result
    nearest = result["nearest_free_slots"]
    assert 0 < len(nearest) <= ctx.settings.clinic.max_slots_offered
    for slot in nearest:
        start = _start(slot)
        assert start.date().isoformat() != day
        assert start.weekday() != 6
        assert start > ctx.now()
    assert [_start(s) for s in nearest] == sorted(_start(s) for s in nearest)
    assert result["hint"]


@pytest.mark.asyncio
async def test_a_full_day_says_so_and_offers_other_days(
    registry: ToolRegistry,
    make_context: Callable[..., ToolContext],
    one_chair_clinic: ClinicProfile,
) -> None:
    ctx = make_context(clinic=one_chair_clinic, mode=ToolMode.ADMIN)
    # Saturday 09:00-14:00: ten half-hour slots, one chair.
    for hour in range(9, 14):
        for minute in (0, 30):
            result = await _book(registry, ctx, f"2026-12-05T{hour:02d}:{minute:02d}")
            assert result["status"] == "booked", result
    result = await registry.call("check_available_slots", {"preferred_date": "2026-12-05"}, ctx)
    assert result["available"] is False
    assert result["reason"] == "every slot that day is taken"
    assert result["nearest_free_slots"]
    assert all(_start(s).date().isoformat() != "2026-12-05" for s in result["nearest_free_slots"])


@pytest.mark.asyncio
async def test_a_booked_slot_is_no_longer_free(
    registry: ToolRegistry,
    make_context: Callable[..., ToolContext],
    one_chair_clinic: ClinicProfile,
) -> None:
    ctx = make_context(clinic=one_chair_clinic)
    assert (await _book(registry, ctx, "2026-12-02T10:00", "cleaning"))["status"] == "booked"
    result = await registry.call(
        "check_available_slots", {"preferred_date": "2026-12-02", "service_type": "checkup"}, ctx
    )
    assert result["free_slot_count"] == 18 - 2
    starts = {_start(s).strftime("%H:%M") for s in result["free_slots"]}
    assert not starts & {"10:00", "10:30"}


# --- schedule_appointment -------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize(("mode", "source"), [(ToolMode.CALL, "agent"), (ToolMode.ADMIN, "cli")])
async def test_booking_writes_the_appointment(
    registry: ToolRegistry,
    make_context: Callable[..., ToolContext],
    rows: Rows,
    mode: ToolMode,
    source: str,
) -> None:
    ctx = make_context(mode=mode, call_id="call-42" if mode is ToolMode.CALL else None)
    result = await _book(registry, ctx, "2026-12-02T10:00", "filling")
    assert result["status"] == "booked"
    assert result["start"] == "2026-12-02T10:00+01:00"
    assert result["end"] == "2026-12-02T11:00+01:00"
    assert result["service"]["id"] == "filling"
    assert result["service"]["price_lek"] == 5000
    # Nothing about the patient record comes back (tests/tools/test_identity.py).
    assert "new_patient" not in result and "patient_name" not in result

    [row] = rows(
        "SELECT a.*, p.phone, p.name FROM appointments a JOIN patients p ON p.id = a.patient_id"
    )
    assert row["id"] == result["appointment_id"]
    assert row["starts_at"] == "2026-12-02T09:00:00Z"
    assert row["ends_at"] == "2026-12-02T10:00:00Z"
    # Money is integers: stored as one, read back as one (not 5000.0), on either engine.
    assert row["price_lek"] == 5000 and type(row["price_lek"]) is int
    assert row["service_id"] == "filling"
    assert row["status"] == "scheduled"
    assert row["source"] == source
    assert row["call_id"] == ("call-42" if mode is ToolMode.CALL else None)
    assert row["phone"] == "+355691234567"
    assert row["name"] == "Arbër Çela"
    slots = rows("SELECT slot_start FROM appointment_slots ORDER BY slot_start")
    assert [s["slot_start"] for s in slots] == ["2026-12-02T09:00:00Z", "2026-12-02T09:30:00Z"]


@pytest.mark.asyncio
async def test_a_returning_patient_is_recognised_by_phone(
    registry: ToolRegistry, ctx: ToolContext, rows: Rows
) -> None:
    first = await _book(registry, ctx, "2026-12-02T10:00")
    again = await _book(
        registry,
        ctx,
        "2026-12-03T10:00",
        patient_name="Arbri Çela",
        phone_number="+355 69 123 4567",
    )
    assert first["status"] == again["status"] == "booked"
    # A caller cannot rename a patient by booking with their number.
    assert rows("SELECT name FROM patients") == [{"name": "Arbër Çela"}]
    owners = rows("SELECT DISTINCT patient_id FROM appointments")
    assert len(owners) == 1


@pytest.mark.asyncio
async def test_date_without_time_lists_that_days_free_slots(
    registry: ToolRegistry, ctx: ToolContext, rows: Rows
) -> None:
    result = await _book(registry, ctx, "2026-12-02")
    assert "needs a time" in result["error"]
    assert result["hint"]
    free = result["free_slots"]
    assert 0 < len(free) <= ctx.settings.clinic.max_slots_offered
    assert all(_start(s).date().isoformat() == "2026-12-02" for s in free)
    assert rows("SELECT id FROM appointments") == []


@pytest.mark.asyncio
async def test_a_taken_slot_is_refused_with_alternatives(
    registry: ToolRegistry,
    make_context: Callable[..., ToolContext],
    one_chair_clinic: ClinicProfile,
    rows: Rows,
) -> None:
    ctx = make_context(clinic=one_chair_clinic)
    assert (await _book(registry, ctx, "2026-12-02T10:00"))["status"] == "booked"
    result = await _book(registry, ctx, "2026-12-02T10:00", **BESA)
    assert result["error"].startswith("slot taken")
    assert result["hint"]
    alternatives = [_start(s) for s in result["nearest_free_slots"]]
    assert alternatives
    assert datetime.fromisoformat("2026-12-02T10:00+01:00") not in alternatives
    assert datetime.fromisoformat("2026-12-02T09:30+01:00") in alternatives
    assert len(rows("SELECT id FROM appointments")) == 1
    assert len(rows("SELECT id FROM patients")) == 1


@pytest.mark.asyncio
async def test_an_overlapping_longer_service_is_refused(
    registry: ToolRegistry,
    make_context: Callable[..., ToolContext],
    one_chair_clinic: ClinicProfile,
    rows: Rows,
) -> None:
    ctx = make_context(clinic=one_chair_clinic)
    assert (await _book(registry, ctx, "2026-12-02T10:30"))["status"] == "booked"
    # A 60-minute cleaning at 10:00 would run into the 10:30 check-up.
    result = await _book(registry, ctx, "2026-12-02T10:00", "cleaning", **BESA)
    assert result["error"].startswith("slot taken")
    assert len(rows("SELECT id FROM appointments")) == 1


@pytest.mark.asyncio
async def test_three_chairs_take_three_bookings_at_the_same_time(
    registry: ToolRegistry, ctx: ToolContext, rows: Rows
) -> None:
    people = [
        ARBER,
        BESA,
        {"patient_name": "Drita Hoxha", "phone_number": "067 555 1234"},
        {"patient_name": "Erion Leka", "phone_number": "069 765 4321"},
    ]
    results = [await _book(registry, ctx, "2026-12-02T10:00", **p) for p in people]
    assert [r.get("status") for r in results[:3]] == ["booked"] * 3
    assert results[3]["error"].startswith("slot taken")
    chairs = rows("SELECT chair FROM appointments ORDER BY chair")
    assert [c["chair"] for c in chairs] == [1, 2, 3]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("when", "start"),
    [
        ("tomorrow 10:00", "2026-12-02T10:00+01:00"),
        ("nesër 10:00", "2026-12-02T10:00+01:00"),
        ("Tomorrow at 15:30", "2026-12-02T15:30+01:00"),
        ("e hënë 15:00", "2026-12-07T15:00+01:00"),
        ("friday 9:00", "2026-12-04T09:00+01:00"),
        ("2026-12-02T09:00Z", "2026-12-02T10:00+01:00"),
    ],
)
async def test_relative_times_resolve_against_the_clock(
    registry: ToolRegistry, ctx: ToolContext, rows: Rows, when: str, start: str
) -> None:
    result = await _book(registry, ctx, when)
    assert result["status"] == "booked", result
    assert result["start"] == start
    [row] = rows("SELECT starts_at FROM appointments")
    assert datetime.fromisoformat(row["starts_at"]) == datetime.fromisoformat(start)


@pytest.mark.asyncio
async def test_tomorrow_moves_with_the_clock(
    registry: ToolRegistry, ctx: ToolContext, clock: Any
) -> None:
    clock.now = clock.now + timedelta(days=2)  # Thursday 3 December
    result = await _book(registry, ctx, "tomorrow 10:00")
    assert result["start"] == "2026-12-04T10:00+01:00"


# --- schedule_follow_up ---------------------------------------------------------------------


async def _follow_up(
    registry: ToolRegistry, ctx: ToolContext, when: str, reason: str = ""
) -> dict[str, Any]:
    args = {
        "client_name": "Arbër Çela",
        "phone_number": "069 123 4567",
        "preferred_time": when,
        "reason": reason,
    }
    return await registry.call("schedule_follow_up", args, ctx)


@pytest.mark.asyncio
async def test_follow_up_at_the_asked_time(
    registry: ToolRegistry, make_context: Callable[..., ToolContext], rows: Rows
) -> None:
    ctx = make_context(call_id="call-7")
    result = await _follow_up(registry, ctx, "2026-12-03T15:30", "  wants a price for implants ")
    assert result["status"] == "scheduled"
    assert result["call_back_at"] == "2026-12-03T15:30+01:00"
    [row] = rows("SELECT f.*, p.phone FROM follow_ups f JOIN patients p ON p.id = f.patient_id")
    assert row["id"] == result["follow_up_id"]
    assert row["due_at"] == "2026-12-03T14:30:00Z"
    assert row["status"] == "pending"
    assert row["reason"] == "wants a price for implants"
    assert row["source"] == "agent"
    assert row["call_id"] == "call-7"
    assert row["phone"] == "+355691234567"
    # A follow-up is not an appointment.
    assert rows("SELECT id FROM appointments") == []


@pytest.mark.asyncio
async def test_follow_up_without_reason_stores_null(
    registry: ToolRegistry, make_context: Callable[..., ToolContext], rows: Rows
) -> None:
    result = await _follow_up(registry, make_context(mode=ToolMode.ADMIN), "2026-12-03T15:30")
    assert result["status"] == "scheduled"
    assert rows("SELECT reason, source FROM follow_ups") == [{"reason": None, "source": "cli"}]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("when", "due"),
    [
        ("2026-12-05", "2026-12-05T09:00+01:00"),
        ("2026-12-03", "2026-12-03T09:00+01:00"),
        ("tomorrow", "2026-12-02T09:00+01:00"),
    ],
)
async def test_follow_up_on_a_date_is_at_opening_time(
    registry: ToolRegistry, ctx: ToolContext, rows: Rows, when: str, due: str
) -> None:
    result = await _follow_up(registry, ctx, when)
    assert result["call_back_at"] == due
    [row] = rows("SELECT due_at FROM follow_ups")
    assert datetime.fromisoformat(row["due_at"]) == datetime.fromisoformat(due)


@pytest.mark.asyncio
@pytest.mark.parametrize("when", ["2026-12-03T21:00", "2026-12-03T13:30", "2026-12-05T07:00"])
async def test_follow_up_outside_hours_offers_nearest_times(
    registry: ToolRegistry, ctx: ToolContext, rows: Rows, when: str
) -> None:
    result = await _follow_up(registry, ctx, when)
    assert "outside opening hours" in result["error"]
    assert result["hint"]
    times = [datetime.fromisoformat(t) for t in result["nearest_times"]]
    assert 0 < len(times) <= ctx.settings.clinic.max_slots_offered
    for moment in times:
        day = moment.date()
        assert any(start <= moment < end for start, end in ctx.calendar.open_intervals(day)), moment
    asked = datetime.fromisoformat(when + "+01:00")
    # The nearest times are near: within a day of the asked time.
    assert min(abs(t - asked) for t in times) < timedelta(days=1)
    assert rows("SELECT id FROM follow_ups") == []


@pytest.mark.asyncio
async def test_the_same_booking_again_returns_the_existing_appointment(
    registry: ToolRegistry, ctx: ToolContext, rows: Rows
) -> None:
    # E.g. the model did not hear the first answer because the patient talked over it.
    first = await _book(registry, ctx, "2026-12-02T10:00")
    again = await _book(registry, ctx, "2026-12-02T10:00")
    assert first["status"] == again["status"] == "booked"
    assert "already_booked" not in first
    assert again["already_booked"] is True
    assert again["appointment_id"] == first["appointment_id"]
    assert again["start"] == first["start"]
    assert len(rows("SELECT id FROM appointments")) == 1


@pytest.mark.asyncio
async def test_a_cancelled_booking_can_be_booked_again(
    registry: ToolRegistry, ctx: ToolContext, rows: Rows
) -> None:
    first = await _book(registry, ctx, "2026-12-02T10:00")
    await ctx.store.appointments.set_status(
        appointment_id=first["appointment_id"], status="cancelled"
    )
    again = await _book(registry, ctx, "2026-12-02T10:00")
    assert again["status"] == "booked"
    assert "already_booked" not in again
    assert again["appointment_id"] != first["appointment_id"]
    assert len(rows("SELECT id FROM appointments")) == 2


@pytest.mark.asyncio
@pytest.mark.parametrize("bound", [True, False])
async def test_no_callback_to_a_number_on_the_do_not_call_list(
    registry: ToolRegistry, make_context: Callable[..., ToolContext], rows: Rows, bound: bool
) -> None:
    # A patient on the list who calls the clinic is answered, but never called back: neither
    # on the call's own number nor on one given in an unbound call.
    ctx = make_context(call_id="in-1", phone="+355691234567" if bound else None)
    await ctx.store.dnc.add(phone="+355691234567", reason="asked", source="agent")
    result = await _follow_up(registry, ctx, "2026-12-03T15:30")
    assert result["error"] == "the clinic does not call this number back"
    assert "+35542223344" in result["hint"]
    assert rows("SELECT id FROM follow_ups") == []
    # Staff at the command line decide for themselves.
    staff = make_context(mode=ToolMode.ADMIN)
    assert (await _follow_up(registry, staff, "2026-12-03T15:30"))["status"] == "scheduled"
