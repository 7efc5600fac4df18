"""The one object callers open: a :class:`Database` and a repository per aggregate over it.

``store.patients``, ``store.appointments``, ``store.calendar``, ``store.follow_ups``,
``store.calls``, ``store.callers``, ``store.dnc``, ``store.campaigns``, ``store.queue``,
``store.audit``, ``store.privacy``, ``store.health`` and ``store.users``, and the dashboard's read
models (``store.figures``, ``store.call_log``, ``store.follow_up_queue``,
``store.patient_search``, ``store.campaign_list``, ``store.patient_record``) and the messages
outbox (``store.messages``), recalls (``store.recalls``) and attendance figures
(``store.attendance``) share one connection and its write lock, so a write that spans
aggregates (a booking upserts its patient and plans its messages) runs in one transaction.
"""

from __future__ import annotations

from pathlib import Path
from typing import Self
from zoneinfo import ZoneInfo

from config.clock import Clock, system_clock
from config.database_url import STALLED_TRANSACTION_S, Backend, DatabaseUrl
from storage.appointments import AppointmentRepository
from storage.attendance import Attendance
from storage.audit import AuditTrail
from storage.calendar import CalendarRepository
from storage.call_log import CallLog
from storage.call_records import CallRepository
from storage.callers import CallerRepository
from storage.campaign_list import CampaignList
from storage.campaign_queue import CampaignQueue
from storage.campaign_runners import CampaignRunners
from storage.campaigns import CampaignRepository
from storage.confirmations import ConfirmationRepository
from storage.database import Database
from storage.day_figures import DayFiguresRepository
from storage.do_not_call import DoNotCallRepository
from storage.errors import StoreError
from storage.follow_up_queue import FollowUpQueue
from storage.follow_ups import FollowUpRepository
from storage.health import HealthRepository
from storage.message_board import MessageBoard
from storage.messages import MessageRepository
from storage.patient_record import PatientRecords
from storage.patient_search import PatientSearch
from storage.patients import PatientRepository
from storage.privacy import PrivacyRepository
from storage.privacy_keys import PrivacyKeys, key_file_for
from storage.recalls import RecallRepository
from storage.users import UserRepository


