"""The rehearsal's scripted world: made-up contacts, their scripted phones and the model's script.

Shared by ``make demo``, ``make demo-campaign`` and ``elo serve --rehearsal``. Nothing here reaches
a real service: the credentials are the local LiveKit fake's, the model is the local Gemini Live
emulator playing these scripts, and the callers are recorded audio (espeak-ng).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devtools.gemini_emulator import Step

ROOT = Path(__file__).resolve().parent.parent
# A recorded Albanian caller (tests/fixtures/audio/make_fixtures.sh).
CALLER = ROOT / "tests" / "fixtures" / "audio" / "caller_sq_16k.wav"
# The answering machine's greeting and beep (espeak-ng; see demo/audio/make_answering_machine.sh).
MACHINE_WAV = ROOT / "demo" / "audio" / "answering_machine_sq_16k.wav"
MACHINE_SAYS = "Numri që telefonuat nuk përgjigjet. Ju lutem lini një mesazh pas sinjalit."
CAMPAIGN = "Rehearsal"
# Credentials of the local LiveKit fake only; nothing else accepts them.
API_KEY = "rehearsal-key"
API_SECRET = "rehearsal-secret-long-enough-for-hs256"  # noqa: S105 - the local fake's
TRUNK = "ST_rehearsal"
# Calls may happen at any hour, on any day, holidays included: a rehearsal may run at night.
OPEN_WINDOW = {
    "window_days": "mon,tue,wed,thu,fri,sat,sun",
    "window_intervals": "00:00-24:00",
    "skip_public_holidays": False,
}
RING_SECS = 0.5


@dataclass(frozen=True)
class RehearsalContact:
    """A made-up contact and what its scripted phone does.

    Attributes:
        name: An obviously made-up name.
        phone: The number as a clinic might write it. Albania publishes no range reserved for
            fiction, so these are visibly artificial (069 000 01xx); they only ever reach the
            local LiveKit fake.
        phone_does: What the scripted phone does, for the printout.
        priority: Dial order (highest first): the emulator's single script expects the calls
            in this order.
    """

    name: str
    phone: str
    phone_does: str
    priority: int


BOOKER = RehearsalContact("Provë Një", "069 000 0101", "answers; the patient books", 3)
MACHINE = RehearsalContact("Provë Dy", "069 000 0102", "an answering machine answers", 2)
BUSY = RehearsalContact("Provë Tre", "069 000 0103", "busy (SIP 486)", 1)
CONTACTS = (BOOKER, MACHINE, BUSY)


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


@dataclass
class WaitForHangUp(Step):
    """An emulator script step: wait until the client closes the current connection.

    The emulator plays one script across connections, so between two calls the script must
    wait for the first call to hang up; otherwise the next call's first step could still run
    on the ending call's connection.

    Attributes:
        timeout: Seconds to wait before the script fails.
    """

    timeout: float = 60.0

    async def run(self, emu: Any, conn: Any) -> None:
        """Return once ``conn`` is closed."""
        await emu.wait_until(lambda _emu: conn.closed, timeout=self.timeout)


def voicemail_call(message: str) -> list[Step]:
    """A scripted call that meets an answering machine and leaves ``message`` on it."""
    from devtools.gemini_emulator import (
        input_transcription,
        model_audio,
        output_transcription,
        tool_call,
        turn_complete,
        wait_for_audio,
    )

    return [
        *greeting(),
        # Audio reaches the model only while Silero VAD hears speech: the machine's greeting.
        wait_for_audio(seconds=2.0, timeout=20),
        input_transcription(MACHINE_SAYS),
        tool_call("voicemail_detected", {"evidence": "greeting asks to leave a message"}, id="vm"),
        model_audio(1.5),
        output_transcription(message),
        turn_complete(),
        tool_call("end_call", {"reason": "voicemail"}, id="vm-bye"),
        model_audio(0.3),
        output_transcription("Mirupafshim."),
        turn_complete(),
    ]


def script_phones(livekit: Any, phones: dict[RehearsalContact, str]) -> None:
    """Tell the LiveKit fake what each made-up contact's phone does when dialled."""
    from devtools.livekit_fake import SipScript

    livekit.script(phones[BOOKER], SipScript("answered", ring_secs=RING_SECS))
    livekit.script(phones[MACHINE], SipScript("answered", ring_secs=RING_SECS))
    livekit.script(phones[BUSY], SipScript("busy", ring_secs=RING_SECS))


def stand_in_settings(emulator: Any, livekit: Any) -> dict[str, Any]:
    """The settings groups that point Elo at the emulator and the fake (their keys only)."""
    return {
        "google": {"api_key": "rehearsal-no-key", "base_url": emulator.base_url},
        "livekit": {
            "url": livekit.url,
            "api_key": API_KEY,
            "api_secret": API_SECRET,
            "sip_trunk_id": TRUNK,
        },
    }
