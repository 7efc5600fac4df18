"""Read-only clinic facts: get_clinic_info and get_payment_info."""

from __future__ import annotations

from datetime import timedelta

from tools.common import ToolArgs, service_summary
from tools.context import ToolContext
from tools.registry import ToolResult

_DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class NoArgs(ToolArgs):
    """A tool that takes no arguments."""


async def get_clinic_info(args: NoArgs, ctx: ToolContext) -> ToolResult:
    """The clinic's address, contacts, hours, services and closures in the next weeks."""
    clinic, lang = ctx.clinic, ctx.language
    today = ctx.now().date()
    closures = []
    for offset in range(30):
        day = today + timedelta(days=offset)
        reason = ctx.calendar.closure_reason(day)
        # Weekly closed days are already in the hours; list only dated closures.
        if reason and clinic.intervals_on(day):
            closures.append({"date": day.isoformat(), "reason": reason})
    return {
        "name": clinic.name,
        "address": clinic.address,
        "phone": clinic.phone,
        "email": clinic.email,
        "website": clinic.website,
        "time_zone": clinic.time_zone,
        "opening_hours": {
            day: [f"{i.start:%H:%M}-{i.end:%H:%M}" for i in clinic.opening_hours[day]] or "closed"
            for day in _DAY_NAMES
        },
        "closures_next_30_days": closures,
        "services": [service_summary(ctx, s) for s in clinic.services],
        "faq": [
            {"question": f.question.get(lang), "answer": f.answer.get(lang)} for f in clinic.faq
        ],
    }


async def get_payment_info(args: NoArgs, ctx: ToolContext) -> ToolResult:
    """Payment methods, instalment plans and prices."""
    clinic, lang = ctx.clinic, ctx.language
    return {
        "currency": "ALL (lek)",
        "lek_per_euro": clinic.lek_per_euro,
        "methods": [m.get(lang) for m in clinic.payment.methods],
        "instalment_plans": [
            {
                "months": p.months,
                "min_total_lek": p.min_total_lek,
                "interest_percent": p.interest_percent,
                "note": p.note.get(lang) if p.note else None,
            }
            for p in clinic.payment.instalment_plans
        ],
        "notes": clinic.payment.notes.get(lang) if clinic.payment.notes else None,
        "prices": [service_summary(ctx, s) for s in clinic.services],
    }
