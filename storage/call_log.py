"""The Calls pages: the list (filters, keyset pages, newest first) and one call's detail."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from storage.call_events import latency, summary, tool_calls, transcript_lines
from storage.cursors import decode, encode, page_size
from storage.dashboard_models import CallDetail, CallListItem, CallPage
from storage.database import Database
from storage.models import CallDirection, CallOutcome
from storage.rows import to_call
from storage.timefmt import from_db, to_db
from validation.phone import mask_phone

# The columns a list row shows (never the transcript or counters).
_COLUMNS = (
    "c.id, c.started_at, c.ended_at, c.direction, c.outcome, c.phone, c.patient_id, c.turns,"
    " c.appointments_booked, c.revenue_booked"
)


class CallLog:
    """Calls as staff browse them. Numbers are masked; names only when asked for.

    Args:
        db: The open database.
    """

    def __init__(self, db: Database) -> None:
        self._db = db

    def _range(self, first_day: date | None, last_day: date | None) -> list[tuple[str, str]]:
        """The (operator, UTC text) bounds of local days ``first_day`` to ``last_day``."""
        if first_day is not None and last_day is not None and last_day < first_day:
            raise ValueError("last_day is before first_day")
        tz = self._db.tz
        bounds = []
        if first_day is not None:
            bounds.append((">=", to_db(datetime.combine(first_day, time(0), tzinfo=tz))))
        if last_day is not None:
            end = datetime.combine(last_day + timedelta(days=1), time(0), tzinfo=tz)
            bounds.append(("<", to_db(end)))
        return bounds

    async def page(
        self,
        *,
        first_day: date | None = None,
        last_day: date | None = None,
        outcome: CallOutcome | str | None = None,
        campaign_id: int | None = None,
        direction: CallDirection | str | None = None,
        cursor: str | None = None,
        limit: int = 50,
        with_names: bool = False,
    ) -> CallPage:
        """One page of calls, newest first.

        Args:
            first_day: Only calls from this clinic-local day on (one day: pass it as both).
            last_day: Only calls up to this local day, inclusive (alone: up to it).
            outcome: Only calls with this outcome.
            campaign_id: Only calls placed for this campaign; these are ordered (and their days
                filtered) by the start of the campaign's dial, which opened the call.
            direction: Only outbound or only inbound calls.
            cursor: ``next_cursor`` of the previous page with the same filters; None: first.
            limit: Rows per page, 1 to 200.
            with_names: Add the patient's name (the page asked for names).

        Raises:
            ValueError: An unknown outcome or direction, a bad range or limit.
            CursorError: A cursor this list did not make.
        """
        limit = page_size(limit)
        where: list[str] = []
        params: list[Any] = []
        if outcome is not None:
            where.append("c.outcome = ?")
            params.append(str(CallOutcome(outcome)))
        if direction is not None:
            where.append("c.direction = ?")
            params.append(str(CallDirection(direction)))
        span = self._range(first_day, last_day)
        if campaign_id is None:
            kind, key_columns, source = "calls", "c.started_at, c.id", "calls c"
            extra = ", (SELECT campaign_id FROM call_attempts a WHERE a.call_id = c.id) AS campaign"
            time_column = "c.started_at"
        else:
            kind, key_columns = "campaign_calls", "a.started_at, a.id"
            source = "call_attempts a JOIN calls c ON c.id = a.call_id"
            extra = ", a.campaign_id AS campaign, a.started_at AS a_started, a.id AS a_id"
            time_column = "a.started_at"
            where.append("a.campaign_id = ?")
            params.append(campaign_id)
        for operator, bound in span:
            where.append(f"{time_column} {operator} ?")
            params.append(bound)
        if cursor is not None:
            key = decode(cursor, kind, (str, str) if campaign_id is None else (str, int))
            where.append(f"({key_columns}) < (?, ?)")
            params += list(key)
        names = ""
        if with_names:
            extra += ", p.name AS patient_name"
            names = " LEFT JOIN patients p ON p.id = c.patient_id"
        order = ", ".join(f"{column} DESC" for column in key_columns.split(", "))
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        # Fixed column names and placeholders only; every value is a parameter.
        sql = f"SELECT {_COLUMNS}{extra} FROM {source}{names}{clause} ORDER BY {order} LIMIT ?"  # noqa: S608
        rows = await self._db.rows(sql, [*params, limit + 1])
        items = [self._item(row, with_names) for row in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            last = rows[limit - 1]
            next_key = (
                (last["started_at"], last["id"])
                if campaign_id is None
                else (last["a_started"], last["a_id"])
            )
            next_cursor = encode(kind, next_key)
        return CallPage(items=items, next_cursor=next_cursor)

    @staticmethod
    def _item(row: Any, with_names: bool) -> CallListItem:
        return CallListItem(
            id=row["id"],
            started_at=from_db(row["started_at"]),
            ended_at=from_db(row["ended_at"]) if row["ended_at"] else None,
            direction=row["direction"],
            outcome=row["outcome"],
            phone_masked=mask_phone(row["phone"]) if row["phone"] else None,
            patient_id=row["patient_id"],
            patient_name=row["patient_name"] if with_names else None,
            campaign_id=row["campaign"],
            turns=row["turns"],
            appointments_booked=row["appointments_booked"],
            revenue_booked=row["revenue_booked"],
        )

    async def detail(self, *, call_id: str, with_name: bool = False) -> CallDetail | None:
        """One call's page: its row, transcript, tool calls, latencies and plain summary.

        Viewing a transcript is personal data: the caller records it in the audit trail.

        Args:
            call_id: The call.
            with_name: Add the patient's name.

        Returns:
            The detail, or None when there is no such call.
        """
        row = await self._db.row("SELECT * FROM calls WHERE id = ?", (call_id,))
        if row is None:
            return None
        record = to_call(row)
        extra = await self._db.row(
            "SELECT a.campaign_id, k.name AS campaign_name,"
            " (SELECT name FROM patients WHERE id = ?) AS patient_name"
            " FROM (SELECT 1) AS one LEFT JOIN call_attempts a ON a.call_id = ?"
            " LEFT JOIN campaigns k ON k.id = a.campaign_id LIMIT 1",
            (record.patient_id, call_id),
        )
        assert extra is not None
        entries = [e for e in record.transcript if isinstance(e, dict)]
        return CallDetail(
            id=record.id,
            started_at=record.started_at,
            ended_at=record.ended_at,
            direction=record.direction,
            outcome=record.outcome,
            outcome_reason=record.outcome_reason,
            phone_masked=mask_phone(record.phone) if record.phone else None,
            patient_id=record.patient_id,
            patient_name=extra["patient_name"] if with_name else None,
            campaign_id=extra["campaign_id"],
            campaign_name=extra["campaign_name"],
            turns=record.turns,
            appointments_booked=record.appointments_booked,
            revenue_booked=record.revenue_booked,
            transcript=transcript_lines(entries),
            tool_calls=tool_calls(entries),
            response_latency=latency(record.counters, "latency_ms"),
            pipeline_latency=latency(record.counters, "pipeline_ms"),
            summary=summary(record),
        )
