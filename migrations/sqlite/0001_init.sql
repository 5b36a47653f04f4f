-- The initial schema, the SQLite twin of postgres/0001_init.sql: read the comments there.
-- Here times are INTEGER unix microseconds (comparable in SQL, unlike text in several
-- formats), booleans are INTEGER 0 or 1, and AUTOINCREMENT keeps ids from being reused
-- after a delete, as PostgreSQL's identity columns do.

CREATE TABLE users (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    name           TEXT NOT NULL,
    name_key       TEXT NOT NULL UNIQUE,
    email          TEXT NOT NULL,
    password_hash  TEXT NOT NULL,
    totp_secret    BLOB,
    totp_confirmed INTEGER NOT NULL DEFAULT 0 CHECK (totp_confirmed IN (0, 1)),
    totp_last_step INTEGER NOT NULL DEFAULT 0,
    created_at     INTEGER NOT NULL
) STRICT;

CREATE TABLE webauthn_credentials (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id       INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential_id BLOB NOT NULL UNIQUE,
    public_key    BLOB NOT NULL,
    sign_count    INTEGER NOT NULL DEFAULT 0,
    name          TEXT NOT NULL DEFAULT '',
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER
) STRICT;
CREATE INDEX webauthn_credentials_user ON webauthn_credentials (user_id);

CREATE TABLE projects (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT NOT NULL,
    name_key   TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE project_owners (
    project_id INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (project_id, user_id)
) STRICT;
CREATE INDEX project_owners_user ON project_owners (user_id);

CREATE TABLE publishers (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id    INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    kind          TEXT NOT NULL,
    issuer        TEXT NOT NULL,
    owner         TEXT NOT NULL,
    name          TEXT NOT NULL,
    repo_key      TEXT NOT NULL,
    workflow      TEXT NOT NULL,
    environment   TEXT NOT NULL DEFAULT '',
    owner_id      TEXT CHECK (owner_id <> ''),
    repository_id TEXT CHECK (repository_id <> ''),
    created_by    INTEGER REFERENCES users (id) ON DELETE SET NULL,
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER,
    UNIQUE (project_id, issuer, repo_key, workflow, environment)
) STRICT;
CREATE INDEX publishers_lookup ON publishers (issuer, repo_key);

CREATE TABLE pending_publishers (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    project_name  TEXT NOT NULL,
    project_key   TEXT NOT NULL,
    user_id       INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind          TEXT NOT NULL,
    issuer        TEXT NOT NULL,
    owner         TEXT NOT NULL,
    name          TEXT NOT NULL,
    repo_key      TEXT NOT NULL,
    workflow      TEXT NOT NULL,
    environment   TEXT NOT NULL DEFAULT '',
    owner_id      TEXT CHECK (owner_id <> ''),
    repository_id TEXT CHECK (repository_id <> ''),
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    UNIQUE (project_key, issuer, repo_key, workflow, environment)
) STRICT;
CREATE INDEX pending_publishers_lookup ON pending_publishers (issuer, repo_key);
CREATE INDEX pending_publishers_user ON pending_publishers (user_id);

CREATE TABLE used_jtis (
    issuer     TEXT NOT NULL,
    jti        TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (issuer, jti)
) STRICT;
CREATE INDEX used_jtis_expires ON used_jtis (expires_at);

-- projects is a JSON array of names, as in PostgreSQL's jsonb column.
CREATE TABLE upload_tokens (
    id         TEXT PRIMARY KEY,
    projects   TEXT NOT NULL,
    subject    TEXT NOT NULL,
    issued_at  INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER
) STRICT;
CREATE INDEX upload_tokens_expires ON upload_tokens (expires_at);

CREATE TABLE exchanges (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    at            INTEGER NOT NULL,
    issuer        TEXT NOT NULL,
    jti           TEXT NOT NULL,
    kind          TEXT NOT NULL,
    repository    TEXT NOT NULL,
    owner_id      TEXT NOT NULL,
    repository_id TEXT NOT NULL,
    workflow_ref  TEXT NOT NULL,
    ref           TEXT NOT NULL,
    sha           TEXT NOT NULL,
    run_id        TEXT NOT NULL,
    environment   TEXT NOT NULL,
    event         TEXT NOT NULL,
    actor         TEXT NOT NULL,
    projects      TEXT NOT NULL,
    token_id      TEXT NOT NULL
) STRICT;
CREATE INDEX exchanges_at ON exchanges (at);
CREATE INDEX exchanges_token ON exchanges (token_id);

CREATE TABLE audit_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    at         INTEGER NOT NULL,
    actor      TEXT NOT NULL,
    user_id    INTEGER,
    project_id INTEGER,
    action     TEXT NOT NULL,
    detail     TEXT NOT NULL
) STRICT;
CREATE INDEX audit_events_user ON audit_events (user_id, id);
CREATE INDEX audit_events_project ON audit_events (project_id, id);

CREATE TABLE signing_keys (
    id          TEXT PRIMARY KEY,
    algorithm   TEXT NOT NULL,
    private     BLOB NOT NULL,
    public_jwk  TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    activate_at INTEGER NOT NULL
) STRICT;
