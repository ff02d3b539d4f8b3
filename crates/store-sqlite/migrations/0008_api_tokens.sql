-- 0008: API tokens. A token is a session row of kind 'token', with a name and
-- its scopes (space-separated), so that finding, caching, ending and the
-- last-used time work alike for both kinds, and disabling a user ends their
-- tokens with their sessions. Sign-in sessions are of kind 'session'. Same
-- names as PostgreSQL's 0008.

ALTER TABLE sessions ADD COLUMN kind TEXT NOT NULL DEFAULT 'session'
    CONSTRAINT sessions_kind_check CHECK (kind IN ('session', 'token'));
ALTER TABLE sessions ADD COLUMN name TEXT;
ALTER TABLE sessions ADD COLUMN scopes TEXT;
