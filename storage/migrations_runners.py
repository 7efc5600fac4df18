"""Migration 17 (issue 14): several runners work one campaign at once, each registered here.

Kept in its own module (SQLite text here, PostgreSQL's in storage/schema_pg.py at the same
number) so the migration lists stay short.
"""

from __future__ import annotations

RUNNER_MIGRATIONS: tuple[str, ...] = (
    """
    -- 17: several runners per campaign (one row each, renewed while it runs), and which runner
    -- holds each open attempt (a dead runner's attempts are adopted by a live one).
    CREATE TABLE campaign_runners (
        token        TEXT PRIMARY KEY,
        campaign_id  INTEGER NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
        host         TEXT NOT NULL,
        pid          INTEGER NOT NULL,
        started_at   TEXT NOT NULL,
        seen_at      TEXT NOT NULL
    );
    CREATE INDEX campaign_runners_campaign ON campaign_runners(campaign_id, seen_at);
    ALTER TABLE call_attempts ADD COLUMN runner_token TEXT;
    CREATE INDEX call_attempts_open_runner ON call_attempts(runner_token) WHERE outcome IS NULL;
    """,
)
