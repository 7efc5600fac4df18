"""Schema migrations, applied in order at start-up and tracked with PRAGMA user_version.

Append new migrations; never edit one that has shipped.
"""

from __future__ import annotations

ACTIVE_STATUSES = ("scheduled", "confirmed")

# Accented letters a name search ignores (Albanian ë and ç first, then the Latin letters of
# neighbouring languages), each with its plain letter: what validation.text.fold gives for them.
# Part of migration 12's triggers, so never change it (a new list needs a new migration). Two
# halves: SQLite's parser refuses about 40 nested calls, so the fold is two statements.
FOLDED_LETTERS = (
    (("ë", "e"), ("ç", "c"), ("é", "e"), ("è", "e"), ("à", "a"), ("á", "a"), ("ò", "o")),
    (("ó", "o"), ("ù", "u"), ("ú", "u"), ("ì", "i"), ("í", "i"), ("ö", "o"), ("ü", "u")),
)


def fold_sql(column: str, half: int) -> str:
    """SQL folding ``column`` for search, one half of :data:`FOLDED_LETTERS` at a time.

    The first half also lower-cases. SQLite's lower() changes only ASCII letters, so each
    accented letter is replaced in both cases.
    """
    expression = f"lower({column})" if half == 0 else column
    for accented, plain in FOLDED_LETTERS[half]:
        for letter in (accented, accented.upper()):
            expression = f"replace({expression}, '{letter}', '{plain}')"
    return expression


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
    # 11 (issue 12): the dashboard's users and their server-side sessions. A session is found by
    # the SHA-256 of its cookie's random token (a copied database holds no usable cookie); a
    # session with ``totp_pending`` has passed the password only. ``totp_last_step`` keeps a
    # used one-time code from being accepted twice.
    """
    CREATE TABLE users (
        id              INTEGER PRIMARY KEY,
        name            TEXT NOT NULL UNIQUE COLLATE NOCASE
                        CHECK (length(name) BETWEEN 1 AND 64),
        role            TEXT NOT NULL CHECK (role IN ('admin', 'staff')),
        password_hash   TEXT NOT NULL CHECK (password_hash GLOB '$argon2id$*'),
        totp_secret     TEXT CHECK (totp_secret IS NULL OR length(totp_secret) BETWEEN 16 AND 64),
        totp_last_step  INTEGER,
        language        TEXT NOT NULL DEFAULT 'sq' CHECK (language IN ('sq', 'en')),
        disabled        INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
        failed_logins   INTEGER NOT NULL DEFAULT 0 CHECK (failed_logins >= 0),
        locked_until    TEXT,
        created_at      TEXT NOT NULL,
        updated_at      TEXT NOT NULL
    );

    CREATE TABLE web_sessions (
        token_hash    TEXT PRIMARY KEY
                      CHECK (length(token_hash) = 64 AND token_hash NOT GLOB '*[^0-9a-f]*'),
        user_id       INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        csrf_token    TEXT NOT NULL CHECK (length(csrf_token) >= 32),
        totp_pending  INTEGER NOT NULL DEFAULT 0 CHECK (totp_pending IN (0, 1)),
        created_at    TEXT NOT NULL,
        last_seen_at  TEXT NOT NULL,
        expires_at    TEXT NOT NULL
    );
    CREATE INDEX web_sessions_user ON web_sessions(user_id);
    CREATE INDEX web_sessions_expires ON web_sessions(expires_at);
    """,
    # 12 (issue 12): the dashboard's pages. Indexes so every list is a keyset walk of an index
    # (newest or oldest first) and every daily count an index range, never a scan of calls,
    # appointments or campaign contacts; who marked a follow-up done; and each patient's name
    # folded (lower case, common accents removed, see fold_sql) in a table of its own,
    # kept by triggers, so a name search reads one narrow index instead of every patient row.
    """
    CREATE INDEX calls_started_id ON calls(started_at, id, outcome);
    CREATE INDEX calls_outcome_started ON calls(outcome, started_at, id);
    CREATE INDEX calls_direction_started ON calls(direction, started_at, id);
    CREATE INDEX call_attempts_campaign_started ON call_attempts(campaign_id, started_at);
    CREATE INDEX call_attempts_contact_outcome ON call_attempts(contact_id, outcome, call_id);
    CREATE INDEX appointments_call ON appointments(call_id, status, price_lek);
    CREATE INDEX follow_ups_call ON follow_ups(call_id);
    CREATE INDEX appointments_made_in_calls ON appointments(created_at, status, price_lek)
        WHERE call_id IS NOT NULL;
    CREATE INDEX appointments_status_start ON appointments(status, starts_at);
    CREATE INDEX follow_ups_status_due ON follow_ups(status, due_at);
    CREATE INDEX do_not_call_added ON do_not_call(added_at);

    ALTER TABLE follow_ups ADD COLUMN done_at TEXT;
    ALTER TABLE follow_ups ADD COLUMN done_by TEXT
        CHECK (done_by IS NULL OR length(done_by) BETWEEN 1 AND 100);

    CREATE TABLE patient_names (
        patient_id  INTEGER PRIMARY KEY,
        folded      TEXT NOT NULL
    );
    CREATE INDEX patient_names_folded ON patient_names(folded);
    INSERT INTO patient_names (patient_id, folded) SELECT id, {fold_name} FROM patients;
    UPDATE patient_names SET folded = {fold_rest};
    CREATE TRIGGER patients_name_added AFTER INSERT ON patients
    BEGIN
        INSERT INTO patient_names (patient_id, folded) VALUES (NEW.id, {fold_new});
        UPDATE patient_names SET folded = {fold_rest} WHERE patient_id = NEW.id;
    END;
    CREATE TRIGGER patients_name_changed AFTER UPDATE OF name ON patients
    BEGIN
        UPDATE patient_names SET folded = {fold_new} WHERE patient_id = NEW.id;
        UPDATE patient_names SET folded = {fold_rest} WHERE patient_id = NEW.id;
    END;
    CREATE TRIGGER patients_name_removed AFTER DELETE ON patients
    BEGIN
        DELETE FROM patient_names WHERE patient_id = OLD.id;
    END;
    """.format(  # noqa: S608 (fixed letters, no input)
        fold_name=fold_sql("name", 0),
        fold_new=fold_sql("NEW.name", 0),
        fold_rest=fold_sql("folded", 1),
    ),
    # 13 (issue 12): staff book, move, cancel and mark appointments at the clinic's desk.
    # ``source`` gains 'staff'; a cancellation keeps its reason; ``revision`` counts the changes
    # of an appointment's time (a move keeps the appointment's id, so a calendar invite's UID
    # stays and its SEQUENCE is the revision). SQLite changes a CHECK only by rebuilding the
    # table: the rows (ids too) are copied, and appointment_slots is rebuilt with it, because
    # dropping the old table with foreign keys on would delete every slot row (ON DELETE
    # CASCADE). Every index and the trigger of migrations 1 and 12 are made again, unchanged.
    """
    -- 13: staff appointments (the migration tests find this migration by this line)
    CREATE TABLE appointments_new (
        id             INTEGER PRIMARY KEY,
        patient_id     INTEGER NOT NULL REFERENCES patients(id),
        service_id     TEXT NOT NULL,
        chair          INTEGER NOT NULL CHECK (chair >= 1),
        starts_at      TEXT NOT NULL,
        ends_at        TEXT NOT NULL CHECK (ends_at > starts_at),
        status         TEXT NOT NULL DEFAULT 'scheduled'
                       CHECK (status IN
                           ('scheduled', 'confirmed', 'cancelled', 'completed', 'no_show')),
        price_lek      INTEGER NOT NULL CHECK (typeof(price_lek) = 'integer' AND price_lek >= 0),
        source         TEXT NOT NULL CHECK (source IN ('agent', 'cli', 'import', 'staff')),
        call_id        TEXT,
        legacy_key     TEXT UNIQUE,
        created_at     TEXT NOT NULL,
        cancel_reason  TEXT CHECK (cancel_reason IS NULL OR length(cancel_reason) <= 500),
        revision       INTEGER NOT NULL DEFAULT 0 CHECK (revision >= 0),
        updated_at     TEXT
    );
    INSERT INTO appointments_new (id, patient_id, service_id, chair, starts_at, ends_at, status,
                                  price_lek, source, call_id, legacy_key, created_at)
        SELECT id, patient_id, service_id, chair, starts_at, ends_at, status, price_lek, source,
               call_id, legacy_key, created_at
        FROM appointments;
    CREATE TEMP TABLE appointment_slots_copy AS
        SELECT chair, slot_start, appointment_id FROM appointment_slots;
    -- The child first: with it gone, dropping the parent cascades into nothing.
    DROP TABLE appointment_slots;
    DROP TABLE appointments;
    ALTER TABLE appointments_new RENAME TO appointments;
    CREATE UNIQUE INDEX appointments_active_chair_start
        ON appointments(chair, starts_at) WHERE status IN ('scheduled', 'confirmed');
    CREATE INDEX appointments_starts_at ON appointments(starts_at);
    CREATE INDEX appointments_status ON appointments(status);
    CREATE INDEX appointments_patient ON appointments(patient_id);
    -- Migration 12's (the dashboard's lists and figures), made again on the new table.
    CREATE INDEX appointments_call ON appointments(call_id, status, price_lek);
    CREATE INDEX appointments_made_in_calls ON appointments(created_at, status, price_lek)
        WHERE call_id IS NOT NULL;
    CREATE INDEX appointments_status_start ON appointments(status, starts_at);

    CREATE TABLE appointment_slots (
        chair           INTEGER NOT NULL,
        slot_start      TEXT NOT NULL,
        appointment_id  INTEGER NOT NULL REFERENCES appointments(id) ON DELETE CASCADE,
        PRIMARY KEY (chair, slot_start)
    ) WITHOUT ROWID;
    INSERT INTO appointment_slots (chair, slot_start, appointment_id)
        SELECT chair, slot_start, appointment_id FROM appointment_slots_copy;
    DROP TABLE appointment_slots_copy;
    CREATE INDEX appointment_slots_start ON appointment_slots(slot_start);
    CREATE INDEX appointment_slots_appointment ON appointment_slots(appointment_id);

    CREATE TRIGGER appointments_release_slots
    AFTER UPDATE OF status ON appointments
    WHEN NEW.status NOT IN ('scheduled', 'confirmed')
    BEGIN
        DELETE FROM appointment_slots WHERE appointment_id = NEW.id;
    END;
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)
