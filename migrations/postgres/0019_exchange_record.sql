-- One row per exchange. The exchange record becomes also the CI token's replay record
-- (one record per issuer and jti, kept at least until the token could no longer be
-- accepted: a unique index, created by this migration's step once it has checked that no
-- two records share an issuer and jti) and the record of the upload token handed out for
-- it (introspection and revocation read it). Migration 20 moves the rows of the tables
-- that held those records.
--
-- Replicas of earlier releases write the replay, token and exchange tables in that order
-- (and their retention the audit events first): taking them all first, in that order,
-- makes their writes wait for this migration at their first statement rather than
-- deadlock with it.
LOCK TABLE used_jtis, upload_tokens, exchanges, audit_events IN ACCESS EXCLUSIVE MODE;

-- A column added with a constant default is not written into the existing rows, so this
-- does not rewrite the table. The records whose replay and token rows retention had
-- deleted keep these defaults: both their tokens expired long ago.
ALTER TABLE exchanges
    ADD COLUMN jti_expires_at   timestamptz NOT NULL DEFAULT 'epoch',
    ADD COLUMN subject          text NOT NULL DEFAULT '',
    ADD COLUMN token_expires_at timestamptz NOT NULL DEFAULT 'epoch',
    ADD COLUMN revoked_at       timestamptz;
ALTER TABLE exchanges
    ALTER COLUMN jti_expires_at DROP DEFAULT,
    ALTER COLUMN subject DROP DEFAULT,
    ALTER COLUMN token_expires_at DROP DEFAULT;

-- Most audit events name no user (every token minted is one per project): the index by
-- user leaves them out.
DROP INDEX audit_events_user;
CREATE INDEX audit_events_user ON audit_events (user_id, id) WHERE user_id IS NOT NULL;
