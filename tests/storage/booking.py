"""Booking helpers shared by the storage tests (and the staff CLI tests)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from storage import Booked, SlotTaken, Store
from tests.conftest import TIRANE

PHONE = "+355691234567"
OTHER = "+355682223344"
SLOT = timedelta(minutes=30)
# Wednesday 2 December 2026, the day after the fixed clock's "today".
WED_10 = datetime(2026, 12, 2, 10, 0, tzinfo=TIRANE)


def at(hour: int, minute: int = 0, day: int = 2) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=TIRANE)


def phone(n: int) -> str:
    """A distinct valid Albanian mobile number per n."""
    return f"+35569{n:07d}"


async def book(
    store: Store,
    *,
    start: datetime = WED_10,
    minutes: int = 30,
    chairs: int = 1,
    number: str = PHONE,
    name: str = "Arta Hoxha",
    price: int = 2000,
    source: str = "agent",
    **extra: Any,
) -> Booked | SlotTaken:
    return await store.appointments.book(
        phone=number,
        name=name,
        service_id="checkup",
        starts_at=start,
        ends_at=start + timedelta(minutes=minutes),
        slot=SLOT,
        chairs=chairs,
        price_lek=price,
        source=source,  # type: ignore[arg-type]
        **extra,
    )
