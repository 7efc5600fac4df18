"""Database health: the quick check at start-up and the full ``elo db check`` report.

SQLite's own checks
(``integrity_check``, ``foreign_key_check``) find damaged pages and dangling references; the
project's invariants find rows that are each valid but disagree with each other: an active
appointment that does not hold exactly its grid slots (so double booking is no longer prevented),
a slot held by a cancelled appointment (so a free time is never offered), or a daily counter that
no longer matches the calls and bookings it is rolled up from.

Problems are described by table, record id and day only, never by patient data.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from storage.database import Database
from storage.dialect import is_postgres
from storage.errors import StoreError
from storage.health_pg import pg_foreign_key_problems
from storage.migrations import ACTIVE_STATUSES
from storage.timefmt import from_db, slot_grid

# Enough to act on; a badly damaged file can produce thousands of lines.
MAX_PROBLEMS_PER_CHECK = 20


@dataclass
class HealthReport:
    """What ``elo db check`` found.

    Attributes:
        checks: Each check run, with ``ok`` or the number of problems it found.
        problems: One line per problem, naming the check, table, record id or day (no PII).
    """

    checks: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        """True when no check found a problem."""
        return not self.problems

    def add(self, check: str, problems: list[str]) -> None:
        """Record one check's outcome (at most :data:`MAX_PROBLEMS_PER_CHECK` lines of it)."""
        self.checks[check] = "ok" if not problems else f"{len(problems)} problem(s)"
        shown = problems[:MAX_PROBLEMS_PER_CHECK]
        self.problems.extend(f"{check}: {line}" for line in shown)
        if len(problems) > len(shown):
            self.problems.append(f"{check}: ... and {len(problems) - len(shown)} more")

    def to_result(self) -> dict[str, Any]:
        """JSON-ready report."""
        return {"healthy": self.healthy, "checks": self.checks, "problems": self.problems}


