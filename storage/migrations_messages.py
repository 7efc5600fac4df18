"""Issue 13's migrations: the messages outbox (15). 14 and 16 come from other branches.

Appended to :data:`storage.migrations.MIGRATIONS` after the dashboard's; never edit one that has
shipped.
"""

from __future__ import annotations

MESSAGES_MIGRATIONS: tuple[str, ...] = (
    """
    -- 15: the messages outbox (issue 13). One row per message to send, written in the same
    -- transaction as the booking, move or cancellation that calls for it. No body is stored:
    -- the sender renders each message from the appointment's current data when it sends it.
    -- idempotency_key (appt:{id}:{kind}:{revision}:{offset}:{channel}) makes every planning
    -- idempotent and names the message to the provider (an email's Message-ID derives from it).
    CREATE TABLE messages (
        id              INTEGER PRIMARY KEY,
        patient_id      INTEGER NOT NULL REFERENCES patients(id),
        appointment_id  INTEGER REFERENCES appointments(id),
        channel         TEXT NOT NULL CHECK (channel IN ('sms', 'email')),
        kind            TEXT NOT NULL
                        CHECK (kind IN ('confirmation', 'reminder', 'moved', 'cancelled')),
        language        TEXT NOT NULL,
        revision        INTEGER NOT NULL DEFAULT 0,
        due_at          TEXT NOT NULL,
        status          TEXT NOT NULL DEFAULT 'pending'
                        CHECK (status IN
                            ('pending', 'sending', 'sent', 'failed', 'dead', 'skipped')),
        attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
        next_attempt_at TEXT NOT NULL,
        claimed_at      TEXT,
        idempotency_key TEXT NOT NULL UNIQUE,
        provider_id     TEXT,
        delivery_status TEXT,
        last_error      TEXT CHECK (last_error IS NULL OR length(last_error) <= 200),
        created_at      TEXT NOT NULL,
        sent_at         TEXT
    );
    -- "Due now": waiting rows by when they may next go; abandoned claims by their claim time.
    CREATE INDEX messages_due ON messages(next_attempt_at) WHERE status IN ('pending', 'failed');
    CREATE INDEX messages_claimed ON messages(claimed_at) WHERE status = 'sending';
    CREATE INDEX messages_appointment ON messages(appointment_id, status);
    CREATE INDEX messages_patient ON messages(patient_id);
    CREATE INDEX messages_provider ON messages(provider_id) WHERE provider_id IS NOT NULL;
    CREATE INDEX messages_status_created ON messages(status, created_at);

    -- A patient's "no more messages on this channel" (an SMS STOP, staff, the patient asking).
    CREATE TABLE message_opt_outs (
        patient_id  INTEGER NOT NULL REFERENCES patients(id) ON DELETE CASCADE,
        channel     TEXT NOT NULL CHECK (channel IN ('sms', 'email')),
        source      TEXT NOT NULL CHECK (length(source) <= 40),
        at          TEXT NOT NULL,
        PRIMARY KEY (patient_id, channel)
    ) WITHOUT ROWID;
    """,
)
