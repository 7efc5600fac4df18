"""get_clinic_info and get_payment_info: facts from the clinic profile, in the call's language."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from config.clinic import ClinicProfile
from tools.context import ToolContext
from tools.registry import ToolRegistry


def _money(value: Any, path: str = "") -> list[tuple[str, Any]]:
    """Every (path, value) whose key names an amount of money, at any depth."""
    found = []
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{path}.{key}"
            if key.endswith(("_lek", "_cents")) or key == "lek_per_euro":
                found.append((here, item))
            found += _money(item, here)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _money(item, f"{path}[{index}]")
    return found


@pytest.mark.asyncio
async def test_clinic_info_comes_from_the_profile(
    registry: ToolRegistry, ctx: ToolContext, clinic: ClinicProfile
) -> None:
    info = await registry.call("get_clinic_info", None, ctx)
    assert info["name"] == "Klinika Dentare Buzëqeshja"
    assert info["address"] == clinic.address
    assert info["phone"] == "+35542223344"
    assert info["email"] == "info@buzeqeshja.example"
    assert info["website"] == "https://buzeqeshja.example"
    assert info["time_zone"] == "Europe/Tirane"
    assert info["opening_hours"]["mon"] == ["09:00-13:00", "14:00-19:00"]
    assert info["opening_hours"]["fri"] == ["09:00-13:00", "14:00-18:00"]
    assert info["opening_hours"]["sat"] == ["09:00-14:00"]
    assert info["opening_hours"]["sun"] == "closed"
    assert [s["id"] for s in info["services"]] == clinic.service_ids
    assert len(info["faq"]) == len(clinic.faq)


@pytest.mark.asyncio
async def test_prices_are_integers_in_lek_and_euro_cents(
    registry: ToolRegistry, ctx: ToolContext
) -> None:
    info = await registry.call("get_clinic_info", None, ctx)
    payment = await registry.call("get_payment_info", None, ctx)
    money = _money(info) + _money(payment)
    assert len(money) > 20
    for path, value in money:
        assert type(value) is int, path
    whitening = next(s for s in info["services"] if s["id"] == "whitening")
    assert whitening["price_lek"] == 20000
    # 20 000 lek at 100 lek per euro: 200 euro.
    assert whitening["price_eur_cents"] == 20000


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("rate", "lek", "cents"),
    [(97, 2000, 2062), (97, 15000, 15464), (110, 3000, 2727), (1, 5, 500)],
)
async def test_euro_cents_follow_the_profile_rate(
    registry: ToolRegistry,
    make_context: Callable[..., ToolContext],
    clinic: ClinicProfile,
    rate: int,
    lek: int,
    cents: int,
) -> None:
    services = [
        {**s.model_dump(), "price_lek": lek} if s.id == "checkup" else s.model_dump()
        for s in clinic.services
    ]
    other = ClinicProfile.model_validate(
        {**clinic.model_dump(), "lek_per_euro": rate, "services": services}
    )
    info = await registry.call("get_payment_info", None, make_context(clinic=other))
    checkup = next(s for s in info["prices"] if s["id"] == "checkup")
    assert checkup["price_lek"] == lek
    assert checkup["price_eur_cents"] == cents
    assert info["lek_per_euro"] == rate


@pytest.mark.asyncio
async def test_closures_in_the_next_30_days(registry: ToolRegistry, ctx: ToolContext) -> None:
    info = await registry.call("get_clinic_info", None, ctx)
    closures = {c["date"]: c["reason"] for c in info["closures_next_30_days"]}
    assert "2026-12-08" in closures  # National Youth Day
    assert "public holiday" in closures["2026-12-08"]
    assert "2026-12-24" in closures  # a clinic closed date
    assert closures["2026-12-24"] == "the clinic is closed that day"
    assert "2026-12-25" in closures  # Christmas
    # Today is the observed Liberation Day; 31 December is 30 days out, beyond the window.
    assert "2026-12-01" in closures
    assert "2026-12-31" not in closures
    # Sundays are in the weekly hours, not listed as closures.
    assert "2026-12-06" not in closures
    assert list(closures) == sorted(closures)


@pytest.mark.asyncio
async def test_closures_window_moves_with_the_clock(
    registry: ToolRegistry, ctx: ToolContext, clock: Any
) -> None:
    clock.now = clock.now.replace(day=20)
    info = await registry.call("get_clinic_info", None, ctx)
    dates = [c["date"] for c in info["closures_next_30_days"]]
    assert "2026-12-08" not in dates
    assert "2026-12-31" in dates
    assert "2027-01-01" in dates


@pytest.mark.asyncio
async def test_info_speaks_the_call_language(
    registry: ToolRegistry, make_context: Callable[..., ToolContext]
) -> None:
    sq = await registry.call("get_clinic_info", None, make_context(language="sq"))
    en = await registry.call("get_clinic_info", None, make_context(language="en-US"))
    assert sq["services"][0]["name"] == "Kontroll i përgjithshëm"
    assert en["services"][0]["name"] == "General check-up"
    assert sq["faq"][0]["question"] == "Ku ndodhet klinika?"
    assert en["faq"][0]["question"] == "Where is the clinic?"
    sq_closures = {c["date"]: c["reason"] for c in sq["closures_next_30_days"]}
    en_closures = {c["date"]: c["reason"] for c in en["closures_next_30_days"]}
    assert sq_closures.keys() == en_closures.keys()
    assert sq_closures["2026-12-08"] == "public holiday (Dita Kombëtare e Rinisë)"
    assert en_closures["2026-12-08"] == "public holiday (National Youth Day)"
    # Facts that are not text stay the same.
    assert sq["opening_hours"] == en["opening_hours"]
    assert [s["price_lek"] for s in sq["services"]] == [s["price_lek"] for s in en["services"]]


@pytest.mark.asyncio
async def test_payment_info_comes_from_the_profile(
    registry: ToolRegistry, ctx: ToolContext, clinic: ClinicProfile
) -> None:
    info = await registry.call("get_payment_info", {}, ctx)
    assert info["currency"] == "ALL (lek)"
    assert info["lek_per_euro"] == 100
    assert info["methods"] == [m.sq for m in clinic.payment.methods]
    assert any("Visa" in m for m in info["methods"])
    plans = info["instalment_plans"]
    assert [(p["months"], p["min_total_lek"], p["interest_percent"]) for p in plans] == [
        (3, 30000, 0),
        (6, 60000, 0),
        (12, 120000, 5),
    ]
    assert plans[0]["note"] == "Pa interes për trajtime mbi 30 000 lekë."
    assert info["notes"].startswith("Pagesa bëhet")
    assert [p["id"] for p in info["prices"]] == clinic.service_ids
    assert [p["price_lek"] for p in info["prices"]] == [s.price_lek for s in clinic.services]


@pytest.mark.asyncio
async def test_payment_info_in_english(
    registry: ToolRegistry, make_context: Callable[..., ToolContext]
) -> None:
    info = await registry.call("get_payment_info", None, make_context(language="en"))
    assert info["methods"][0] == "Cash (lek or euro)"
    assert info["instalment_plans"][2]["note"].startswith("5% annual interest")
    assert info["notes"].startswith("Payment is due")
    assert info["prices"][0]["name"] == "General check-up"


@pytest.mark.asyncio
async def test_optional_profile_parts_may_be_absent(
    registry: ToolRegistry, make_context: Callable[..., ToolContext], clinic: ClinicProfile
) -> None:
    data = clinic.model_dump()
    data["payment"] = {"methods": [{"sq": "Para në dorë", "en": "Cash"}]}
    data.update(email=None, website=None, faq=[], closed_dates=[], observe_public_holidays=False)
    bare = ClinicProfile.model_validate(data)
    ctx = make_context(clinic=bare)
    payment = await registry.call("get_payment_info", None, ctx)
    assert payment["methods"] == ["Para në dorë"]
    assert payment["instalment_plans"] == []
    assert payment["notes"] is None
    info = await registry.call("get_clinic_info", None, ctx)
    assert info["email"] is None and info["faq"] == []
    assert info["closures_next_30_days"] == []
