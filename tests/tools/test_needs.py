"""assess_client_needs: a deterministic mapping from what the patient says to services and slots."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from tools.context import ToolContext
from tools.needs import parse_availability
from tools.registry import ToolRegistry


async def _assess(registry: ToolRegistry, ctx: ToolContext, **args: str) -> dict[str, Any]:
    return await registry.call("assess_client_needs", args, ctx)


def _ids(result: dict[str, Any]) -> list[str]:
    return [s["id"] for s in result["recommended_services"]]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("args", "top", "urgent"),
    [
        ({"dental_concerns": "më dhemb dhëmbi"}, "emergency", True),
        ({"dental_concerns": "me dhemb dhembi"}, "emergency", True),
        ({"dental_concerns": "I have a terrible toothache"}, "emergency", True),
        ({"client_interest": "dua zbardhim"}, "whitening", False),
        ({"client_interest": "braces"}, "orthodontic_consultation", False),
        ({"client_interest": "a cleaning", "dental_concerns": "tartar"}, "cleaning", False),
        ({"dental_concerns": "kam humbur një dhëmb, dua implant"}, "implant_consultation", False),
        ({"client_interest": "wisdom tooth extraction"}, "extraction", False),
        ({"client_interest": "dua zbardhim", "dental_concerns": "por më dhemb"}, "emergency", True),
        # "dhëmb" is a tooth, "dhemb" is pain: mentioning teeth is not an emergency.
        ({"client_interest": "dua zbardhim dhëmbësh"}, "whitening", False),
        ({"dental_concerns": "kam një dhëmb të thyer"}, "emergency", True),
        # Italian patients (issue 13): the sample profile's Italian keywords.
        ({"dental_concerns": "ho un forte mal di denti"}, "emergency", True),
        ({"client_interest": "vorrei uno sbiancamento"}, "whitening", False),
        ({"client_interest": "una pulizia", "dental_concerns": "tartaro"}, "cleaning", False),
        (
            {"client_interest": "mi manca un dente, vorrei un impianto"},
            "implant_consultation",
            False,
        ),
        ({"client_interest": "apparecchio per mia figlia"}, "orthodontic_consultation", False),
        ({"dental_concerns": "ho una carie"}, "filling", False),
    ],
)
async def test_concerns_map_to_services(
    registry: ToolRegistry, ctx: ToolContext, args: dict[str, str], top: str, urgent: bool
) -> None:
    result = await _assess(registry, ctx, **args)
    assert _ids(result)[0] == top
    assert result["urgent"] is urgent
    assert result["recommended_services"][0]["matched_keywords"] >= 1
    if urgent:
        assert "emergency" in result["hint"].casefold()


@pytest.mark.asyncio
async def test_urgent_services_lead_but_others_are_kept(
    registry: ToolRegistry, ctx: ToolContext
) -> None:
    result = await _assess(
        registry, ctx, client_interest="dua zbardhim", dental_concerns="por më dhemb"
    )
    assert _ids(result) == ["emergency", "whitening"]


@pytest.mark.asyncio
async def test_nothing_matched_suggests_a_checkup(registry: ToolRegistry, ctx: ToolContext) -> None:
    result = await _assess(registry, ctx, client_interest="I would like to come in sometime")
    assert _ids(result) == ["checkup"]
    assert result["recommended_services"][0]["matched_keywords"] == 0
    assert result["urgent"] is False
    assert "check-up" in result["hint"]
    assert len(result["suggested_slots"]) == 3


@pytest.mark.asyncio
async def test_recommendations_carry_prices_as_integers(
    registry: ToolRegistry, ctx: ToolContext
) -> None:
    result = await _assess(registry, ctx, client_interest="zbardhim")
    whitening = result["recommended_services"][0]
    assert whitening["price_lek"] == 20000
    assert whitening["price_eur_cents"] == 20000
    assert all(isinstance(whitening[k], int) for k in ("price_lek", "price_eur_cents"))
    assert whitening["duration_minutes"] == 60


@pytest.mark.asyncio
async def test_without_availability_the_earliest_slots_are_suggested(
    registry: ToolRegistry, ctx: ToolContext
) -> None:
    result = await _assess(registry, ctx, client_interest="kontroll")
    starts = [s["start"] for s in result["suggested_slots"]]
    # Today (1 December) is a public holiday, so Wednesday opens the list.
    assert starts == ["2026-12-02T09:00+01:00", "2026-12-02T09:30+01:00", "2026-12-02T10:00+01:00"]
    assert result["availability"] == {"periods": ["any"], "weekdays": ["any"]}


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("availability", "fits", "periods", "weekdays"),
    [
        ("mbrëmje", lambda t: t.hour >= 17, ["evening"], ["any"]),
        ("after 17", lambda t: t.hour >= 17, ["evening"], ["any"]),
        ("pas orës 17", lambda t: t.hour >= 17, ["evening"], ["any"]),
        ("saturday morning", lambda t: t.weekday() == 5 and t.hour < 12, ["morning"], ["sat"]),
        ("e shtunë paradite", lambda t: t.weekday() == 5 and t.hour < 12, ["morning"], ["sat"]),
        ("pasdite", lambda t: 12 <= t.hour < 17, ["afternoon"], ["any"]),
        (
            "weekday mornings",
            lambda t: t.weekday() < 5 and t.hour < 12,
            ["morning"],
            ["mon", "tue", "wed", "thu", "fri"],
        ),
        ("monday or thursday", lambda t: t.weekday() in (0, 3), [], ["mon", "thu"]),
    ],
)
async def test_availability_filters_suggested_slots(
    registry: ToolRegistry,
    ctx: ToolContext,
    availability: str,
    fits: Any,
    periods: list[str],
    weekdays: list[str],
) -> None:
    result = await _assess(
        registry, ctx, dental_concerns="më dhemb dhëmbi", time_availability=availability
    )
    assert result["availability"]["periods"] == (periods or ["any"])
    assert result["availability"]["weekdays"] == weekdays
    slots = result["suggested_slots"]
    assert len(slots) == 3
    for slot in slots:
        start = datetime.fromisoformat(slot["start"])
        assert fits(start), slot
        assert start > ctx.now()


@pytest.mark.asyncio
async def test_evening_suggestions_are_the_first_evening_slots(
    registry: ToolRegistry, ctx: ToolContext
) -> None:
    result = await _assess(
        registry, ctx, dental_concerns="më dhemb dhëmbi", time_availability="mbrëmje"
    )
    assert [s["start"] for s in result["suggested_slots"]] == [
        "2026-12-02T17:00+01:00",
        "2026-12-02T17:30+01:00",
        "2026-12-02T18:00+01:00",
    ]


@pytest.mark.asyncio
async def test_same_input_gives_the_same_output(registry: ToolRegistry, ctx: ToolContext) -> None:
    args = {
        "client_interest": "zbardhim dhe pastrim",
        "dental_concerns": "kam gurëz dhe njolla",
        "time_availability": "e shtunë",
    }
    first = await _assess(registry, ctx, **args)
    second = await _assess(registry, ctx, **args)
    assert first == second
    assert _ids(first)[:2] == ["cleaning", "whitening"]


@pytest.mark.asyncio
async def test_suggested_slots_skip_taken_ones(registry: ToolRegistry, ctx: ToolContext) -> None:
    # Fill all three chairs at the first opening.
    people = (("Besa Krasniqi", "068 222 3333"), ("Drita Hoxha", "067 555 1234"))
    for person, phone in (*people, ("Erion Leka", "069 765 4321")):
        booked = await registry.call(
            "schedule_appointment",
            {
                "patient_name": person,
                "phone_number": phone,
                "preferred_date": "2026-12-02T09:00",
                "service_type": "checkup",
            },
            ctx,
        )
        assert booked["status"] == "booked"
    result = await _assess(registry, ctx, client_interest="kontroll")
    assert result["suggested_slots"][0]["start"] == "2026-12-02T09:30+01:00"


@pytest.mark.asyncio
@pytest.mark.parametrize("args", [{}, {"time_availability": "mbrëmje"}, {"client_interest": "  "}])
async def test_something_to_assess_is_required(
    registry: ToolRegistry, ctx: ToolContext, args: dict[str, str]
) -> None:
    result = await registry.call("assess_client_needs", args, ctx)
    assert "client_interest or dental_concerns" in result["error"]
    assert result["hint"]


@pytest.mark.parametrize(
    ("text", "periods", "weekdays"),
    [
        ("", set(), set()),
        ("whenever", set(), set()),
        ("after 13", {"afternoon", "evening"}, set()),
        ("pas pune", {"evening"}, set()),
        ("fundjavë", set(), {5}),
        ("e hënë në mëngjes", {"morning"}, {0}),
        ("të hënën", set(), {0}),
        ("weekdays after 18", {"evening"}, {0, 1, 2, 3, 4}),
        ("10am or 3 pm", {"morning", "afternoon"}, set()),
        # Day and period words count only as whole words: not "hene" in "whenever" (Monday),
        # "marte" in "smarter" (Tuesday) or "am" in "I am" (morning).
        ("whenever suits you", set(), set()),
        ("I am smarter on friday", set(), {4}),
        # Italian.
        ("sabato mattina", {"morning"}, {5}),
        ("in settimana dopo le 17", {"evening"}, {0, 1, 2, 3, 4}),
        ("giovedì pomeriggio", {"afternoon"}, {3}),
        ("la sera, dopo il lavoro", {"evening"}, set()),
        ("nel fine settimana", set(), {5}),
    ],
)
def test_parse_availability(text: str, periods: set[str], weekdays: set[int]) -> None:
    parsed = parse_availability(text)
    assert parsed.periods == periods
    assert parsed.weekdays == weekdays
