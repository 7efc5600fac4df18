"""Helpers shared by tool handlers: argument base model, catalogue look-ups, formatting."""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

from config.clinic import Service
from storage import Booked, SlotTaken
from storage.models import Source
from tools.context import ToolContext, ToolMode
from validation.errors import InputError
from validation.text import fold, strip_invisible


class ToolArgs(BaseModel):
    """Base of every argument model: strict types, unknown fields refused, text trimmed.

    Every string argument of every tool (also inside lists) loses its invisible characters and is
    put in NFC before any other check, so no handler sees text a person reading the record
    could not.
    """

    model_config = ConfigDict(extra="forbid", strict=True, str_strip_whitespace=True)

    @field_validator("*", mode="before")
    @classmethod
    def _visible_text(cls, value: Any) -> Any:
        return _visible(value)


# Longer raw text is left for the field's max_length check to refuse, without cleaning it first.
_MAX_CLEANED = 16_384


def _visible(value: Any) -> Any:
    if isinstance(value, str):
        return strip_invisible(value) if len(value) <= _MAX_CLEANED else value
    if isinstance(value, list):
        return [_visible(item) for item in value]
    return value


def find_service(ctx: ToolContext, service_type: str, *, field: str = "service_type") -> Service:
    """Look a service up by id or by its name in any of the profile's languages.

    Raises:
        InputError: Not in the catalogue; the result lists the valid services.
    """
    wanted = service_type.strip().casefold()
    for service in ctx.clinic.services:
        if wanted == service.id or wanted in (name.casefold() for name in service.name.texts()):
            return service
    raise InputError(
        field,
        "is not a service this clinic offers",
        "Pick one of valid_services (use its id).",
        {"valid_services": [service_summary(ctx, s) for s in ctx.clinic.services]},
    )


def service_summary(ctx: ToolContext, service: Service) -> dict[str, Any]:
    """A service as the model sees it."""
    return {
        "id": service.id,
        "name": service.name.get(ctx.language),
        "duration_minutes": service.duration_minutes,
        "price_lek": service.price_lek,
        "price_eur_cents": ctx.clinic.euro_cents(service.price_lek),
    }


def keyword_in(keyword: str, text: str) -> bool:
    """Whether ``keyword`` starts a word of ``text``, case-insensitively.

    A letter the keyword writes with a diacritic also matches without it (people and speech to
    text drop them), but a diacritic written in the text must be the keyword's: the keyword
    "dhemb" (it hurts) does not match "dhëmb" (tooth), which folding both sides would.
    """
    return (
        _keyword_pattern(keyword).search(unicodedata.normalize("NFC", text).casefold()) is not None
    )


@lru_cache(maxsize=4096)
def _keyword_pattern(keyword: str) -> re.Pattern[str]:
    parts = []
    for char in unicodedata.normalize("NFC", keyword.casefold()):
        plain = fold(char)
        if plain and plain != char:
            parts.append(f"(?:{re.escape(char)}|{re.escape(plain)})")
        else:
            parts.append(re.escape(char))
    return re.compile(r"\b" + "".join(parts))


async def book_service(
    ctx: ToolContext,
    *,
    service: Service,
    start: datetime,
    phone: str,
    name: str,
    source: Source,
    legacy_key: str | None = None,
) -> Booked | SlotTaken:
    """Book ``service`` at ``start`` for a validated patient in the context's clinic and call."""
    return await ctx.store.appointments.book(
        phone=phone,
        name=name,
        service_id=service.id,
        starts_at=start,
        ends_at=start + timedelta(minutes=service.duration_minutes),
        slot=ctx.clinic.slot,
        chairs=ctx.clinic.chairs,
        price_lek=service.price_lek,
        source=source,
        call_id=ctx.call_id,
        language=ctx.language,
        legacy_key=legacy_key,
    )


async def callback_barred(ctx: ToolContext, phone: str) -> bool:
    """Whether the clinic may never call ``phone`` back: it is on the do-not-call list.

    A patient on the list who calls the clinic is answered (they called), but a callback is a
    call the clinic places: schedule_follow_up refuses it, and a failed transfer leaves none.
    Staff at the command line decide for themselves.

    Args:
        ctx: The tool context (a patient call, or staff).
        phone: The E.164 number a callback would go to.
    """
    return ctx.mode is ToolMode.CALL and await ctx.store.dnc.is_listed(phone=phone)


def no_callback_hint(ctx: ToolContext) -> str:
    """What the model tells a caller the clinic will not call back."""
    return (
        "Nothing was recorded: this number is on the do-not-call list, so the clinic never calls"
        " it back. Help the caller now if you can (e.g. book with schedule_appointment), or ask"
        f" them to call the clinic again at {ctx.clinic.phone} when it suits them."
    )
