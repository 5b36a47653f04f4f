-- One row per exchange. The exchange record is also the CI token's replay record (one
-- record per issuer and jti, kept at least until the token could no longer be accepted)
-- and the record of the upload token handed out for it (introspection and revocation read
-- it). The tables that held those rows go; their rows move here. Records whose replay or
-- token rows retention had deleted had expired both; a token's subject is its exchange's
-- kind and repository.
CREATE TABLE exchanges_new (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    at               INTEGER NOT NULL,
    issuer           TEXT NOT NULL,
    jti              TEXT NOT NULL,
    kind             TEXT NOT NULL,
    repository       TEXT NOT NULL,
    owner_id         TEXT NOT NULL,
    repository_id    TEXT NOT NULL,
    workflow_ref     TEXT NOT NULL,
    ref              TEXT NOT NULL,
    sha              TEXT NOT NULL,
    run_id           TEXT NOT NULL,
    environment      TEXT NOT NULL,
    event            TEXT NOT NULL,
    actor            TEXT NOT NULL,
    projects         TEXT NOT NULL,
    token_id         TEXT NOT NULL,
    jti_expires_at   INTEGER NOT NULL,
    subject          TEXT NOT NULL,
    token_expires_at INTEGER NOT NULL,
    revoked_at       INTEGER
) STRICT;
INSERT INTO exchanges_new (id, at, issuer, jti, kind, repository, owner_id, repository_id, workflow_ref, ref, sha, run_id,
        environment, event, actor, projects, token_id, jti_expires_at, subject, token_expires_at, revoked_at)
    SELECT e.id, e.at, e.issuer, e.jti, e.kind, e.repository, e.owner_id, e.repository_id, e.workflow_ref, e.ref, e.sha, e.run_id,
        e.environment, e.event, e.actor, e.projects, e.token_id, COALESCE(u.expires_at, e.at),
        COALESCE(t.subject, e.kind || ':' || e.repository), COALESCE(t.expires_at, e.at), t.revoked_at
    FROM exchanges e
    LEFT JOIN upload_tokens t ON t.id = e.token_id
    LEFT JOIN used_jtis u ON u.issuer = e.issuer AND u.jti = e.jti;
DROP TABLE exchanges;
ALTER TABLE exchanges_new RENAME TO exchanges;
CREATE INDEX exchanges_at ON exchanges (at);
CREATE UNIQUE INDEX exchanges_token ON exchanges (token_id);
CREATE UNIQUE INDEX exchanges_jti ON exchanges (issuer, jti);
DROP TABLE used_jtis;
DROP TABLE upload_tokens;

-- Most audit events name no user (every token minted is one per project): the index by
-- user leaves them out.
DROP INDEX audit_events_user;
CREATE INDEX audit_events_user ON audit_events (user_id, id) WHERE user_id IS NOT NULL;
