"""``elo serve --rehearsal``: the whole service on this machine, with no keys and no phones.

The service runs as it would at the clinic (HTTP, the campaign supervisor, the runner, the real
voice pipeline and tools on a real SQLite file), but two things are stand-ins, and the service
says so when it starts:

- the PHONES: the local LiveKit fake (devtools/livekit_fake.py) answers the made-up contacts'
  dials as scripted (one books, one is an answering machine, one is busy); call audio is recorded
  speech through the WAV file transport (there is no LiveKit media server here);
- the MODEL: the local Gemini Live emulator plays a script (devtools/rehearsal.py), not Gemini.

Everything is kept in its own folder next to the configured database (``rehearsal/``), emptied at
each start: the clinic's own database is never touched.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from app.application import open_application
from campaign.calls import CallJob
from campaign.control import Command, control
from config.private_files import make_private_dirs
from config.settings import AppSettings, load_settings
from pipeline.call.transport import CallTransport

FOLDER = "rehearsal"


class RehearsalUnavailable(Exception):
    """The rehearsal cannot start (its folder holds other files, its audio is missing)."""


@dataclass(frozen=True)
class RehearsalWorld:
    """The stand-ins of one rehearsal and the settings that point at them.

    Attributes:
        settings: The service's settings, pointed at the emulator, the fake and the folder.
        http_client_args: The model client's TLS trust of the emulator's certificate.
        transport_factory: Each call's audio: recorded speech in, Elo's voice to a WAV file.
        folder: Where the rehearsal keeps its database, log and audio.
        worker_spec: The same for a worker process, as plain data (:func:`wav_calls`).
    """

    settings: AppSettings
    http_client_args: dict[str, Any]
    transport_factory: Callable[[CallJob], CallTransport]
    folder: Path
    worker_spec: dict[str, Any]

    def banner(self) -> list[str]:
        """What the service prints at start, so nobody mistakes the rehearsal for the clinic."""
        from devtools.rehearsal import CONTACTS

        lines = [
            "REHEARSAL: the model is a SCRIPTED local emulator, not Gemini; the phones are a",
            "SCRIPTED local LiveKit fake: nobody is called. Contacts are made up.",
        ]
        lines += [f"  {c.name}: {c.phone_does}" for c in CONTACTS]
        lines.append(f"Database, log and audio: {self.folder}")
        return lines


def rehearsal_folder(settings: AppSettings) -> Path:
    """The rehearsal's folder: ``rehearsal/`` beside the configured database."""
    return Path(settings.database.path).resolve().parent / FOLDER


@contextlib.asynccontextmanager
async def rehearsal_world(
    settings: AppSettings, *, start: bool = True
) -> AsyncIterator[RehearsalWorld]:
    """Prepare the rehearsal's database, start the emulator and the fake, stop them after.

    The dashboard's users are copied from the configured database (read only), so staff sign in
    to the rehearsal's dashboard as themselves.

    Args:
        settings: The service's settings.
        start: Start the rehearsal campaign at once; False leaves it for someone to start on
            the dashboard's Campaigns page.

    Raises:
        RehearsalUnavailable: The folder holds files of something else, or the recorded audio
            is missing (it ships with the source tree, not with an installed package).
    """
    from devtools.gemini_emulator import GeminiLiveEmulator
    from devtools.livekit_fake import FakeLiveKitServer
    from devtools.rehearsal import (
        API_KEY,
        API_SECRET,
        BOOKER,
        BUSY,
        CALLER,
        MACHINE,
        MACHINE_WAV,
        OPEN_WINDOW,
        script_phones,
        stand_in_settings,
    )
    from validation import normalize_phone

    for audio in (CALLER, MACHINE_WAV):
        if not audio.is_file():
            raise RehearsalUnavailable(
                f"the rehearsal's recorded audio is missing ({audio.name}); run it from a"
                " checkout of the source"
            )
    folder = rehearsal_folder(settings)
    _empty(folder)
    groups: dict[str, Any] = {
        "database": {"path": folder / "elo.db"},
        "logging": settings.logging.model_dump(),
        "pipeline": {"transport": "file"},
        "calling": OPEN_WINDOW,
        "server": settings.server.model_dump(),
    }
    phones = {c: normalize_phone(c.phone) for c in (BOOKER, MACHINE, BUSY)}
    script = await _prepare(load_settings(env_file=None, **groups), phones, start=start)
    where = settings.database.location()
    if where.path is not None:
        _copy_users(where.path, folder / "elo.db")
    else:
        await _copy_users_from_server(settings, folder / "elo.db")
    async with (
        GeminiLiveEmulator(script) as emulator,
        FakeLiveKitServer(API_KEY, API_SECRET) as livekit,
    ):
        script_phones(livekit, phones)
        world_settings = load_settings(
            env_file=None, **groups, **stand_in_settings(emulator, livekit)
        )
        spec = {
            "inputs": {phones[BOOKER]: str(CALLER), phones[MACHINE]: str(MACHINE_WAV)},
            "folder": str(folder),
            "ca_pem": emulator.ca_pem.decode(),
        }
        yield RehearsalWorld(
            settings=world_settings,
            http_client_args={"ssl": emulator.ssl_context},
            transport_factory=wav_calls(spec),
            folder=folder,
            worker_spec=spec,
        )
        # What went off script is in the log; the service's own stop must not fail on it.
        emulator.errors.clear()


