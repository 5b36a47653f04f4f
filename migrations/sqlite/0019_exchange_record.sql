-- One row per exchange. The exchange record becomes also the CI token's replay record
-- (one record per issuer and jti, kept at least until the token could no longer be
-- accepted: a unique index, created by this migration's step once it has checked that no
-- two records share an issuer and jti) and the record of the upload token handed out for
-- it (introspection and revocation read it). Migration 20 moves the rows of the tables
-- that held those records. The records whose replay and token rows retention had deleted
-- keep the defaults: both their tokens expired long ago. (SQLite cannot drop a column's
-- default; every insert of an exchange record names these columns.)
ALTER TABLE exchanges ADD COLUMN jti_expires_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE exchanges ADD COLUMN subject TEXT NOT NULL DEFAULT '';
ALTER TABLE exchanges ADD COLUMN token_expires_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE exchanges ADD COLUMN revoked_at INTEGER;

-- Most audit events name no user (every token minted is one per project): the index by
-- user leaves them out.
DROP INDEX audit_events_user;
CREATE INDEX audit_events_user ON audit_events (user_id, id) WHERE user_id IS NOT NULL;
