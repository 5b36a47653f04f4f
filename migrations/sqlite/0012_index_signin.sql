-- The SQLite twin of postgres/0012_index_signin.sql: read the comments there. SQLite
-- cannot change a CHECK constraint, so the table is built anew with it. Dropping the old
-- table deletes the pending WebAuthn challenges of every session (they live 5 minutes).
CREATE TABLE sessions_new (
    id               TEXT PRIMARY KEY,
    user_id          INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    stage            TEXT NOT NULL CHECK (stage IN ('second-factor', 'full')),
    created_at       INTEGER NOT NULL,
    authenticated_at INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL,
    factor           TEXT NOT NULL DEFAULT 'password'
        CHECK (factor IN ('password', 'totp', 'webauthn', 'recovery', 'index', 'index-mfa')),
    factor_proof_at  INTEGER,
    last_seen_at     INTEGER NOT NULL DEFAULT 0,
    address          TEXT NOT NULL DEFAULT '',
    user_agent       TEXT NOT NULL DEFAULT ''
) STRICT;
INSERT INTO sessions_new (id, user_id, stage, created_at, authenticated_at, expires_at, factor, factor_proof_at, last_seen_at, address, user_agent)
    SELECT id, user_id, stage, created_at, authenticated_at, expires_at, factor, factor_proof_at, last_seen_at, address, user_agent FROM sessions;
DROP TABLE sessions;
ALTER TABLE sessions_new RENAME TO sessions;
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expires ON sessions (expires_at);
