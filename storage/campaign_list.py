"""The Campaigns list page: campaigns newest first, in keyset pages, with their contact counts."""

from __future__ import annotations

from storage.cursors import decode, encode, page_size
from storage.dashboard_models import CampaignPage
from storage.database import Database
from storage.models import CampaignSummary
from storage.timefmt import from_db

# The counts are index searches of campaign_contacts (campaign_contacts_due starts with
# campaign_id, state), one per campaign of the page; never a scan of every contact.
_SUMMARY = (
    "SELECT c.id, c.name, c.purpose, c.status, c.service_state, c.created_at,"
    " (SELECT count(*) FROM campaign_contacts k WHERE k.campaign_id = c.id) AS contacts,"
    " (SELECT count(*) FROM campaign_contacts k"
    "   WHERE k.campaign_id = c.id AND k.state = 'queued') AS queued,"
    " EXISTS (SELECT 1 FROM campaign_runners r WHERE r.campaign_id = c.id) AS running_now"
    " FROM campaigns c"
)


class CampaignList:
    """Campaigns as the dashboard lists them (no patient data).

    Args:
        db: The open database.
    """

    def __init__(self, db: Database) -> None:
        self._db = db

    async def page(self, *, cursor: str | None = None, limit: int = 50) -> CampaignPage:
        """One page of campaigns, newest (highest id) first.

        Args:
            cursor: ``next_cursor`` of the previous page; None: the first page.
            limit: Rows per page, 1 to 200.

        Raises:
            ValueError: A bad limit.
            CursorError: A cursor this list did not make.
        """
        limit = page_size(limit)
        where, params = "", []
        if cursor is not None:
            # The id is the rowid: the next page is a range of the table's own b-tree.
            where = " WHERE c.id < ?"
            params = list(decode(cursor, "campaigns", (int,)))
        rows = await self._db.rows(
            f"{_SUMMARY}{where} ORDER BY c.id DESC LIMIT ?",
            [*params, limit + 1],
        )
        items = [
            CampaignSummary.model_validate(
                {
                    **dict(row),
                    "created_at": from_db(row["created_at"]),
                    "running_now": bool(row["running_now"]),
                }
            )
            for row in rows[:limit]
        ]
        next_cursor = encode("campaigns", (items[-1].id,)) if len(rows) > limit else None
        return CampaignPage(items=items, next_cursor=next_cursor)
