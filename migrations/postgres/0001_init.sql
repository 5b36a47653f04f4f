-- The initial schema. Keys are identity columns that are never reused, so an id written in
-- the audit log or a log line names one thing forever.

-- Names are unique without case ("Alice" and "alice" are one account); name_key is the
-- name lower-cased by the application, so both dialects agree on what "without case" means.
CREATE TABLE users (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name           text NOT NULL,
    name_key       text NOT NULL UNIQUE,
    email          text NOT NULL,
    password_hash  text NOT NULL,
    -- sealed by internal/secretbox; NULL when no TOTP is enrolled
    totp_secret    bytea,
    totp_confirmed boolean NOT NULL DEFAULT false,
    -- the last accepted RFC 6238 step; a code for this step or an earlier one is refused
    totp_last_step bigint NOT NULL DEFAULT 0,
    created_at     timestamptz NOT NULL
);

-- One row per security key or passkey; a user's count of them is their WebAuthn factor.
CREATE TABLE webauthn_credentials (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id       bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential_id bytea NOT NULL UNIQUE,
    public_key    bytea NOT NULL,
    -- the authenticator's signature counter, to notice a cloned key
    sign_count    bigint NOT NULL DEFAULT 0,
    name          text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL,
    last_used_at  timestamptz
);
CREATE INDEX webauthn_credentials_user ON webauthn_credentials (user_id);

-- Project names are compared without case, as package indexes do: name_key is the name
-- lower-cased, and it is what is unique and what lookups use.
CREATE TABLE projects (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       text NOT NULL,
    name_key   text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL
);

CREATE TABLE project_owners (
    project_id bigint NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (project_id, user_id)
);
CREATE INDEX project_owners_user ON project_owners (user_id);

-- An exchange looks publishers up by (issuer, repo_key), never by scanning: repo_key is
-- policy.RepositoryKey of "owner/name". owner_id and repository_id are NULL until given at
-- registration or pinned on first use (never '', so "unpinned" has one spelling that the
-- pinning UPDATE can test for).
CREATE TABLE publishers (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id    bigint NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    kind          text NOT NULL,
    issuer        text NOT NULL,
    owner         text NOT NULL,
    name          text NOT NULL,
    repo_key      text NOT NULL,
    workflow      text NOT NULL,
    environment   text NOT NULL DEFAULT '',
    owner_id      text CHECK (owner_id <> ''),
    repository_id text CHECK (repository_id <> ''),
    -- the registering user; the publisher outlives the account that added it
    created_by    bigint REFERENCES users (id) ON DELETE SET NULL,
    created_at    timestamptz NOT NULL,
    last_used_at  timestamptz,
    -- the same rules twice on one project would be one publisher counted twice; this index
    -- also serves the per-project count and listing
    UNIQUE (project_id, issuer, repo_key, workflow, environment)
);
CREATE INDEX publishers_lookup ON publishers (issuer, repo_key);

-- A pending publisher creates its project on first use. project_key is the project name
-- lower-cased, like projects.name_key. Two identical pending publishers for one name could
-- only race each other to create the project, so they are refused (the unique constraint).
CREATE TABLE pending_publishers (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_name  text NOT NULL,
    project_key   text NOT NULL,
    user_id       bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind          text NOT NULL,
    issuer        text NOT NULL,
    owner         text NOT NULL,
    name          text NOT NULL,
    repo_key      text NOT NULL,
    workflow      text NOT NULL,
    environment   text NOT NULL DEFAULT '',
    owner_id      text CHECK (owner_id <> ''),
    repository_id text CHECK (repository_id <> ''),
    created_at    timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL,
    UNIQUE (project_key, issuer, repo_key, workflow, environment)
);
CREATE INDEX pending_publishers_lookup ON pending_publishers (issuer, repo_key);
CREATE INDEX pending_publishers_user ON pending_publishers (user_id);

-- The replay guard: a CI token's (issuer, jti) may be exchanged once. The primary key is
-- what makes that hold across replicas; rows are kept until the token could no longer
-- be accepted anyway.
CREATE TABLE used_jtis (
    issuer     text NOT NULL,
    jti        text NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (issuer, jti)
);
CREATE INDEX used_jtis_expires ON used_jtis (expires_at);

-- Minted upload tokens, so that introspection can answer "revoked".
CREATE TABLE upload_tokens (
    id         text PRIMARY KEY,
    projects   jsonb NOT NULL,
    subject    text NOT NULL,
    issued_at  timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz
);
CREATE INDEX upload_tokens_expires ON upload_tokens (expires_at);

-- One row per successful exchange: what the CI job said about itself and what it got.
-- No foreign keys: the record must outlive the token, publishers and projects it names.
CREATE TABLE exchanges (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at            timestamptz NOT NULL,
    issuer        text NOT NULL,
    jti           text NOT NULL,
    kind          text NOT NULL,
    repository    text NOT NULL,
    owner_id      text NOT NULL,
    repository_id text NOT NULL,
    workflow_ref  text NOT NULL,
    ref           text NOT NULL,
    sha           text NOT NULL,
    run_id        text NOT NULL,
    environment   text NOT NULL,
    event         text NOT NULL,
    actor         text NOT NULL,
    projects      jsonb NOT NULL,
    token_id      text NOT NULL
);
CREATE INDEX exchanges_at ON exchanges (at);
CREATE INDEX exchanges_token ON exchanges (token_id);

-- The audit log of owners' and operators' actions. user_id and project_id are plain
-- numbers, not foreign keys, for the same reason as in exchanges; NULL means none.
CREATE TABLE audit_events (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at         timestamptz NOT NULL,
    actor      text NOT NULL,
    user_id    bigint,
    project_id bigint,
    action     text NOT NULL,
    detail     text NOT NULL
);
CREATE INDEX audit_events_user ON audit_events (user_id, id);
CREATE INDEX audit_events_project ON audit_events (project_id, id);

-- Upload-token signing keys; private is sealed by internal/secretbox.
CREATE TABLE signing_keys (
    id          text PRIMARY KEY,
    algorithm   text NOT NULL,
    private     bytea NOT NULL,
    public_jwk  text NOT NULL,
    created_at  timestamptz NOT NULL,
    activate_at timestamptz NOT NULL
);
