"""The dashboard's migrations (issue 12): users, list indexes, staff appointments, web DNC.

Migrations 11, 12, 13 and 14 of :data:`storage.migrations.MIGRATIONS`, in this order; never edit one
that has shipped.
"""

from __future__ import annotations

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


DASHBOARD_MIGRATIONS: tuple[str, ...] = (
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
    # 14 (issue 12): entries staff add on the dashboard's Do-not-call page are stored with
    # source 'web' (before, 'cli'; the audit trail's actor told them apart), and an erased
    # person's keyed-hash entry keeps that source. SQLite widens a CHECK only by rebuilding the
    # table: every row is copied (do_not_call with its rowid, which the page uses as the
    # entry's id), and migration 12's index is made again. Neither table has a foreign key to
    # or from it. Also the indexes of a patient's page (their appointments by time, their calls
    # newest first, their open follow-ups by due time), so it reads ranges, never sorts.
    """
    -- 14: do-not-call source web (the migration tests find this migration by this line)
    CREATE TABLE do_not_call_new (
        -- E.164 only: a plus, a non-zero country digit, then digits, at most 15 in all.
        phone     TEXT NOT NULL PRIMARY KEY
                  CHECK (phone GLOB '+[1-9]*' AND substr(phone, 2) NOT GLOB '*[^0-9]*'
                         AND length(phone) BETWEEN 4 AND 16),
        reason    TEXT CHECK (reason IS NULL OR length(reason) <= 500),
        source    TEXT NOT NULL CHECK (source IN ('agent', 'cli', 'import', 'web')),
        call_id   TEXT,
        added_at  TEXT NOT NULL
    );
    INSERT INTO do_not_call_new (rowid, phone, reason, source, call_id, added_at)
        SELECT rowid, phone, reason, source, call_id, added_at FROM do_not_call;
    DROP TABLE do_not_call;
    ALTER TABLE do_not_call_new RENAME TO do_not_call;
    CREATE INDEX do_not_call_added ON do_not_call(added_at);

    CREATE TABLE do_not_call_hashed_new (
        phone_hash  TEXT NOT NULL PRIMARY KEY
                    CHECK (length(phone_hash) = 64 AND phone_hash NOT GLOB '*[^0-9a-f]*'),
        source      TEXT NOT NULL CHECK (source IN ('agent', 'cli', 'import', 'web')),
        added_at    TEXT NOT NULL,
        hashed_at   TEXT NOT NULL
    );
    INSERT INTO do_not_call_hashed_new (rowid, phone_hash, source, added_at, hashed_at)
        SELECT rowid, phone_hash, source, added_at, hashed_at FROM do_not_call_hashed;
    DROP TABLE do_not_call_hashed;
    ALTER TABLE do_not_call_hashed_new RENAME TO do_not_call_hashed;

    CREATE INDEX appointments_patient_start ON appointments(patient_id, starts_at);
    CREATE INDEX calls_patient_started ON calls(patient_id, started_at);
    CREATE INDEX follow_ups_patient_status_due ON follow_ups(patient_id, status, due_at);
    """,
)
