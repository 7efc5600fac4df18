"""``elo dnc``: the do-not-call list at the command line.

Entries added here have the source ``cli``; ``list`` shows every entry with its source: ``agent``
(the patient asked in a call), ``cli``, ``import`` or ``web`` (staff on the dashboard).
"""

from __future__ import annotations

import argparse
from typing import Any

from app.application import open_application
from cli.failures import UsageError
from cli.runtime import parse_phone
from config.settings import AppSettings
from tools.context import ToolMode


async def run(args: argparse.Namespace, settings: AppSettings) -> dict[str, Any]:
    """``elo dnc add|remove|list``: full E.164 numbers, as this is the clinic's own tool."""
    if args.dnc_command == "list":
        async with open_application(settings) as app:
            ctx = app.tool_context(mode=ToolMode.ADMIN)
            entries = await ctx.store.dnc.list()
            hashed = await ctx.store.dnc.count_hashed()
        # Erased people stay blocked by a keyed hash that cannot be listed back as a number.
        return {
            "count": len(entries),
            "entries": [e.model_dump(mode="json") for e in entries],
            "erased_numbers_blocked": hashed,
        }
    phone = parse_phone(args.phone, settings)
    reason = _reason(getattr(args, "reason", None))
    async with open_application(settings) as app:
        ctx = app.tool_context(mode=ToolMode.ADMIN)
        if args.dnc_command == "remove":
            return {"phone": phone, "removed": await ctx.store.dnc.remove(phone=phone)}
        already = await ctx.store.dnc.is_listed(phone=phone)
        entry = await ctx.store.dnc.add(phone=phone, reason=reason, source="cli")
    return {
        "status": "already_listed" if already else "added",
        "entry": entry.model_dump(mode="json"),
    }


def _reason(raw: str | None) -> str | None:
    from validation import InputError, clean_text

    if raw is None:
        return None
    try:
        return clean_text(raw, field="--reason", max_length=500, required=False) or None
    except InputError as exc:
        raise UsageError(str(exc)) from None
