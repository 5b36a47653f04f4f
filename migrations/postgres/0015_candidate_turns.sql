-- Anyone may register publishers naming any repository, so an exchange reads a
-- repository's publishers in steps bounded by what it returns, never all of them: the
-- registrants (the users who registered them) one index probe each, then each
-- registrant's first few publishers. env_key is the environment as the platform compares
-- it (policy.EnvironmentKey: GitHub lower-cases ASCII letters, the others compare
-- exactly), so that "bound to the job's environment" is one range of an index; registrant
-- is the registering user's id, kept when the account is removed (created_by becomes
-- NULL), 0 for publishers added by the operator.
ALTER TABLE publishers ADD COLUMN env_key text NOT NULL DEFAULT '';
ALTER TABLE publishers ADD COLUMN registrant bigint NOT NULL DEFAULT 0;
UPDATE publishers SET registrant = COALESCE(created_by, 0),
    env_key = CASE WHEN kind = 'github' THEN lower(environment COLLATE "C") ELSE environment END;
CREATE INDEX publishers_turns ON publishers (issuer, repo_key, workflow, env_key, registrant, id);
-- Its prefix serves every lookup by repository: an index of (issuer, repo_key) alone
-- would also sort by id, and a planner asked for a registrant's oldest publisher chose it
-- and read every publisher of the repository for each registrant.
DROP INDEX publishers_lookup;

ALTER TABLE pending_publishers ADD COLUMN env_key text NOT NULL DEFAULT '';
UPDATE pending_publishers SET
    env_key = CASE WHEN kind = 'github' THEN lower(environment COLLATE "C") ELSE environment END;
DROP INDEX pending_publishers_lookup;
CREATE INDEX pending_publishers_fits ON pending_publishers (issuer, repo_key, workflow, env_key);
