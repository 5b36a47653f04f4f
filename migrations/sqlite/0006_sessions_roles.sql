-- Sessions' factors, addresses and last use; unique email addresses; project roles. The
-- SQLite twin of postgres/0006_sessions_roles.sql: read the comments there. SQLite cannot
-- add a NOT NULL column without a default, so last_seen_at and email_key are filled here
-- and always written by the store.
ALTER TABLE sessions ADD COLUMN factor TEXT NOT NULL DEFAULT 'password'
    CHECK (factor IN ('password', 'totp', 'webauthn', 'recovery'));
ALTER TABLE sessions ADD COLUMN factor_proof_at INTEGER;
ALTER TABLE sessions ADD COLUMN last_seen_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN address TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN user_agent TEXT NOT NULL DEFAULT '';
UPDATE sessions SET last_seen_at = created_at;

ALTER TABLE users ADD COLUMN email_key TEXT NOT NULL DEFAULT '';
UPDATE users SET email_key = lower(email);
CREATE UNIQUE INDEX users_email_key ON users (email_key);

ALTER TABLE project_owners ADD COLUMN role TEXT NOT NULL DEFAULT 'owner' CHECK (role IN ('owner', 'maintainer'));
ALTER TABLE project_invitations ADD COLUMN role TEXT NOT NULL DEFAULT 'owner' CHECK (role IN ('owner', 'maintainer'));
