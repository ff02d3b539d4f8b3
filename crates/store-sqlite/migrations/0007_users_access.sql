-- 0007: users and access. Users get a display name, an email, `disabled`
-- (a disabled user cannot sign in and has no sessions), `must_change_password`
-- (set by a reset: the one-time password must be changed before anything
-- else) and `updated_at`. Sessions get an `id` (so that one can be named and
-- ended without its token), `last_used_at` (written at most once a minute),
-- and the client address and user agent of the sign-in. Existing sessions
-- keep working: they are given a random id. Same names as PostgreSQL's 0007.

ALTER TABLE users ADD COLUMN display_name TEXT;
ALTER TABLE users ADD COLUMN email TEXT;
ALTER TABLE users ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0
    CONSTRAINT users_disabled_check CHECK (disabled IN (0, 1));
ALTER TABLE users ADD COLUMN must_change_password INTEGER NOT NULL DEFAULT 0
    CONSTRAINT users_must_change_password_check CHECK (must_change_password IN (0, 1));
ALTER TABLE users ADD COLUMN updated_at INTEGER NOT NULL DEFAULT 0;
UPDATE users SET updated_at = created_at;

CREATE TABLE sessions_new (
    token_hash   TEXT    NOT NULL PRIMARY KEY,
    id           TEXT    NOT NULL CONSTRAINT sessions_id_key UNIQUE,
    user_id      TEXT    NOT NULL REFERENCES users (id),
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    client_addr  TEXT,
    user_agent   TEXT
);
-- A random (version 4) UUID for each existing session.
INSERT INTO sessions_new (token_hash, id, user_id, created_at, expires_at)
SELECT token_hash,
       lower(hex(randomblob(4))) || '-' || lower(hex(randomblob(2))) || '-4'
           || substr(lower(hex(randomblob(2))), 2) || '-'
           || substr('89ab', 1 + (abs(random()) % 4), 1)
           || substr(lower(hex(randomblob(2))), 2) || '-' || lower(hex(randomblob(6))),
       user_id, created_at, expires_at
FROM sessions;
DROP TABLE sessions;
ALTER TABLE sessions_new RENAME TO sessions;
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);
CREATE INDEX sessions_user_id_idx ON sessions (user_id);
