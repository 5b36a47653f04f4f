-- tpx in front of an existing package index: operator API keys for the index's admin API,
-- names the index granted to a user for pending publishers, accounts linked to the index's
-- sign-in, and one-use sign-up invitations.

-- Operator API keys. A key reads tpxadm_<lookup>_<secret>: lookup finds the row, and only
-- the SHA-256 of secret is stored, compared in constant time. The secret is 256 random
-- bits, so a fast hash loses nothing to guessing.
CREATE TABLE api_keys (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name         text NOT NULL,
    scope        text NOT NULL,
    lookup       text NOT NULL UNIQUE,
    secret_hash  text NOT NULL,
    created_at   timestamptz NOT NULL,
    last_used_at timestamptz,
    revoked_at   timestamptz
);

-- Names the index granted to a user: in managed mode a pending publisher may only name
-- one of these. name_key is the project name's canonical form.
CREATE TABLE pending_grants (
    user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name       text NOT NULL,
    name_key   text NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (user_id, name_key)
);

-- Accounts linked to a subject of an OpenID provider: (issuer, subject) is the link, never
-- the email address, which an identity provider may let its users change.
CREATE TABLE external_identities (
    issuer     text NOT NULL,
    subject    text NOT NULL,
    user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (issuer, subject)
);
CREATE INDEX external_identities_user ON external_identities (user_id);

-- Sign-up invitations (TPX_SIGNUP=invite), by the SHA-256 of the token in the link; using
-- one deletes it.
CREATE TABLE signup_invitations (
    token_hash text PRIMARY KEY,
    email      text NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);
