"""Elo's agent entry point: ``python bot.py`` (or ``make run``).

The voice pipeline (LiveKit transport, Silero VAD, Gemini Live) is built in the next milestone.
Until then this entry point prepares and checks everything beneath it: settings, logging, the
clinic profile, the database (migrated) and the tool schemas the model will receive, and says what
is missing to place a call.
"""

from __future__ import annotations

import asyncio
import sys

from config.logs import configure_logging
from config.settings import AppSettings, ConfigError, load_settings
from storage.store import StoreError


async def _prepare(settings: AppSettings) -> int:
    from loguru import logger

    from cli.runtime import open_context
    from tools.catalog import default_registry
    from tools.context import ToolMode

    async with open_context(settings, mode=ToolMode.CALL) as ctx:
        schemas = default_registry().function_schemas(
            ctx.clinic,
            mode=ToolMode.CALL,
            expose_confidential=settings.security.expose_stats_to_model,
        )
        logger.info(
            "clinic '{}' ready: database {} (schema {}), {} tools offered to the model",
            ctx.clinic.name,
            settings.database.path,
            await ctx.store.schema_version(),
            len(schemas),
        )
    missing = [
        name
        for name, value in (
            ("ELO_LIVEKIT__URL", settings.livekit.url),
            ("ELO_LIVEKIT__API_KEY", settings.livekit.api_key.get_secret_value()),
            ("ELO_LIVEKIT__API_SECRET", settings.livekit.api_secret.get_secret_value()),
            ("ELO_GOOGLE__API_KEY", settings.google.api_key.get_secret_value()),
        )
        if not value
    ]
    if missing:
        print(f"bot: set {', '.join(missing)} (see .env.example) to join a call", file=sys.stderr)
        return 2
    print("bot: the voice pipeline is not part of this build yet; the clinic core is ready")
    return 2


def main() -> int:
    """Check configuration and prepare the clinic core; returns the process exit code."""
    try:
        settings = load_settings()
        configure_logging(settings.logging)
        return asyncio.run(_prepare(settings))
    except (ConfigError, StoreError) as exc:
        print(f"bot: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
