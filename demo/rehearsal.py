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

ROOT = Path(__file__).resolve().parent.parent
CALLER = ROOT / "tests" / "fixtures" / "audio" / "caller_sq_16k.wav"
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


def greeting():
    """Elo's scripted opening line, once the model is told the patient answered."""
    from devtools.gemini_emulator import (
        model_audio,
        output_transcription,
        turn_complete,
        wait_for_client_content,
    )

    return [
        wait_for_client_content(),  # Elo is told the callee answered: it speaks first
        model_audio(1.0),
        output_transcription(
            "Përshëndetje, jam Elo, asistenti automatik i Klinikës Dentare Buzëqeshja. Ju"
            " telefonoj për kontrollin gjashtëmujor. Nëse nuk doni më thirrje, mjafton ta thoni."
        ),
        turn_complete(),
    ]


def booking_script(start, *, patient_name: str, phone: str, price: str = ""):
    """A scripted call that books a check-up at ``start`` for the patient, then says goodbye.

    Args:
        start: The free slot the model books.
        patient_name: The name the model books under.
        phone: The number the model books with.
        price: Added to the confirmation sentence (e.g. ``", 2000 lekë"``).
    """
    from devtools.gemini_emulator import (
        input_transcription,
        model_audio,
        output_transcription,
        tool_call,
        turn_complete,
        wait_for_audio,
    )

    day, time = start.date().isoformat(), start.strftime("%H:%M")
    return [
        *greeting(),
        wait_for_audio(seconds=1.5, timeout=20),
        input_transcription("Përshëndetje, dua një kontroll."),
        model_audio(0.5),
        output_transcription("Me kënaqësi. Kur ju përshtatet?"),
        turn_complete(),
        wait_for_audio(seconds=1.0, timeout=20),
        input_transcription("Nesër në orën dhjetë."),
        tool_call(
            "check_available_slots",
            {"preferred_date": f"{day}T{time}", "service_type": "checkup"},
            id="slots",
        ),
        model_audio(0.8),
        output_transcription(f"Ora më e afërt e lirë është {day} në orën {time}. Po e rezervoj."),
        tool_call(
            "schedule_appointment",
            {
                "patient_name": patient_name,
                "preferred_date": f"{day}T{time}",
                "service_type": "checkup",
                "phone_number": phone,
            },
            id="book",
        ),
        model_audio(0.8),
        output_transcription(f"U rezervua: kontroll më {day} në orën {time}{price}."),
        tool_call("end_call", {"reason": "completed"}, id="bye"),
        model_audio(0.5),
        output_transcription("Faleminderit, mirupafshim!"),
        turn_complete(),
    ]


def main() -> int:
    """Entry point of ``make demo``."""
    logger.remove()
    return asyncio.run(rehearse())


if __name__ == "__main__":
    sys.exit(main())
