package storetest

import (
	"context"
	"strings"
	"testing"

	"github.com/tpx-dev/tpx/store"
)

// SQL runs one statement on a backend's database directly, for tests that must put the
// data in a state the store itself never makes; QueryInt reads one number.
type SQL struct {
	Exec     func(ctx context.Context, query string) error
	QueryInt func(ctx context.Context, query string) (int, error)
}

// ProjectKeyMigration holds a backend to migration 5, which rewrites project name keys from
// lower case into canonical form: it refuses, naming them, projects whose names fold onto
// one another, changing nothing, and rewrites projects and pending publishers otherwise.
// st is migrated; db reaches the same database.
func ProjectKeyMigration(t *testing.T, st store.Store, db SQL) {
	ctx := t.Context()
	f := &fixture{t: t, ctx: ctx, st: st, now: epoch}
	alice, bob := f.user("alice"), f.user("bob")
	f.project("Foo_Bar", alice)
	f.pending("Some.Pkg", alice, nil)
	// The state of a database from before the migration: keys lower-cased, and so two
	// projects whose names fold together.
	back := func() {
		t.Helper()
		for _, q := range []string{
			`UPDATE projects SET name_key = lower(name)`,
			`UPDATE pending_publishers SET project_key = lower(project_name)`,
			`DELETE FROM schema_migrations WHERE version = 5`,
			`DROP INDEX pending_publishers_rules`,
		} {
			must(t, db.Exec(ctx, q))
		}
	}
	back()
	f.project("foo-bar", bob)
	must(t, db.Exec(ctx, `UPDATE projects SET name_key = lower(name)`))
	keys := func() int {
		t.Helper()
		n, err := db.QueryInt(ctx, `SELECT count(*) FROM projects WHERE name_key IN ('foo_bar', 'foo-bar')`)
		must(t, err)
		return n
	}

	err := st.Migrate(ctx)
	if err == nil || !strings.Contains(err.Error(), "Foo_Bar") || !strings.Contains(err.Error(), "foo-bar") {
		t.Fatalf("migrating with two names that fold together: got %v, want an error naming Foo_Bar and foo-bar", err)
	}
	if n := keys(); n != 2 {
		t.Fatalf("the refused migration changed the keys: %d of the two old keys left", n)
	}

	must(t, db.Exec(ctx, `DELETE FROM projects WHERE name = 'foo-bar'`))
	must(t, st.Migrate(ctx))
	p, err := st.ProjectByName(ctx, "FOO.bar")
	must(t, err)
	equal(t, "project found by another spelling", p.Name, "Foo_Bar")
	_, err = st.AddPending(ctx, pendingOf("some_pkg", alice, f.now, nil))
	wantErr(t, err, store.ErrConflict)
}
