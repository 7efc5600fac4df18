"""assess_client_needs: map what the patient says to catalogue services, deterministically."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from pydantic import Field, model_validator

from config.clinic import Service
from tools.common import ToolArgs, keyword_in, service_summary
from tools.context import ToolContext
from tools.registry import ToolResult
from validation.text import clean_text, fold


class AssessClientNeedsArgs(ToolArgs):
    """Arguments of assess_client_needs."""

    client_interest: str = Field(
        default="", max_length=500, description="What the patient is interested in, in their words."
    )
    dental_concerns: str = Field(
        default="", max_length=1000, description="Symptoms or problems the patient mentions."
    )
    time_availability: str = Field(
        default="",
        max_length=200,
        description=(
            "When the patient can come, e.g. 'weekday mornings', 'e shtunë', 'sabato mattina',"
            " 'after 17'."
        ),
    )

    @model_validator(mode="after")
    def _something_to_assess(self) -> AssessClientNeedsArgs:
        if not (self.client_interest or self.dental_concerns):
            raise ValueError("give client_interest or dental_concerns")
        return self


# Regex sources matched at the start of a word of the folded text ("hene", Monday, is not the one
# in "whenever"); "am"/"pm" count only after an hour, not in "I am".
_PERIODS = {
    "morning": ("morning", "mengjes", "paradite", "early", "heret", "mattin", r"\d{1,2} ?am\b"),
    "afternoon": (
        "afternoon",
        "pasdite",
        "drek",
        "lunch",
        "pomeriggio",
        "pranzo",
        r"\d{1,2} ?pm\b",
    ),
    "evening": (
        "evening",
        "mbremje",
        "after work",
        "pas pune",
        "late",
        "vone",
        "sera",
        "dopo il lavoro",
        "tardi",
    ),
}
_DAY_WORDS = {
    0: ("monday", "hene", "lunedi"),
    1: ("tuesday", "marte", "martedi"),
    2: ("wednesday", "merkure", "mercoledi"),
    3: ("thursday", "enjte", "giovedi"),
    4: ("friday", "premte", "venerdi"),
    5: ("saturday", "shtune", "weekend", "fundjave", "sabato", "fine settimana"),
    6: ("sunday", "diel", "domenica"),
}
_WEEKDAY_WORDS = (
    "weekday",
    "gjate javes",
    "dite pune",
    "ditet e javes",
    "work day",
    "giorni feriali",
    "in settimana",
    "durante la settimana",
)


@dataclass(frozen=True)
class Availability:
    """When the patient said they can come."""

    periods: frozenset[str]
    weekdays: frozenset[int]

    def accepts(self, hour: int, weekday: int) -> bool:
        """Whether a start at this local hour and weekday fits."""
        if self.weekdays and weekday not in self.weekdays:
            return False
        if not self.periods:
            return True
        period = "morning" if hour < 12 else "afternoon" if hour < 17 else "evening"
        return period in self.periods

    def describe(self) -> dict[str, list[str]]:
        """JSON-ready form."""
        names = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        return {
            "periods": sorted(self.periods) or ["any"],
            "weekdays": [names[d] for d in sorted(self.weekdays)] or ["any"],
        }


def parse_availability(text: str) -> Availability:
    """Read periods of the day and weekdays from a free-text availability."""
    folded = f" {fold(text)} "
    periods = {p for p, words in _PERIODS.items() if _mentions(folded, words)}
    days = {d for d, words in _DAY_WORDS.items() if _mentions(folded, words)}
    if _mentions(folded, _WEEKDAY_WORDS):
        days |= {0, 1, 2, 3, 4}
    after = re.search(
        r"(?:after|pas|from|nga|dopo|dalle) (?:ores |le ore |le |ore )?(\d{1,2})", folded
    )
    if after and int(after.group(1)) >= 17:
        periods.add("evening")
    elif after and int(after.group(1)) >= 12:
        periods |= {"afternoon", "evening"}
    return Availability(periods=frozenset(periods), weekdays=frozenset(days))


def _mentions(folded: str, patterns: tuple[str, ...]) -> bool:
    return any(re.search(r"(?<!\w)(?:" + pattern + ")", folded) for pattern in patterns)


def rank_services(services: tuple[Service, ...], text: str) -> list[tuple[Service, int]]:
    """Services whose keywords occur in ``text``, best first; urgent services lead."""
    scored = []
    for index, service in enumerate(services):
        hits = sum(1 for keyword in service.keywords if keyword_in(keyword, text))
        if hits:
            scored.append((not service.urgent, -hits, index, service, hits))
    scored.sort(key=lambda item: item[:3])
    return [(item[3], item[4]) for item in scored]


async def assess_client_needs(args: AssessClientNeedsArgs, ctx: ToolContext) -> ToolResult:
    """Recommend services for the patient's concerns and suggest slots that fit their time."""
    interest = clean_text(
        args.client_interest, field="client_interest", max_length=500, required=False
    )
    concerns = clean_text(
        args.dental_concerns, field="dental_concerns", max_length=1000, required=False
    )
    availability = parse_availability(
        clean_text(
            args.time_availability, field="time_availability", max_length=200, required=False
        )
    )
    ranked = rank_services(ctx.clinic.services, f"{interest} {concerns}")
    matched = bool(ranked)
    if not ranked:
        ranked = [(ctx.clinic.services[0], 0)]
    urgent = any(service.urgent for service, _ in ranked)
    top = ranked[0][0]
    now = ctx.now()
    duration = timedelta(minutes=top.duration_minutes)
    suggestions = []
    for slot in await ctx.slots.next_free(now, duration, now, count=60, max_days=21):
        if availability.accepts(slot.start.hour, slot.start.weekday()):
            suggestions.append(slot.to_result())
            if len(suggestions) == 3:
                break
    if urgent:
        advice = "Possible dental emergency: offer the earliest emergency visit."
    elif matched:
        advice = "Explain the recommended service and offer one of suggested_slots."
    else:
        advice = "No specific match: a general check-up is the right first step."
    return {
        "recommended_services": [
            {**service_summary(ctx, service), "matched_keywords": hits}
            for service, hits in ranked[:3]
        ],
        "urgent": urgent,
        "availability": availability.describe(),
        "suggested_slots": suggestions,
        "hint": advice,
    }
