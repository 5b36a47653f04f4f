-- One row per exchange. The exchange record is also the CI token's replay record (one
-- record per issuer and jti, kept at least until the token could no longer be accepted)
-- and the record of the upload token handed out for it (introspection and revocation read
-- it). The tables that held those rows go; their rows move here.
ALTER TABLE exchanges
    ADD COLUMN jti_expires_at   timestamptz,
    ADD COLUMN subject          text,
    ADD COLUMN token_expires_at timestamptz,
    ADD COLUMN revoked_at       timestamptz;
UPDATE exchanges e SET subject = t.subject, token_expires_at = t.expires_at, revoked_at = t.revoked_at
    FROM upload_tokens t WHERE t.id = e.token_id;
UPDATE exchanges e SET jti_expires_at = u.expires_at
    FROM used_jtis u WHERE u.issuer = e.issuer AND u.jti = e.jti;
-- Records whose replay or token rows retention had deleted: both had expired. A token's
-- subject is its exchange's kind and repository.
UPDATE exchanges SET jti_expires_at = at WHERE jti_expires_at IS NULL;
UPDATE exchanges SET subject = kind || ':' || repository, token_expires_at = at WHERE token_expires_at IS NULL;
ALTER TABLE exchanges
    ALTER COLUMN jti_expires_at SET NOT NULL,
    ALTER COLUMN subject SET NOT NULL,
    ALTER COLUMN token_expires_at SET NOT NULL;
CREATE UNIQUE INDEX exchanges_jti ON exchanges (issuer, jti);
DROP INDEX exchanges_token;
CREATE UNIQUE INDEX exchanges_token ON exchanges (token_id);
DROP TABLE used_jtis;
DROP TABLE upload_tokens;

-- Most audit events name no user (every token minted is one per project): the index by
-- user leaves them out.
DROP INDEX audit_events_user;
CREATE INDEX audit_events_user ON audit_events (user_id, id) WHERE user_id IS NOT NULL;