class Store:
    """Async access to Elo's SQLite database. Open with :meth:`open`; close with :meth:`close`.

    Attributes:
        db: The connection, its clock and time zone, and the transaction helper.
        patients: Patients by number.
        appointments: Slots, bookings and staff searches of appointments.
        follow_ups: Callbacks owed to patients.
        calls: Calls, the daily analytics and what Elo wrote in calls.
        callers: What the clinic knows about one number that calls in.
        dnc: The do-not-call list.
        campaigns: Campaigns, their contacts, attempts and status.
        queue: The campaign calling queue: due contacts, claims and completions.
        runners: The runners working each campaign (several at once), and adopting dead ones.
        audit: The audit trail.
        calendar: The staff calendar: chairs' appointments; book, move, cancel, mark.
        privacy: Retention, export and erasure.
        health: The integrity checks and the schema version.
        users: The dashboard's users and their web sessions.
        figures: The dashboard's Today figures per clinic-local day.
        call_log: The dashboard's calls list and a call's detail.
        follow_up_queue: The dashboard's follow-ups queue and marking one done.
        patient_search: The dashboard's patient search and revealing one number.
        messages: The messages outbox: due, claims, outcomes, opt-outs, delivery reports.
        message_board: The Messages page's read model, send-again and staff opt-outs.
        campaign_list: The dashboard's Campaigns list, in pages.
        patient_record: The dashboard's page of one patient.
        confirmations: The confirmations campaign the service fills (issue 13).
        recalls: Who is due a recall; a recall campaign and its contacts in one go.
        attendance: Confirmation and no-show figures by reminder path, revenue kept.

    Args:
        db: The open database.
        keys: Where the privacy hash key comes from.
    """

    def __init__(self, db: Database, *, keys: PrivacyKeys) -> None:
        self.db = db
        self.patients = PatientRepository(db)
        self.appointments = AppointmentRepository(db)
        self.follow_ups = FollowUpRepository(db)
        self.calls = CallRepository(db, keys)
        self.callers = CallerRepository(db, keys)
        self.dnc = DoNotCallRepository(db, keys)
        self.campaigns = CampaignRepository(db, keys)
        self.queue = CampaignQueue(db, keys)
        self.runners = CampaignRunners(db)
        self.audit = AuditTrail(db)
        self.calendar = CalendarRepository(db, self.audit)
        self.privacy = PrivacyRepository(db, keys, self.audit)
        self.health = HealthRepository(db)
        self.users = UserRepository(db)
        self.figures = DayFiguresRepository(db)
        self.call_log = CallLog(db)
        self.follow_up_queue = FollowUpQueue(db)
        self.patient_search = PatientSearch(db)
        self.messages = MessageRepository(db)
        self.message_board = MessageBoard(db, self.audit)
        self.campaign_list = CampaignList(db)
        self.patient_record = PatientRecords(db, keys)
        self.confirmations = ConfirmationRepository(db, keys)
        self.recalls = RecallRepository(db, keys, self.audit)
        self.attendance = Attendance(db)

    @classmethod
    async def open(
        cls,
        path: Path | str,
        *,
        tz: ZoneInfo | str = "Europe/Tirane",
        busy_timeout_ms: int = 5000,
        clock: Clock = system_clock,
        hash_key: str | None = None,
        pool_size: int = 10,
        stalled_transaction_s: float | None = STALLED_TRANSACTION_S,
    ) -> Self:
        """Open (creating if needed) and migrate the database at ``path``.

        See :meth:`storage.database.Database.open`: a file that fails the quick integrity
        check opens unhealthy (``store.health.problem``) and refuses every write.

        Args:
            path: The SQLite file (a path or ``sqlite:///`` URL) or a ``postgresql://`` URL.
            tz: The clinic time zone.
            busy_timeout_ms: How long to wait for another writer.
            clock: Source of the current time.
            hash_key: The privacy hash key (``ELO_PRIVACY__HASH_KEY``); None or empty: the
                key file next to the database (see :mod:`storage.privacy_keys`). PostgreSQL
                requires it.
            pool_size: PostgreSQL only: most connections this process opens.
            stalled_transaction_s: PostgreSQL only: the server ends a session of this process
                that sits this long inside a transaction (None: never; see
                :data:`config.database_url.STALLED_TRANSACTION_S`).

        Returns:
            A ready store.

        Raises:
            StoreError: The file is not a database or has a newer schema than this code, the
                server cannot be reached, or PostgreSQL is asked for without a hash key.
        """
        where = DatabaseUrl.parse(path)
        if where.backend is Backend.POSTGRESQL:
            if not hash_key:
                # Every node must hash numbers alike, and a key file on one node's disk is not
                # shared; the key also must not live in the database it protects.
                raise StoreError(
                    "a PostgreSQL database needs ELO_PRIVACY__HASH_KEY set (the same on every node)"
                )
            from storage.database_pg import PgDatabase

            pg = await PgDatabase.open(
                where.dsn or "",
                tz=ZoneInfo(str(tz)),
                clock=clock,
                display=where.display(),
                pool_size=pool_size,
                stalled_transaction_s=stalled_transaction_s,
            )
            return cls(pg, keys=PrivacyKeys(key=hash_key, key_file=None))
        file = where.path or Path(str(path))
        db = await Database.open(
            file, tz=ZoneInfo(str(tz)), busy_timeout_ms=busy_timeout_ms, clock=clock
        )
        return cls(db, keys=PrivacyKeys(key=hash_key, key_file=key_file_for(file)))

    async def close(self) -> None:
        """Close the connection."""
        await self.db.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
