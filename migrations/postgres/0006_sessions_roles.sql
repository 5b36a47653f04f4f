-- Sessions say how they were authenticated, and their owner can see and end them.
--
-- factor is the strongest proof the session passed: the password alone (a user who had no
-- second factor yet), a TOTP code, a security key, or a recovery code. A password-only
-- session of a user who has a second factor is never a full session, whenever the factor
-- was enrolled. Sessions from before this migration count as password-only: their users
-- log in again. factor_proof_at is the time of the last second-factor proof not yet spent
-- on a change of second factors; those changes need one from the last few minutes.
ALTER TABLE sessions ADD COLUMN factor text NOT NULL DEFAULT 'password'
    CHECK (factor IN ('password', 'totp', 'webauthn', 'recovery'));
ALTER TABLE sessions ADD COLUMN factor_proof_at timestamptz;
-- What the account page lists: when the session was last used, from which address and
-- browser (the user agent capped in length by the web UI).
ALTER TABLE sessions ADD COLUMN last_seen_at timestamptz;
ALTER TABLE sessions ADD COLUMN address text NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN user_agent text NOT NULL DEFAULT '';
UPDATE sessions SET last_seen_at = created_at;
ALTER TABLE sessions ALTER COLUMN last_seen_at SET NOT NULL;

-- One account per email address, compared without case (email_key is computed by the
-- store, as name_key is).
ALTER TABLE users ADD COLUMN email_key text;
UPDATE users SET email_key = lower(email);
ALTER TABLE users ALTER COLUMN email_key SET NOT NULL;
CREATE UNIQUE INDEX users_email_key ON users (email_key);

-- A project's members: owners manage publishers and members; maintainers see the project,
-- its publishers and its failed exchanges, and change nothing. An invitation says which
-- role it offers.
ALTER TABLE project_owners ADD COLUMN role text NOT NULL DEFAULT 'owner' CHECK (role IN ('owner', 'maintainer'));
ALTER TABLE project_invitations ADD COLUMN role text NOT NULL DEFAULT 'owner' CHECK (role IN ('owner', 'maintainer'));
