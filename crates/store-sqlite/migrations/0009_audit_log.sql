-- 0009: the audit trail. One row per change, written in the change's
-- transaction; rows are never edited (the trigger refuses it), and only the
-- retention prune deletes them. `changes` is JSON text: the fields that
-- changed, before and after. Same names as PostgreSQL's 0009.

CREATE TABLE audit_log (
    id             INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    at             INTEGER NOT NULL,
    actor_id       TEXT,
    actor_username TEXT,
    via            TEXT    NOT NULL
        CONSTRAINT audit_log_via_check CHECK (via IN ('session', 'token', 'cli', 'system')),
    token_id       TEXT,
    action         TEXT    NOT NULL,
    target_type    TEXT    NOT NULL,
    target_id      TEXT    NOT NULL,
    changes        TEXT    NOT NULL,
    request_id     TEXT,
    client_addr    TEXT
);
CREATE INDEX audit_log_at_idx ON audit_log (at);
CREATE INDEX audit_log_actor_idx ON audit_log (actor_id, id);
CREATE INDEX audit_log_target_idx ON audit_log (target_type, target_id, id);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit entries are append-only');
END;

-- An entity's previous event, so that an entry can say what changed.
CREATE INDEX events_entity_id_idx ON events (entity_id, id);
