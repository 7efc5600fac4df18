"""The runners working each campaign: one row per live runner, renewed while it runs.

Several runners (processes, on one host or several) may work one campaign at once; each claims
its own contacts (see :class:`storage.campaign_queue.CampaignQueue`). A runner that stops
checking in is adopted by a live one: :meth:`CampaignRunners.adopt` deletes the dead runner's
row and hands its open attempts to the adopter in one exclusive write transaction, so exactly
one runner hangs them up and records them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pydantic import BaseModel

from storage.database import Database
from storage.models import CallAttempt, CampaignState
from storage.rows import to_attempt
from storage.timefmt import from_db, to_db


class RunnerInfo(BaseModel):
    """One registered runner of a campaign (no patient data)."""

    token: str
    campaign_id: int
    host: str
    pid: int
    started_at: datetime
    seen_at: datetime


class CampaignRunners:
    """The ``campaign_runners`` table.

    Args:
        db: The open database.
    """

    def __init__(self, db: Database) -> None:
        self._db = db

    async def register(self, *, campaign_id: int, token: str, host: str, pid: int) -> None:
        """Join the campaign's runners; the campaign is ``running`` from now on."""
        now = to_db(self._db.clock())
        async with self._db.transaction() as conn:
            await conn.execute(
                "INSERT INTO campaign_runners (token, campaign_id, host, pid, started_at, seen_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (token, campaign_id, host, pid, now, now),
            )
            await conn.execute(
                "UPDATE campaigns SET status = 'running', pause_reason = NULL WHERE id = ?",
                (campaign_id,),
            )

    async def renew(self, *, token: str) -> bool:
        """Check in. False means this runner was taken for dead and adopted by another."""
        # A row update: an adoption deleting the row first makes it touch nothing.
        async with self._db.transaction(exclusive=False) as conn:
            cursor = await conn.execute(
                "UPDATE campaign_runners SET seen_at = ? WHERE token = ?",
                (to_db(self._db.clock()), token),
            )
            return cursor.rowcount == 1

    async def holds(self, *, token: str, attempt_id: int) -> bool:
        """Whether this runner is still registered and still holds the open attempt.

        Checked before dialling: a runner cut off from the database for longer than its lease
        was taken for dead, and its attempts were adopted and recorded by another runner.
        """
        rows = await self._db.rows(
            "SELECT 1 FROM call_attempts a JOIN campaign_runners r ON r.token = a.runner_token"
            " WHERE a.id = ? AND a.runner_token = ? AND a.outcome IS NULL",
            (attempt_id, token),
        )
        return bool(rows)

    async def release(
        self,
        *,
        campaign_id: int,
        token: str,
        status: CampaignState,
        pause_reason: str | None = None,
    ) -> None:
        """Leave the campaign's runners; the last one out (or one that finished it) sets ``status``.

        Args:
            campaign_id: The campaign.
            token: This runner's token.
            status: The campaign's status from now on, unless other runners still work it
                (``done`` is always written: nothing is left for them either).
            pause_reason: Why the runner paused the campaign by itself (e.g. the fault
                breaker), one line for ``elo campaign status``; None for an ordinary stop.
        """
        async with self._db.transaction() as conn:
            cursor = await conn.execute("DELETE FROM campaign_runners WHERE token = ?", (token,))
            if cursor.rowcount != 1:
                return  # adopted by another runner meanwhile: the campaign is theirs
            others = await conn.execute_fetchall(
                "SELECT count(*) AS n FROM campaign_runners WHERE campaign_id = ?", (campaign_id,)
            )
            if status == "done" or others[0]["n"] == 0 or pause_reason is not None:
                # A campaign another runner finished stays done.
                await conn.execute(
                    "UPDATE campaigns SET status = ?, pause_reason = ?"
                    " WHERE id = ? AND (status != 'done' OR ? = 'done')",
                    (status, pause_reason[:500] if pause_reason else None, campaign_id, status),
                )

    async def list(self, *, campaign_id: int) -> list[RunnerInfo]:
        """The campaign's registered runners, oldest first."""
        rows = await self._db.rows(
            "SELECT * FROM campaign_runners WHERE campaign_id = ? ORDER BY started_at, token",
            (campaign_id,),
        )
        return [
            RunnerInfo.model_validate(
                {
                    **dict(row),
                    "started_at": from_db(row["started_at"]),
                    "seen_at": from_db(row["seen_at"]),
                }
            )
            for row in rows
        ]

    async def adopt(
        self,
        *,
        campaign_id: int,
        token: str,
        stale_before: datetime,
        dead: Sequence[str] = (),
    ) -> list[CallAttempt]:
        """Take over the open attempts of the campaign's dead runners, in one transaction.

        A runner is dead when it last checked in before ``stale_before``, or when its token is
        in ``dead`` (its process is known gone); its row is deleted. Open attempts of the
        campaign held by no registered runner (a dead one's, or from before runners were
        registered) are handed to ``token``; the caller hangs them up and records them.

        Returns:
            The adopted attempts, now held by ``token``.
        """
        marks = ", ".join("?" for _ in dead) or "NULL"
        async with self._db.transaction() as conn:
            await conn.execute(
                "DELETE FROM campaign_runners WHERE campaign_id = ? AND token != ?"  # noqa: S608
                f" AND (seen_at < ? OR token IN ({marks}))",
                (campaign_id, token, to_db(stale_before), *dead),
            )
            rows = await conn.execute_fetchall(
                "UPDATE call_attempts SET runner_token = ?"
                " WHERE campaign_id = ? AND outcome IS NULL AND (runner_token IS NULL"
                "  OR runner_token NOT IN (SELECT token FROM campaign_runners))"
                " RETURNING *",
                (token, campaign_id),
            )
        return sorted((to_attempt(row) for row in rows), key=lambda a: a.id)
