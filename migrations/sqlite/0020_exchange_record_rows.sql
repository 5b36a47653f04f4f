-- The replay records and upload-token records move into the exchange records (migration
-- 19), and their tables go. Only the records of the last hour or so have such rows left.
UPDATE exchanges SET subject = t.subject, token_expires_at = t.expires_at, revoked_at = t.revoked_at
    FROM upload_tokens t WHERE t.id = exchanges.token_id;
UPDATE exchanges SET jti_expires_at = u.expires_at
    FROM used_jtis u WHERE u.issuer = exchanges.issuer AND u.jti = exchanges.jti;
-- A replay record may have outlived its exchange record (a CI token that lived longer
-- than exchange records were kept): it stays, as a record of no exchange, empty but for
-- the token's issuer, jti and expiry.
INSERT INTO exchanges (at, issuer, jti, jti_expires_at, kind, repository, owner_id, repository_id, workflow_ref, ref, sha, run_id,
        environment, event, actor, projects, token_id, subject, token_expires_at)
    SELECT u.expires_at, u.issuer, u.jti, u.expires_at, '', '', '', '', '', '', '', '', '', '', '', '[]', '', '', 0
    FROM used_jtis u WHERE NOT EXISTS (SELECT 1 FROM exchanges e WHERE e.issuer = u.issuer AND e.jti = u.jti);
DROP TABLE used_jtis;
DROP TABLE upload_tokens;
