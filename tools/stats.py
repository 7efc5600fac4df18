"""get_clinic_stats: aggregate numbers only, never patient records."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field, field_validator

from tools.common import ToolArgs
from tools.context import ToolContext
from tools.registry import ToolResult


class ClinicStatsArgs(ToolArgs):
    """Arguments of get_clinic_stats."""

    # Not strict: Gemini sends JSON numbers as doubles (30.0), which lax mode accepts as 30.
    days: int = Field(
        default=30, ge=1, le=3660, strict=False, description="Period in days, ending today."
    )

    @field_validator("days", mode="before")
    @classmethod
    def _number_only(cls, value: object) -> object:
        # Lax mode would also take "30" or true; only numbers are meant.
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError("must be a whole number")
        return value


async def get_clinic_stats(args: ClinicStatsArgs, ctx: ToolContext) -> ToolResult:
    """Calls, bookings, revenue and conversion over the last ``days`` days."""
    today = ctx.now().date()
    first = today - timedelta(days=args.days - 1)
    stats = await ctx.store.calls.stats(first_day=first, last_day=today)
    return {
        "period": {"from": first.isoformat(), "to": today.isoformat(), "days": args.days},
        "total_calls": stats.total_calls,
        "appointments_booked": stats.appointments_booked,
        "revenue_generated_lek": stats.revenue_generated,
        "conversion_rate": stats.conversion_rate,
        "upcoming_appointments": stats.upcoming_appointments,
        "pending_follow_ups": stats.pending_follow_ups,
    }
