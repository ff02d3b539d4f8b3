-- 0007: users and access, PostgreSQL twin of store-sqlite's 0007 (same
-- columns and constraint names). Users get a display name, an email,
-- `disabled`, `must_change_password` and `updated_at`; sessions get an `id`
-- (existing ones a random one, so they keep working), `last_used_at`, and
-- the client address and user agent of the sign-in.

ALTER TABLE users
    ADD COLUMN display_name TEXT,
    ADD COLUMN email TEXT,
    ADD COLUMN disabled BOOLEAN NOT NULL DEFAULT FALSE,
    ADD COLUMN must_change_password BOOLEAN NOT NULL DEFAULT FALSE,
    ADD COLUMN updated_at TIMESTAMPTZ;
UPDATE users SET updated_at = created_at;
ALTER TABLE users ALTER COLUMN updated_at SET NOT NULL;

ALTER TABLE sessions
    ADD COLUMN id UUID,
    ADD COLUMN last_used_at TIMESTAMPTZ,
    ADD COLUMN client_addr TEXT,
    ADD COLUMN user_agent TEXT;
UPDATE sessions SET id = gen_random_uuid();
ALTER TABLE sessions ALTER COLUMN id SET NOT NULL;
ALTER TABLE sessions ADD CONSTRAINT sessions_id_key UNIQUE (id);
CREATE INDEX sessions_user_id_idx ON sessions (user_id);
