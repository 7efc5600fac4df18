"""Schema migrations, applied in order at start-up and tracked with PRAGMA user_version.

Append new migrations; never edit one that has shipped.
"""

from __future__ import annotations

from storage.migrations_dashboard import (
    DASHBOARD_MIGRATIONS,
    FOLDED_LETTERS,
    fold_sql,
)
from storage.migrations_messages import MESSAGES_MIGRATIONS
from storage.migrations_runners import RUNNER_MIGRATIONS

__all__ = [
    "ACTIVE_STATUSES",
    "FOLDED_LETTERS",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "fold_sql",
]

ACTIVE_STATUSES = ("scheduled", "confirmed")

MIGRATIONS: tuple[str, ...] = (
    # 1: the clinic core.
    """
    CREATE TABLE patients (
        id          INTEGER PRIMARY KEY,
        phone       TEXT NOT NULL UNIQUE CHECK (phone GLOB '+[1-9]*' AND length(phone) <= 16),
        name        TEXT NOT NULL CHECK (length(name) <= 200),
        email       TEXT CHECK (email IS NULL OR length(email) <= 254),
        language    TEXT NOT NULL DEFAULT 'sq',
        created_at  TEXT NOT NULL,
        updated_at  TEXT NOT NULL
    );

    CREATE TABLE appointments (
        id          INTEGER PRIMARY KEY,
        patient_id  INTEGER NOT NULL REFERENCES patients(id),
        service_id  TEXT NOT NULL,
        chair       INTEGER NOT NULL CHECK (chair >= 1),
        starts_at   TEXT NOT NULL,
        ends_at     TEXT NOT NULL CHECK (ends_at > starts_at),
        status      TEXT NOT NULL DEFAULT 'scheduled'
                    CHECK (status IN
                        ('scheduled', 'confirmed', 'cancelled', 'completed', 'no_show')),
        price_lek   INTEGER NOT NULL CHECK (typeof(price_lek) = 'integer' AND price_lek >= 0),
        source      TEXT NOT NULL CHECK (source IN ('agent', 'cli', 'import')),
        call_id     TEXT,
        legacy_key  TEXT UNIQUE,
        created_at  TEXT NOT NULL
    );
    -- The backstop against double booking: one active appointment per chair and start.
    CREATE UNIQUE INDEX appointments_active_chair_start
        ON appointments(chair, starts_at) WHERE status IN ('scheduled', 'confirmed');
    CREATE INDEX appointments_starts_at ON appointments(starts_at);
    CREATE INDEX appointments_status ON appointments(status);
    CREATE INDEX appointments_patient ON appointments(patient_id);

    -- One row per grid slot an active appointment occupies, so overlapping appointments of any
    -- length collide on the primary key, not only identical start times.
    CREATE TABLE appointment_slots (
        chair           INTEGER NOT NULL,
        slot_start      TEXT NOT NULL,
        appointment_id  INTEGER NOT NULL REFERENCES appointments(id) ON DELETE CASCADE,
        PRIMARY KEY (chair, slot_start)
    ) WITHOUT ROWID;
    CREATE INDEX appointment_slots_start ON appointment_slots(slot_start);
    CREATE INDEX appointment_slots_appointment ON appointment_slots(appointment_id);

    CREATE TRIGGER appointments_release_slots
    AFTER UPDATE OF status ON appointments
    WHEN NEW.status NOT IN ('scheduled', 'confirmed')
    BEGIN
        DELETE FROM appointment_slots WHERE appointment_id = NEW.id;
    END;

    CREATE TABLE follow_ups (
        id          INTEGER PRIMARY KEY,
        patient_id  INTEGER NOT NULL REFERENCES patients(id),
        due_at      TEXT NOT NULL,
        status      TEXT NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'done', 'cancelled')),
        reason      TEXT CHECK (reason IS NULL OR length(reason) <= 500),
        source      TEXT NOT NULL CHECK (source IN ('agent', 'cli', 'import')),
        call_id     TEXT,
        legacy_key  TEXT UNIQUE,
        created_at  TEXT NOT NULL
    );
    CREATE INDEX follow_ups_due_at ON follow_ups(due_at);
    CREATE INDEX follow_ups_status ON follow_ups(status);
    CREATE INDEX follow_ups_patient ON follow_ups(patient_id);

    CREATE TABLE calls (
        id                   TEXT PRIMARY KEY,
        patient_id           INTEGER REFERENCES patients(id),
        -- The number dialled or calling (E.164), also for numbers not (yet) a patient's.
        phone                TEXT CHECK (phone IS NULL OR phone GLOB '+[1-9]*'),
        started_at           TEXT NOT NULL,
        ended_at             TEXT,
        outcome              TEXT,
        outcome_reason       TEXT,
        transcript           TEXT NOT NULL DEFAULT '[]',
        counters             TEXT NOT NULL DEFAULT '{}',
        turns                INTEGER NOT NULL DEFAULT 0,
        tool_calls           INTEGER NOT NULL DEFAULT 0,
        appointments_booked  INTEGER NOT NULL DEFAULT 0,
        revenue_booked       INTEGER NOT NULL DEFAULT 0 CHECK (typeof(revenue_booked) = 'integer')
    );
    CREATE INDEX calls_started_at ON calls(started_at);
    CREATE INDEX calls_patient ON calls(patient_id);
    CREATE INDEX calls_phone_started ON calls(phone, started_at);

    -- Daily roll-up in the clinic's local calendar. Money in whole lek. conversion_rate is
    -- converted_calls / total_calls, where a converted call booked at least one appointment.
    CREATE TABLE call_analytics (
        day                  TEXT PRIMARY KEY,
        total_calls          INTEGER NOT NULL DEFAULT 0,
        converted_calls      INTEGER NOT NULL DEFAULT 0,
        appointments_booked  INTEGER NOT NULL DEFAULT 0,
        revenue_generated    INTEGER NOT NULL DEFAULT 0
                             CHECK (typeof(revenue_generated) = 'integer'),
        conversion_rate      REAL NOT NULL DEFAULT 0
    );
    """,
    # 2: the do-not-call list, checked before every call and every import.
    """
    CREATE TABLE do_not_call (
        -- E.164 only: a plus, a non-zero country digit, then digits, at most 15 in all.
        phone     TEXT NOT NULL PRIMARY KEY
                  CHECK (phone GLOB '+[1-9]*' AND substr(phone, 2) NOT GLOB '*[^0-9]*'
                         AND length(phone) BETWEEN 4 AND 16),
        reason    TEXT CHECK (reason IS NULL OR length(reason) <= 500),
        source    TEXT NOT NULL CHECK (source IN ('agent', 'cli', 'import')),
        call_id   TEXT,
        added_at  TEXT NOT NULL
    );
    """,
    # 3: outbound campaigns: the campaign, the contacts it calls, and every attempt.
    """
    CREATE TABLE campaigns (
        id                    INTEGER PRIMARY KEY,
        name                  TEXT NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 100),
        purpose               TEXT NOT NULL
                              CHECK (purpose IN
                                  ('recall', 'check_up', 'unfinished_treatment', 'follow_up')),
        notes                 TEXT NOT NULL DEFAULT '' CHECK (length(notes) <= 2000),
        status                TEXT NOT NULL DEFAULT 'draft'
                              CHECK (status IN ('draft', 'running', 'paused', 'done')),
        max_concurrent_calls  INTEGER NOT NULL CHECK (max_concurrent_calls >= 1),
        max_attempts          INTEGER NOT NULL CHECK (max_attempts >= 1),
        created_at            TEXT NOT NULL
    );

    CREATE TABLE campaign_contacts (
        id           INTEGER PRIMARY KEY,
        campaign_id  INTEGER NOT NULL REFERENCES campaigns(id),
        patient_id   INTEGER REFERENCES patients(id),
        -- E.164 only, as in do_not_call.
        phone        TEXT NOT NULL
                     CHECK (phone GLOB '+[1-9]*' AND substr(phone, 2) NOT GLOB '*[^0-9]*'
                            AND length(phone) BETWEEN 4 AND 16),
        name         TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
        time_zone    TEXT NOT NULL DEFAULT 'Europe/Tirane',
        country      TEXT NOT NULL DEFAULT 'AL' CHECK (length(country) = 2),
        language     TEXT NOT NULL DEFAULT 'sq' CHECK (language IN ('sq', 'en')),
        priority     INTEGER NOT NULL DEFAULT 0 CHECK (typeof(priority) = 'integer'),
        created_at   TEXT NOT NULL,
        UNIQUE (campaign_id, phone)
    );
    CREATE INDEX campaign_contacts_phone ON campaign_contacts(phone);
    CREATE INDEX campaign_contacts_patient ON campaign_contacts(patient_id);
    CREATE INDEX campaign_contacts_queue ON campaign_contacts(campaign_id, priority DESC, id);

    CREATE TABLE call_attempts (
        id          INTEGER PRIMARY KEY,
        contact_id  INTEGER NOT NULL REFERENCES campaign_contacts(id),
        started_at  TEXT NOT NULL,
        ended_at    TEXT,
        outcome     TEXT CHECK (outcome IS NULL OR outcome IN
                        ('booked', 'follow_up', 'declined', 'no_answer', 'busy', 'voicemail',
                         'failed', 'opted_out', 'transferred')),
        sip_status  TEXT,
        call_id     TEXT,
        duration_s  INTEGER CHECK (duration_s IS NULL OR duration_s >= 0)
    );
    CREATE INDEX call_attempts_contact_started ON call_attempts(contact_id, started_at);
    CREATE INDEX call_attempts_started_at ON call_attempts(started_at);
    CREATE INDEX call_attempts_call ON call_attempts(call_id);
    """,
    # 4: running campaigns: per-campaign calling rules and dialing, a runner lease, the contact
    # queue, and attempts keyed by number so one number is never in two calls at once.
    """
    ALTER TABLE campaigns ADD COLUMN window_days TEXT;
    ALTER TABLE campaigns ADD COLUMN window_intervals TEXT;
    ALTER TABLE campaigns ADD COLUMN retry_delays TEXT NOT NULL DEFAULT '{}';
    ALTER TABLE campaigns ADD COLUMN sip_trunk_id TEXT;
    ALTER TABLE campaigns ADD COLUMN caller_id TEXT;
    ALTER TABLE campaigns ADD COLUMN runner_token TEXT;
    ALTER TABLE campaigns ADD COLUMN runner_pid INTEGER;
    ALTER TABLE campaigns ADD COLUMN runner_host TEXT;
    ALTER TABLE campaigns ADD COLUMN runner_seen_at TEXT;

    ALTER TABLE campaign_contacts ADD COLUMN state TEXT NOT NULL DEFAULT 'queued'
        CHECK (state IN ('queued', 'done'));
    -- NULL: as soon as the calling rules allow.
    ALTER TABLE campaign_contacts ADD COLUMN next_call_at TEXT;
    ALTER TABLE campaign_contacts ADD COLUMN done_reason TEXT;
    CREATE INDEX campaign_contacts_due
        ON campaign_contacts(campaign_id, state, priority DESC, next_call_at, id);

    ALTER TABLE call_attempts ADD COLUMN phone TEXT;
    ALTER TABLE call_attempts ADD COLUMN campaign_id INTEGER REFERENCES campaigns(id);
    ALTER TABLE call_attempts ADD COLUMN room TEXT;
    UPDATE call_attempts SET
        phone = (SELECT phone FROM campaign_contacts c WHERE c.id = contact_id),
        campaign_id = (SELECT campaign_id FROM campaign_contacts c WHERE c.id = contact_id);
    -- The backstop for "never two calls to one number at once", across runners and crashes.
    CREATE UNIQUE INDEX call_attempts_one_open_per_phone ON call_attempts(phone)
        WHERE outcome IS NULL;
    CREATE INDEX call_attempts_phone_started ON call_attempts(phone, started_at);
    CREATE INDEX call_attempts_open_campaign ON call_attempts(campaign_id) WHERE outcome IS NULL;
    """,
    # 5: the planner reads a campaign's (time zone, country) pairs and each pair's first due
    # time before every batch and every wake-up. Without this index that is a scan of every
    # queued contact's row plus a temp b-tree (~60 ms at 100,000 contacts, see
    # docs/benchmarks.md); with it, SQLite answers from the index alone.
    """
    CREATE INDEX campaign_contacts_zones
        ON campaign_contacts(campaign_id, state, time_zone, country, next_call_at, phone);
    """,
    # 6: the audit trail of privacy-relevant staff actions (showing personal data, exports,
    # erasures, retention purges, cancellations). It records who, when and what, never the
    # personal data itself: ``subject`` is a keyed hash or a record id, ``detail`` counts only.
    """
    CREATE TABLE audit_log (
        id          INTEGER PRIMARY KEY,
        at          TEXT NOT NULL,
        actor       TEXT NOT NULL CHECK (length(actor) BETWEEN 1 AND 100),
        action      TEXT NOT NULL CHECK (length(action) BETWEEN 1 AND 60),
        subject     TEXT CHECK (subject IS NULL OR length(subject) <= 200),
        detail      TEXT CHECK (detail IS NULL OR length(detail) <= 2000)
    );
    CREATE INDEX audit_log_at ON audit_log(at);
    """,
    # 7: the do-not-call entries of erased people (GDPR Art. 17): the number is gone, a keyed
    # hash (HMAC-SHA256 of the E.164 number, key outside the database) still blocks it.
    """
    CREATE TABLE do_not_call_hashed (
        phone_hash  TEXT NOT NULL PRIMARY KEY
                    CHECK (length(phone_hash) = 64 AND phone_hash NOT GLOB '*[^0-9a-f]*'),
        source      TEXT NOT NULL CHECK (source IN ('agent', 'cli', 'import')),
        added_at    TEXT NOT NULL,
        hashed_at   TEXT NOT NULL
    );
    """,
    # 8: faults of the system (trunk, credentials, LiveKit) told apart from the patient's
    # outcomes: an attempt with a ``system_fault`` never counts against the patient's attempt
    # caps, and a campaign paused by the fault breaker keeps a reason staff can read.
    """
    ALTER TABLE call_attempts ADD COLUMN system_fault TEXT
        CHECK (system_fault IS NULL OR length(system_fault) BETWEEN 1 AND 300);
    ALTER TABLE campaigns ADD COLUMN pause_reason TEXT
        CHECK (pause_reason IS NULL OR length(pause_reason) <= 500);
    """,
    # 9: what staff asked the service (`elo serve`) to do with a campaign, apart from what a
    # runner is doing (``status``): ``manual`` campaigns run only under `elo campaign run`,
    # ``active`` ones the service runs inside their windows, ``paused`` ones wait for staff
    # (or were paused by the fault breaker), ``stopped`` ones are never dialled again.
    """
    ALTER TABLE campaigns ADD COLUMN service_state TEXT NOT NULL DEFAULT 'manual'
        CHECK (service_state IN ('manual', 'active', 'paused', 'stopped'));
    """,
    # 10 (issue 11): patients call the clinic back. Every call so far was Elo's own (outbound);
    # an inbound call is one a patient placed to the clinic's number and Elo answered.
    """
    ALTER TABLE calls ADD COLUMN direction TEXT NOT NULL DEFAULT 'outbound'
        CHECK (direction IN ('outbound', 'inbound'));
    """,
    *DASHBOARD_MIGRATIONS,
    *MESSAGES_MIGRATIONS,
    *RUNNER_MIGRATIONS,
)

SCHEMA_VERSION = len(MIGRATIONS)
