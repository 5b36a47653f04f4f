-- The owner web UI: sessions, second factors, email verification, the outbox, co-owner
-- invitations and the record of failed exchanges owners read on their project page.

-- NULL until the owner follows the link sent to this address; notifications go only to
-- verified addresses, so signing up with someone else's address cannot mail them repeatedly.
ALTER TABLE users ADD COLUMN email_verified_at timestamptz;

-- The whole credential record as go-webauthn serialises it (JSON): its flags and
-- attestation are checked again at every login. sign_count stays the authoritative counter.
ALTER TABLE webauthn_credentials ADD COLUMN record bytea;

-- Browser sessions, shared by every replica. id is the SHA-256 of the cookie value, so the
-- table alone does not let anyone who reads it take over a session. stage second-factor is a
-- login whose password was right and whose second factor is still to come.
CREATE TABLE sessions (
    id               text PRIMARY KEY,
    user_id          bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    stage            text NOT NULL CHECK (stage IN ('second-factor', 'full')),
    created_at       timestamptz NOT NULL,
    -- the last time the user proved who they are (login or re-authentication); management
    -- actions need it to be recent
    authenticated_at timestamptz NOT NULL,
    expires_at       timestamptz NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expires ON sessions (expires_at);

-- One pending WebAuthn ceremony per session and kind; taking it deletes it, so a challenge
-- answers one ceremony only.
CREATE TABLE webauthn_challenges (
    session_id text NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    ceremony   text NOT NULL,
    data       bytea NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (session_id, ceremony)
);
CREATE INDEX webauthn_challenges_expires ON webauthn_challenges (expires_at);

-- Recovery codes, stored as SHA-256: each is 80 random bits, beyond guessing, so a slow hash
-- would add nothing but cost.
CREATE TABLE recovery_codes (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash  text NOT NULL,
    created_at timestamptz NOT NULL,
    used_at    timestamptz,
    UNIQUE (user_id, code_hash)
);

-- Email verification links; token_hash is the SHA-256 of the token in the link.
CREATE TABLE email_tokens (
    token_hash text PRIMARY KEY,
    user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email      text NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX email_tokens_expires ON email_tokens (expires_at);

-- Mail to send. A sender claims rows by moving lease_until forward, so that replicas do not
-- send one message twice; a message whose sender died is claimed again when its lease ends.
-- dedupe_key, when set, makes a notification once-only (NULLs are never equal).
CREATE TABLE outbox (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    created_at  timestamptz NOT NULL,
    recipient   text NOT NULL,
    subject     text NOT NULL,
    body        text NOT NULL,
    dedupe_key  text UNIQUE,
    attempts    integer NOT NULL DEFAULT 0,
    lease_until timestamptz NOT NULL,
    sent_at     timestamptz,
    last_error  text NOT NULL DEFAULT ''
);
CREATE INDEX outbox_due ON outbox (lease_until) WHERE sent_at IS NULL;

-- An owner invites a user; the invitee becomes an owner by accepting, which needs a second
-- factor.
CREATE TABLE project_invitations (
    project_id bigint NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    invited_by bigint REFERENCES users (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (project_id, user_id)
);
CREATE INDEX project_invitations_user ON project_invitations (user_id);

-- Exchanges that failed against a project's publishers, with the policy's reason: shown to
-- that project's owners only. publisher_id is a plain number: the record outlives the
-- publisher. The store keeps the newest rows of each project only.
CREATE TABLE failed_exchanges (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id   bigint NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    publisher_id bigint NOT NULL,
    at           timestamptz NOT NULL,
    issuer       text NOT NULL,
    repository   text NOT NULL,
    workflow_ref text NOT NULL,
    ref          text NOT NULL,
    sha          text NOT NULL,
    run_id       text NOT NULL,
    environment  text NOT NULL,
    event        text NOT NULL,
    reason       text NOT NULL
);
CREATE INDEX failed_exchanges_project ON failed_exchanges (project_id, id);