class HealthRepository:
    """Whether the file is sound: the start-up quick check's finding and the full checks.

    Args:
        db: The open database.
    """

    def __init__(self, db: Database) -> None:
        self._db = db

    @property
    def problem(self) -> str | None:
        """Why writes are refused (the quick check's first finding), or None when healthy."""
        return self._db.damage

    async def schema_version(self) -> int:
        """The schema version recorded in the database (``PRAGMA user_version`` or elo_schema)."""
        if is_postgres(self._db.conn):
            return await self._db.schema_version()  # type: ignore[attr-defined]
        return await self._db.scalar("PRAGMA user_version")

    async def write_problem(self) -> str | None:
        """Why a write transaction cannot start now, or None when one can; nothing is written.

        Takes SQLite's write lock for an empty transaction, the way every write starts: a
        damaged file, a read-only file or disk, or a lock held by a stuck writer for longer
        than the busy timeout all show here.
        """
        try:
            async with self._db.transaction():
                pass
        except StoreError as exc:
            return str(exc)
        except sqlite3.Error as exc:
            return f"a write transaction cannot start: {exc}"
        return None

    async def check(self, *, slot_minutes: int) -> HealthReport:
        """Run every check and report each problem found.

        Args:
            slot_minutes: The clinic's booking grid, to know which slots an appointment holds.

        Returns:
            The report; ``report.healthy`` is False when any check found a problem.
        """
        report = HealthReport()
        checks: list[tuple[str, Callable[[], Awaitable[list[str]]]]] = [
            ("integrity_check", self._integrity_problems),
            ("foreign_key_check", self._foreign_key_problems),
            ("appointment_slots", lambda: self._slot_problems(slot_minutes)),
            ("call_analytics", self._analytics_problems),
        ]
        for name, check in checks:
            try:
                problems = await check()
            except sqlite3.DatabaseError as exc:
                # A damaged page can make a query fail outright: that is itself the finding.
                problems = [f"could not be completed ({exc})"]
            report.add(name, problems)
        return report

    async def _integrity_problems(self) -> list[str]:
        if is_postgres(self._db.conn):
            return []  # PostgreSQL checks its own pages (checksums, WAL); no file scan to run
        rows = await self._db.conn.execute_fetchall(
            f"PRAGMA integrity_check({MAX_PROBLEMS_PER_CHECK + 1})"
        )
        return [str(row[0]) for row in rows if row[0] != "ok"]

    async def _foreign_key_problems(self) -> list[str]:
        if is_postgres(self._db.conn):
            return await pg_foreign_key_problems(self._db.conn)
        rows = await self._db.conn.execute_fetchall("PRAGMA foreign_key_check")
        counts: dict[tuple[str, str], list[int]] = defaultdict(list)
        for table, rowid, parent, _ in rows:
            counts[(table, parent)].append(rowid)
        return [
            f"{len(ids)} row(s) of {table} refer to a missing {parent} row (rowids {_ids(ids)})"
            for (table, parent), ids in sorted(counts.items())
        ]

    async def _slot_problems(self, slot_minutes: int) -> list[str]:
        """Every active appointment holds exactly its grid slots; no one else holds any."""
        step = timedelta(minutes=slot_minutes)
        marks = ",".join("?" * len(ACTIVE_STATUSES))
        appointments = await self._db.conn.execute_fetchall(
            f"SELECT id, chair, starts_at, ends_at, status IN ({marks}) FROM appointments",  # noqa: S608
            ACTIVE_STATUSES,
        )
        held: dict[int, set[tuple[int, str]]] = defaultdict(set)
        for chair, slot_start, appointment_id in await self._db.conn.execute_fetchall(
            "SELECT chair, slot_start, appointment_id FROM appointment_slots"
        ):
            held[appointment_id].add((chair, slot_start))
        problems: list[str] = []
        inactive: list[int] = []
        for appointment_id, chair, starts_at, ends_at, active in appointments:
            have = held.pop(appointment_id, set())
            if not active:
                if have:
                    inactive.append(appointment_id)
                continue
            want = {(chair, slot) for slot in slot_grid(from_db(starts_at), from_db(ends_at), step)}
            if have != want:
                problems.append(
                    f"appointment {appointment_id} holds {len(have & want)} of its"
                    f" {len(want)} slot(s) and {len(have - want)} other slot row(s)"
                )
        if inactive:
            problems.append(
                f"{len(inactive)} cancelled or finished appointment(s) still hold slots"
                f" (ids {_ids(inactive)})"
            )
        if held:
            problems.append(
                f"{sum(len(rows) for rows in held.values())} slot row(s) belong to no appointment"
                f" (appointment ids {_ids(list(held))})"
            )
        return problems

    async def _analytics_problems(self) -> list[str]:
        """The daily counters equal a fresh roll-up of the rows they count.

        ``CallRepository.finish`` counts a finished call (except ``not_answered``) on its start's
        local day, converted when it booked; ``AppointmentRepository.book`` counts a booking that
        is not an import on its creation's local day, with its price. Later cancellations do not
        undo either.
        """
        expected: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
        calls = await self._db.conn.execute_fetchall(
            "SELECT started_at, appointments_booked FROM calls"
            " WHERE ended_at IS NOT NULL AND (outcome IS NULL OR outcome != 'not_answered')"
        )
        for started_at, booked in calls:
            row = expected[self._local_day(started_at)]
            row[0] += 1
            row[1] += 1 if booked else 0
        bookings = await self._db.conn.execute_fetchall(
            "SELECT created_at, price_lek FROM appointments WHERE source != 'import'"
        )
        for created_at, price in bookings:
            row = expected[self._local_day(created_at)]
            row[2] += 1
            row[3] += price
        names = ("total_calls", "converted_calls", "appointments_booked", "revenue_generated")
        problems: list[str] = []
        for day, *stored, rate in await self._db.conn.execute_fetchall(
            "SELECT day, total_calls, converted_calls, appointments_booked, revenue_generated,"
            " conversion_rate FROM call_analytics ORDER BY day"
        ):
            want = expected.pop(day, [0, 0, 0, 0])
            wrong = [
                f"{name} {have} (rows say {need})"
                for name, have, need in zip(names, stored, want, strict=True)
                if have != need
            ]
            right_rate = round(stored[1] / stored[0], 4) if stored[0] else 0.0
            if abs(rate - right_rate) > 1e-9:
                wrong.append(f"conversion_rate {rate} (counters say {right_rate})")
            if wrong:
                problems.append(f"{day}: " + ", ".join(wrong))
        for day, want in sorted(expected.items()):
            if any(want):
                counts = ", ".join(f"{n} {v}" for n, v in zip(names, want, strict=True))
                problems.append(f"{day}: no counter row, rows say {counts}")
        return problems

    def _local_day(self, text: str) -> str:
        return from_db(text).astimezone(self._db.tz).date().isoformat()


def _ids(ids: list[int]) -> str:
    shown = ", ".join(str(i) for i in sorted(ids)[:10])
    return shown + (", ..." if len(ids) > 10 else "")
