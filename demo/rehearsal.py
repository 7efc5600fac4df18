"""One rehearsal call end to end, with no keys and no network.

A recorded Albanian caller (espeak-ng) goes through the real pipeline: Silero VAD, the real Gemini
Live service class, Elo's tools on a real SQLite file. The model on the other end is the local
emulator playing a SCRIPT, not Gemini: it says what the script says, but every tool call, database
write, transcript line and analytics number is produced by Elo's own code.

Run with ``make demo``. Output goes to ``demo-output/``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sys
from datetime import timedelta
from pathlib import Path

from loguru import logger

from config.private_files import make_private_dirs
from devtools.rehearsal import CALLER, ROOT, booking_script

OUT = ROOT / "demo-output"
PATIENT = "Arbër Çela"
PHONE = "069 123 4567"


async def rehearse(out: Path = OUT) -> int:
    """Run the rehearsal call and print what it did.

    Args:
        out: Folder for the database, log and Elo's audio (emptied first).

    Returns:
        0 when the call booked an appointment, as scripted.
    """
    from app.application import open_application
    from config.logs import configure_logging
    from config.settings import load_settings
    from devtools.gemini_emulator import GeminiLiveEmulator
    from pipeline.call.session import CallSession
    from pipeline.call.spec import CallSpec
    from pipeline.file_transport import WavFileTransport
    from pipeline.metadata import CallMetadata
    from tools.context import ToolMode

    _fresh(out)
    base = load_settings(
        env_file=None,
        database={"path": out / "rehearsal.db"},
        logging={"file": out / "rehearsal.jsonl", "level": "INFO"},
        pipeline={"transport": "file"},
    )
    configure_logging(base.logging, console=False)
    async with open_application(base) as app:
        ctx = app.tool_context(mode=ToolMode.ADMIN)
        now = ctx.now()
        # The recorded caller asks for "tomorrow at ten": offer the free slot nearest to it.
        tomorrow_ten = (now + timedelta(days=1)).replace(hour=10, minute=0, second=0, microsecond=0)
        slot = (
            await ctx.slots.nearest(tomorrow_ten, timedelta(minutes=30), now, count=1, max_days=60)
        )[0]
        script = booking_script(slot.start, patient_name=PATIENT, phone=PHONE, price=", 2000 lekë")
        async with GeminiLiveEmulator(script) as emu:
            settings = load_settings(
                env_file=None,
                **_groups(base),
                google={"api_key": "rehearsal-no-key", "base_url": emu.base_url},
            )
            transport = WavFileTransport(
                input_path=CALLER,
                output_path=out / "elo.wav",
                delay_secs=2.0,
            )
            session = CallSession(
                dataclasses.replace(
                    app, settings=settings, http_client_args={"ssl": emu.ssl_context}
                ),
                CallSpec(
                    metadata=CallMetadata(
                        patient_name=PATIENT, phone=PHONE, reason="kontrolli gjashtëmujor"
                    ),
                    transport=transport,
                ),
            )
            print("REHEARSAL: the model is a SCRIPTED local emulator, not Gemini.")
            print(f"Playing the recorded caller {CALLER.relative_to(ROOT)} through the pipeline…\n")
            result = await session.run()
        appointments = await ctx.store.appointments.list(
            start=now, end=now + timedelta(days=90), active_only=True
        )
    record = result.record
    print("Transcript (from the calls table):")
    for entry in record.transcript:
        text = (
            entry.get("text")
            or json.dumps(entry.get("arguments") or entry.get("result"), ensure_ascii=False)[:160]
        )
        who = entry["role"] if entry["role"] != "tool" else f"tool {entry.get('name')}"
        print(f"  {entry['t'][11:19]}  {who:<28} {text}")
    print()
    for appointment in appointments:
        local = appointment.starts_at.astimezone(ctx.clinic.tz)
        print(
            f"Booked: appointment {appointment.id}, {appointment.service_id},"
            f" {local:%A %Y-%m-%d %H:%M} ({ctx.clinic.time_zone}), {appointment.price_lek} lek,"
            f" chair {appointment.chair}, source {appointment.source}"
        )
    print(f"Outcome: {record.outcome}; analytics: {json.dumps(result.summary)}")
    print(f"Elo's audio: {out / 'elo.wav'}; database: {out / 'rehearsal.db'}")
    return 0 if record.outcome == "booked" else 1


def _fresh(out: Path) -> None:
    """Empty ``out`` of earlier files; sub-folders (another rehearsal's output) are kept."""
    make_private_dirs(out)  # the rehearsal's database and audio stay private to the user
    for path in out.iterdir():
        if path.is_file() or path.is_symlink():
            path.unlink()


def _groups(settings):
    return {
        "database": settings.database.model_dump(),
        "logging": settings.logging.model_dump(),
        "pipeline": settings.pipeline.model_dump(),
    }


def main() -> int:
    """Entry point of ``make demo``."""
    logger.remove()
    return asyncio.run(rehearse())


if __name__ == "__main__":
    sys.exit(main())
