-- The owner web UI, the SQLite twin of postgres/0002_owner_ui.sql: read the comments there.

ALTER TABLE users ADD COLUMN email_verified_at INTEGER;

ALTER TABLE webauthn_credentials ADD COLUMN record BLOB;

CREATE TABLE sessions (
    id               TEXT PRIMARY KEY,
    user_id          INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    stage            TEXT NOT NULL CHECK (stage IN ('second-factor', 'full')),
    created_at       INTEGER NOT NULL,
    authenticated_at INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL
) STRICT;
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expires ON sessions (expires_at);

CREATE TABLE webauthn_challenges (
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    ceremony   TEXT NOT NULL,
    data       BLOB NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (session_id, ceremony)
) STRICT;
CREATE INDEX webauthn_challenges_expires ON webauthn_challenges (expires_at);

CREATE TABLE recovery_codes (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash  TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    used_at    INTEGER,
    UNIQUE (user_id, code_hash)
) STRICT;

CREATE TABLE email_tokens (
    token_hash TEXT PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email      TEXT NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;
CREATE INDEX email_tokens_expires ON email_tokens (expires_at);

CREATE TABLE outbox (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at  INTEGER NOT NULL,
    recipient   TEXT NOT NULL,
    subject     TEXT NOT NULL,
    body        TEXT NOT NULL,
    dedupe_key  TEXT UNIQUE,
    attempts    INTEGER NOT NULL DEFAULT 0,
    lease_until INTEGER NOT NULL,
    sent_at     INTEGER,
    last_error  TEXT NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX outbox_due ON outbox (lease_until) WHERE sent_at IS NULL;

CREATE TABLE project_invitations (
    project_id INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    invited_by INTEGER REFERENCES users (id) ON DELETE SET NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (project_id, user_id)
) STRICT;
CREATE INDEX project_invitations_user ON project_invitations (user_id);

CREATE TABLE failed_exchanges (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id   INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    publisher_id INTEGER NOT NULL,
    at           INTEGER NOT NULL,
    issuer       TEXT NOT NULL,
    repository   TEXT NOT NULL,
    workflow_ref TEXT NOT NULL,
    ref          TEXT NOT NULL,
    sha          TEXT NOT NULL,
    run_id       TEXT NOT NULL,
    environment  TEXT NOT NULL,
    event        TEXT NOT NULL,
    reason       TEXT NOT NULL
) STRICT;
CREATE INDEX failed_exchanges_project ON failed_exchanges (project_id, id);