async def _prepare(settings: AppSettings, phones: dict[Any, str], *, start: bool) -> list[Any]:
    """Create the rehearsal campaign, start it (if ``start``), and return the model's script."""
    from devtools.rehearsal import (
        CAMPAIGN,
        CONTACTS,
        WaitForHangUp,
        booking_script,
        voicemail_call,
    )
    from storage import NewContact
    from tools.context import ToolMode
    from tools.voicemail import voicemail_message
    from validation import normalize_name

    booker = CONTACTS[0]
    async with open_application(settings) as app:
        ctx = app.tool_context(mode=ToolMode.ADMIN)
        now = ctx.now()
        # The recorded caller asks for "tomorrow at ten": offer the free slot nearest to it.
        wanted = (now + timedelta(days=1)).replace(hour=10, minute=0, second=0, microsecond=0)
        slots = await ctx.slots.nearest(wanted, timedelta(minutes=30), now, count=1, max_days=60)
        campaign = await app.store.campaigns.create(
            name=CAMPAIGN,
            purpose="recall",
            notes="REHEARSAL with a scripted model and scripted phones.",
            # One call at a time: the emulator plays one script, call after call.
            max_concurrent_calls=1,
        )
        await app.store.campaigns.add_contacts(
            campaign_id=campaign.id,
            contacts=[
                NewContact(phone=phones[c], name=normalize_name(c.name), priority=c.priority)
                for c in CONTACTS
            ],
        )
        if start:
            await control(app.store, name=CAMPAIGN, command=Command.START)
        message = voicemail_message(ctx)
    return [
        *booking_script(slots[0].start, patient_name=booker.name, phone=booker.phone),
        WaitForHangUp(),
        *voicemail_call(message),
    ]


def wav_calls(spec: dict[str, Any]) -> Callable[[CallJob], CallTransport]:
    """Each call's audio in a rehearsal: the contact's recorded speech in, Elo's voice out.

    Args:
        spec: ``inputs`` (number → WAV path) and ``folder`` (where Elo's audio goes), as plain
            data so that a worker process can build the same.
    """
    from devtools.rehearsal import CALLER, RING_SECS
    from pipeline.file_transport import WavFileTransport

    inputs = {phone: Path(path) for phone, path in spec["inputs"].items()}
    folder = Path(spec["folder"])

    def transport(job: CallJob) -> CallTransport:
        # The caller's audio starts a little after the answer, while Elo greets.
        return WavFileTransport(
            input_path=inputs.get(job.contact.phone, CALLER),
            output_path=folder / f"attempt-{job.attempt.id}.wav",
            realtime=True,
            delay_secs=RING_SECS + 2.0,
        )

    return transport


def _copy_users(clinic: Path, rehearsal: Path) -> None:
    """Copy the dashboard's users from the clinic's database (opened read only), if it has any."""
    if not clinic.is_file():
        return
    with contextlib.closing(sqlite3.connect(rehearsal.resolve().as_uri(), uri=True)) as conn:
        conn.execute("ATTACH DATABASE ? AS clinic", (clinic.resolve().as_uri() + "?mode=ro",))
        if not conn.execute(
            "SELECT 1 FROM clinic.sqlite_master WHERE type = 'table' AND name = 'users'"
        ).fetchone():
            return
        # The columns both have: the clinic's file may be from an older version.
        ours = [row[1] for row in conn.execute("PRAGMA main.table_info(users)")]
        theirs = {row[1] for row in conn.execute("PRAGMA clinic.table_info(users)")}
        columns = ", ".join(f'"{name}"' for name in ours if name in theirs)
        with conn:
            conn.execute(f"INSERT INTO main.users ({columns}) SELECT {columns} FROM clinic.users")  # noqa: S608 - column names from the schema


async def _copy_users_from_server(settings: AppSettings, rehearsal: Path) -> None:
    """The same as :func:`_copy_users` from the clinic's PostgreSQL database (only read)."""
    from storage import Store

    store = await Store.open(
        settings.database.target(),
        hash_key=settings.privacy.hash_key.get_secret_value() or None,
        pool_size=2,
    )
    try:
        rows = await store.db.rows("SELECT * FROM users ORDER BY id")
    finally:
        await store.close()
    if not rows:
        return
    columns = list(rows[0].keys())
    names = ", ".join(f'"{name}"' for name in columns)
    marks = ", ".join("?" * len(columns))
    with contextlib.closing(sqlite3.connect(rehearsal)) as conn, conn:
        conn.executemany(
            f"INSERT INTO users ({names}) VALUES ({marks})",  # noqa: S608 - names from the schema
            [tuple(row[name] for name in columns) for row in rows],
        )


def _empty(folder: Path) -> None:
    """Make the folder private and empty it of an earlier rehearsal's files, never of others."""
    if folder.exists() and any(folder.iterdir()) and not (folder / "elo.db").exists():
        raise RehearsalUnavailable(f"{folder} holds files that are not a rehearsal's; move them")
    make_private_dirs(folder)
    for path in folder.iterdir():
        if path.is_file() or path.is_symlink():
            path.unlink()
