"""Issue 13's migrations: messages, confirmation calls, Italian contacts.

Appended to :data:`storage.migrations.MIGRATIONS` after the dashboard's, in the order of their
numbers; never edit one that has shipped.
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
    # 16 (issue 13): voice confirmation calls. A campaign's purpose may be 'confirmation'; a
    # contact may say which appointment its call is about (``appointment_id``) and may speak
    # Italian; an appointment keeps when and how it was confirmed. SQLite changes a CHECK only
    # by rebuilding the table, and foreign keys are on while migrating (PRAGMA foreign_keys
    # cannot change inside the migration's transaction): dropping ``campaigns`` or
    # ``campaign_contacts`` while a child row points at them would fail (an implicit DELETE).
    # So the three tables are copied to temporary tables, dropped children first, made again
    # with the same columns in the same order (plus the new one) and filled parents first,
    # ids kept. Every index of migrations 3, 4, 5 and 12 is made again, unchanged, except one:
    # "one contact per number in a campaign" holds for imported contacts only, because the
    # confirmations campaign calls a patient once per appointment (next month's appointment is
    # a new contact for the same number); an appointment has at most one contact, anywhere.
    """
    -- 16: confirmation calls (the migration tests find this migration by this line)
    ALTER TABLE appointments ADD COLUMN confirmed_at TEXT;
    ALTER TABLE appointments ADD COLUMN confirmed_via TEXT
        CHECK (confirmed_via IS NULL OR confirmed_via IN ('call', 'sms', 'email', 'staff'));

    CREATE TEMP TABLE campaigns_copy AS SELECT * FROM campaigns;
    CREATE TEMP TABLE campaign_contacts_copy AS SELECT * FROM campaign_contacts;
    CREATE TEMP TABLE call_attempts_copy AS SELECT * FROM call_attempts;
    DROP TABLE call_attempts;
    DROP TABLE campaign_contacts;
    DROP TABLE campaigns;

    CREATE TABLE campaigns (
        id                    INTEGER PRIMARY KEY,
        name                  TEXT NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 100),
        purpose               TEXT NOT NULL
                              CHECK (purpose IN ('recall', 'check_up', 'unfinished_treatment',
                                                 'follow_up', 'confirmation')),
        notes                 TEXT NOT NULL DEFAULT '' CHECK (length(notes) <= 2000),
        status                TEXT NOT NULL DEFAULT 'draft'
                              CHECK (status IN ('draft', 'running', 'paused', 'done')),
        max_concurrent_calls  INTEGER NOT NULL CHECK (max_concurrent_calls >= 1),
        max_attempts          INTEGER NOT NULL CHECK (max_attempts >= 1),
        created_at            TEXT NOT NULL,
        window_days           TEXT,
        window_intervals      TEXT,
        retry_delays          TEXT NOT NULL DEFAULT '{}',
        sip_trunk_id          TEXT,
        caller_id             TEXT,
        runner_token          TEXT,
        runner_pid            INTEGER,
        runner_host           TEXT,
        runner_seen_at        TEXT,
        pause_reason          TEXT CHECK (pause_reason IS NULL OR length(pause_reason) <= 500),
        service_state         TEXT NOT NULL DEFAULT 'manual'
                              CHECK (service_state IN ('manual', 'active', 'paused', 'stopped'))
    );
    INSERT INTO campaigns SELECT * FROM campaigns_copy;

    CREATE TABLE campaign_contacts (
        id              INTEGER PRIMARY KEY,
        campaign_id     INTEGER NOT NULL REFERENCES campaigns(id),
        patient_id      INTEGER REFERENCES patients(id),
        phone           TEXT NOT NULL
                        CHECK (phone GLOB '+[1-9]*' AND substr(phone, 2) NOT GLOB '*[^0-9]*'
                               AND length(phone) BETWEEN 4 AND 16),
        name            TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
        time_zone       TEXT NOT NULL DEFAULT 'Europe/Tirane',
        country         TEXT NOT NULL DEFAULT 'AL' CHECK (length(country) = 2),
        language        TEXT NOT NULL DEFAULT 'sq' CHECK (language IN ('sq', 'en', 'it')),
        priority        INTEGER NOT NULL DEFAULT 0 CHECK (typeof(priority) = 'integer'),
        created_at      TEXT NOT NULL,
        state           TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'done')),
        next_call_at    TEXT,
        done_reason     TEXT,
        -- The appointment a confirmation call is about; NULL for every other campaign.
        appointment_id  INTEGER REFERENCES appointments(id)
    );
    INSERT INTO campaign_contacts (id, campaign_id, patient_id, phone, name, time_zone, country,
                                   language, priority, created_at, state, next_call_at,
                                   done_reason)
        SELECT id, campaign_id, patient_id, phone, name, time_zone, country, language, priority,
               created_at, state, next_call_at, done_reason
        FROM campaign_contacts_copy;
    -- Was the table's UNIQUE (campaign_id, phone); the importer's upsert names this WHERE.
    CREATE UNIQUE INDEX campaign_contacts_campaign_phone
        ON campaign_contacts(campaign_id, phone) WHERE appointment_id IS NULL;
    CREATE UNIQUE INDEX campaign_contacts_appointment
        ON campaign_contacts(appointment_id) WHERE appointment_id IS NOT NULL;
    CREATE INDEX campaign_contacts_phone ON campaign_contacts(phone);
    CREATE INDEX campaign_contacts_patient ON campaign_contacts(patient_id);
    CREATE INDEX campaign_contacts_queue ON campaign_contacts(campaign_id, priority DESC, id);
    CREATE INDEX campaign_contacts_due
        ON campaign_contacts(campaign_id, state, priority DESC, next_call_at, id);
    CREATE INDEX campaign_contacts_zones
        ON campaign_contacts(campaign_id, state, time_zone, country, next_call_at, phone);

    CREATE TABLE call_attempts (
        id            INTEGER PRIMARY KEY,
        contact_id    INTEGER NOT NULL REFERENCES campaign_contacts(id),
        started_at    TEXT NOT NULL,
        ended_at      TEXT,
        outcome       TEXT CHECK (outcome IS NULL OR outcome IN
                          ('booked', 'follow_up', 'declined', 'no_answer', 'busy', 'voicemail',
                           'failed', 'opted_out', 'transferred')),
        sip_status    TEXT,
        call_id       TEXT,
        duration_s    INTEGER CHECK (duration_s IS NULL OR duration_s >= 0),
        phone         TEXT,
        campaign_id   INTEGER REFERENCES campaigns(id),
        room          TEXT,
        system_fault  TEXT
                      CHECK (system_fault IS NULL OR length(system_fault) BETWEEN 1 AND 300)
    );
    INSERT INTO call_attempts SELECT * FROM call_attempts_copy;
    CREATE INDEX call_attempts_contact_started ON call_attempts(contact_id, started_at);
    CREATE INDEX call_attempts_started_at ON call_attempts(started_at);
    CREATE INDEX call_attempts_call ON call_attempts(call_id);
    CREATE UNIQUE INDEX call_attempts_one_open_per_phone ON call_attempts(phone)
        WHERE outcome IS NULL;
    CREATE INDEX call_attempts_phone_started ON call_attempts(phone, started_at);
    CREATE INDEX call_attempts_open_campaign ON call_attempts(campaign_id) WHERE outcome IS NULL;
    CREATE INDEX call_attempts_campaign_started ON call_attempts(campaign_id, started_at);
    CREATE INDEX call_attempts_contact_outcome ON call_attempts(contact_id, outcome, call_id);

    DROP TABLE call_attempts_copy;
    DROP TABLE campaign_contacts_copy;
    DROP TABLE campaigns_copy;
    """,
)
