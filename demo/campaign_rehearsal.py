"""A whole outbound campaign rehearsed on this machine, with no keys, no network and no phones.

Three made-up contacts go through the real campaign runner, the real LiveKit dialer and the real
voice pipeline (Silero VAD, the real Gemini Live service class, Elo's tools on a real SQLite file).
Two things are stand-ins, and the output says so:

- the PHONES are scripted: a local fake of the LiveKit server API answers the dial for the first
  contact, gives the second an answering machine and reports the third busy (SIP 486);
- the MODEL is scripted: the local Gemini Live emulator plays a script, not Gemini. It books the
  first contact and, on the machine, calls ``voicemail_detected`` then ``end_call("voicemail")``.

Call audio uses the WAV file transport (there is no LiveKit media server here). Every attempt,
call record, booking and status number is produced by Elo's own code.

Run with ``make demo-campaign`` (``python -m demo.campaign_rehearsal [--out DIR]``). Output goes to
``demo-output/campaign/``.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loguru import logger

from demo.rehearsal import _fresh
from devtools.rehearsal import (
    API_KEY,
    API_SECRET,
    BOOKER,
    CALLER,
    CAMPAIGN,
    CONTACTS,
    MACHINE,
    MACHINE_WAV,
    OPEN_WINDOW,
    RING_SECS,
    ROOT,
    RehearsalContact,
    WaitForHangUp,
    booking_script,
    script_phones,
    stand_in_settings,
    voicemail_call,
)

if TYPE_CHECKING:
    from app.application import Application
    from campaign.calls import CallJob, Progress
    from config.settings import AppSettings
    from devtools.gemini_emulator import GeminiLiveEmulator
    from storage import Campaign, NewContact
    from tools.context import ToolContext

OUT = ROOT / "demo-output" / "campaign"
# Stop dialling after this long whatever happens (the rehearsal normally ends within a minute).
SAFETY_LIMIT = timedelta(minutes=3)


async def rehearse(out: Path = OUT) -> int:
    """Run the rehearsal campaign and print what it did.

    Args:
        out: Folder for the database, log and Elo's audio (emptied first).

    Returns:
        0 when every contact had one attempt with the scripted outcome, 1 otherwise, 2 when
        ``out`` holds something else (it is never emptied then).
    """
    from app.application import open_application
    from config.logs import configure_logging
    from config.settings import load_settings
    from devtools.gemini_emulator import GeminiLiveEmulator
    from devtools.livekit_fake import FakeLiveKitServer
    from tools.context import ToolMode
    from tools.voicemail import voicemail_message
    from validation import normalize_phone

    if not _safe_to_empty(out):
        print(
            f"demo-campaign: {out} is not empty and holds no earlier rehearsal; use another --out"
        )
        return 2
    _fresh(out)
    groups: dict[str, Any] = {
        "database": {"path": out / "campaign.db"},
        "logging": {"file": out / "campaign.jsonl", "level": "INFO"},
        "pipeline": {"transport": "file"},
        "calling": OPEN_WINDOW,
    }
    base = load_settings(env_file=None, **groups)
    configure_logging(base.logging, console=False)
    phones = {c: normalize_phone(c.phone) for c in CONTACTS}
    async with open_application(base) as app:
        ctx = app.tool_context(mode=ToolMode.ADMIN)
        now = ctx.now()
        # The recorded caller asks for "tomorrow at ten": offer the free slot nearest to it.
        tomorrow_ten = (now + timedelta(days=1)).replace(hour=10, minute=0, second=0, microsecond=0)
        slot = (
            await ctx.slots.nearest(tomorrow_ten, timedelta(minutes=30), now, count=1, max_days=60)
        )[0]
        script = [
            *booking_script(slot.start, patient_name=BOOKER.name, phone=BOOKER.phone),
            WaitForHangUp(),
            *voicemail_call(voicemail_message(ctx)),
        ]
        async with (
            GeminiLiveEmulator(script) as emu,
            FakeLiveKitServer(API_KEY, API_SECRET) as livekit,
        ):
            script_phones(livekit, phones)
            settings = load_settings(env_file=None, **groups, **stand_in_settings(emu, livekit))
            campaign = await ctx.store.campaigns.create(
                name=CAMPAIGN,
                purpose="recall",
                notes="REHEARSAL with a scripted model and scripted phones.",
                # One call at a time: the emulator plays one script, call after call.
                max_concurrent_calls=1,
            )
            await ctx.store.campaigns.add_contacts(
                campaign_id=campaign.id,
                contacts=[_new_contact(c, phones[c]) for c in CONTACTS],
            )
            inputs = {phones[BOOKER]: CALLER, phones[MACHINE]: MACHINE_WAV}
            print("REHEARSAL: the model is a SCRIPTED local emulator, not Gemini; the phones are")
            print("a SCRIPTED local LiveKit fake: nobody is called. Contacts are made up.\n")
            for number, contact in enumerate(CONTACTS, 1):
                print(f"  contact {number}: scripted phone: {contact.phone_does}")
            print(f"\nRunning campaign {CAMPAIGN!r}, one call at a time…")
            progress = await _run(app, settings, campaign, emu, inputs, out)
            script_errors = list(emu.errors)
            # Reported below with the rest, instead of as a traceback when the emulator closes.
            emu.errors.clear()
        if progress.state == "stopped":
            # The busy and voicemail contacts stay queued for their retries: a real run would
            # call them again later; the rehearsal stops after one attempt each.
            print("\nRehearsal ended: every contact had one attempt.")
        else:
            print(f"\nRehearsal ended early: {progress.state}.")
        for error in script_errors:
            print(f"The scripted model went off script: {error}")
        ok = await _report(ctx, campaign.id, out) and not script_errors
    print(f"Database: {out / 'campaign.db'}; log: {out / 'campaign.jsonl'}")
    return 0 if ok else 1


async def _run(
    app: Application,
    settings: AppSettings,
    campaign: Campaign,
    emu: GeminiLiveEmulator,
    inputs: dict[str, Path],
    out: Path,
) -> Progress:
    """Run the campaign until every contact has had one attempt; returns the final progress."""
    from campaign.dialer import LiveKitDialer
    from campaign.launcher import PipelineLauncher
    from campaign.progress_line import ProgressLine
    from campaign.runner import CampaignRunner
    from pipeline.file_transport import WavFileTransport

    def transport(job: CallJob) -> WavFileTransport:
        # The caller's audio starts a little after the answer, while Elo greets.
        return WavFileTransport(
            input_path=inputs.get(job.contact.phone, CALLER),
            output_path=out / f"attempt-{job.attempt.id}.wav",
            realtime=True,
            delay_secs=RING_SECS + 2.0,
        )

    dialer = LiveKitDialer.from_settings(settings)
    display = ProgressLine(sys.stdout, tz=app.clinic.tz)
    runner: CampaignRunner | None = None

    def on_progress(progress: Progress) -> None:
        display(progress)
        # Failed or busy contacts are queued for a retry later: one attempt each is the rehearsal.
        if runner is not None and sum(progress.outcomes.values()) >= len(CONTACTS):
            runner.stop()

    runner = CampaignRunner(
        store=app.store,
        settings=settings,
        campaign=campaign,
        dialer=dialer,
        launcher=PipelineLauncher(
            dataclasses.replace(app, settings=settings, http_client_args={"ssl": emu.ssl_context}),
            transport_factory=transport,
        ),
        on_progress=on_progress,
    )
    try:
        return await runner.run(until=app.now() + SAFETY_LIMIT)
    finally:
        display.close()
        await dialer.aclose()


async def _report(ctx: ToolContext, campaign_id: int, out: Path) -> bool:
    """Print the campaign status and one line per attempt; keep answered calls' audio only."""
    from storage.models import CallOutcome

    status = await ctx.store.campaigns.status(campaign_id=campaign_id)
    print("\ncampaign_status:")
    print(json.dumps(status.model_dump(mode="json"), indent=2, ensure_ascii=False))
    print("\nAttempts:")
    outcomes = []
    contacts = await ctx.store.campaigns.contacts(campaign_id=campaign_id)
    for number, contact in enumerate(contacts, 1):
        for attempt in await ctx.store.campaigns.attempts(contact_id=contact.id):
            outcomes.append(attempt.outcome)
            call = await ctx.store.calls.get(call_id=attempt.call_id) if attempt.call_id else None
            audio = out / f"attempt-{attempt.id}.wav"
            answered = call is not None and call.outcome != CallOutcome.NOT_ANSWERED
            where = "no audio (not answered)"
            if not answered:
                # Nobody answered: the pipeline's silent file is not a call's audio.
                audio.unlink(missing_ok=True)
            elif audio.exists():
                named = audio.rename(out / f"attempt-{attempt.id}-{attempt.outcome}.wav")
                where = f"Elo's audio {named.name}"
            length = "-" if attempt.duration_s is None else f"{attempt.duration_s} s"
            print(
                f"  attempt {attempt.id}: contact {number}, outcome {attempt.outcome},"
                f" SIP {attempt.sip_status or '-'}, {length}, {where}"
            )
    now = ctx.now()
    for appointment in await ctx.store.appointments.list(
        start=now, end=now + timedelta(days=90), active_only=True
    ):
        local = appointment.starts_at.astimezone(ctx.clinic.tz)
        print(
            f"Booked: appointment {appointment.id}, {appointment.service_id},"
            f" {local:%A %Y-%m-%d %H:%M} ({ctx.clinic.time_zone}), {appointment.price_lek} lek,"
            f" source {appointment.source}"
        )
    return sorted(outcomes) == ["booked", "busy", "voicemail"]


def _safe_to_empty(out: Path) -> bool:
    """Whether ``out`` may be emptied: missing, empty, or an earlier rehearsal's output."""
    return not out.exists() or not any(out.iterdir()) or (out / "campaign.db").exists()


def _new_contact(contact: RehearsalContact, phone: str) -> NewContact:
    from storage import NewContact
    from validation import normalize_name

    return NewContact(phone=phone, name=normalize_name(contact.name), priority=contact.priority)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``make demo-campaign``.

    Args:
        argv: Command-line arguments (``--out DIR``); None reads ``sys.argv``.

    Returns:
        The process exit code: 0 when the rehearsal went as scripted.
    """
    parser = argparse.ArgumentParser(
        prog="python -m demo.campaign_rehearsal",
        description="Rehearse an outbound campaign offline (scripted model, scripted phones).",
    )
    parser.add_argument("--out", type=Path, default=OUT, help=f"output folder (default {OUT})")
    args = parser.parse_args(argv)
    logger.remove()
    return asyncio.run(rehearse(args.out))


if __name__ == "__main__":
    sys.exit(main())
