-- Project names are now unique and looked up in their canonical form (PEP 503: lower-case,
-- every run of '-', '_' and '.' one '-'), the form upload tokens carry: package indexes
-- treat "foo_bar" and "Foo.Bar" as one project, so tpx must not give them two owners.
-- projects.name_key and pending_publishers.project_key keep their unique indexes and
-- change meaning; the rows are rewritten by this migration's step in Go
-- (store/sqlstore/keys.go), so that one function computes the form everywhere. Names
-- that fold onto one another fail the migration, naming them, rather than being merged.
-- The index below serves the check, made whenever a pending publisher is registered, that
-- no other user's pending publisher claims the same repository and workflow.
CREATE INDEX pending_publishers_rules ON pending_publishers (issuer, repo_key, workflow);
