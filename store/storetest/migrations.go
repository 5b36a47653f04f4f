package storetest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tpx-dev/tpx/store"
)

// SQL runs one statement on a backend's database directly, for tests that must put the
// data in a state the store itself never makes; QueryInt reads one number.
// Tables lists the names of the store's tables.
type SQL struct {
	Exec     func(ctx context.Context, query string) error
	QueryInt func(ctx context.Context, query string) (int, error)
	Tables   func(ctx context.Context) ([]string, error)
}

// RunSchema holds a backend to what the store's tables must be and what its migrations
// must do: ProjectKeyMigration, ExchangeRows and ExchangeRecordMigration, each on a
// migrated store of its own that direct opens with a direct way into its database.
func RunSchema(t *testing.T, direct func(t *testing.T) (store.Store, SQL)) {
	for name, check := range map[string]func(*testing.T, store.Store, SQL){
		"ProjectKeyMigration":     ProjectKeyMigration,
		"ExchangeRows":            ExchangeRows,
		"ExchangeRecordMigration": ExchangeRecordMigration,
	} {
		t.Run(name, func(t *testing.T) {
			st, db := direct(t)
			check(t, st, db)
		})
	}
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

// ExchangeRows holds a backend to one row per exchange: an exchange's commit adds its
// exchange record, which is also its replay record and its upload token's record, and
// its audit events — nothing else, in any table. A replay adds nothing. st is migrated;
// db reaches the same database.
func ExchangeRows(t *testing.T, st store.Store, db SQL) {
	ctx := t.Context()
	f := &fixture{t: t, ctx: ctx, st: st, now: epoch}
	alice := f.user("alice")
	pub := f.publisher(f.project("proj", alice), alice, nil)
	counts := func() map[string]int {
		t.Helper()
		tables, err := db.Tables(ctx)
		must(t, err)
		out := make(map[string]int, len(tables))
		for _, table := range tables {
			n, err := db.QueryInt(ctx, `SELECT count(*) FROM `+table)
			must(t, err)
			out[table] = n
		}
		return out
	}
	before := counts()
	e := f.exchange("jti-rows", pub)
	e.Events = []store.AuditEvent{{At: e.At, Actor: "exchange", ProjectID: pub.ProjectID, Action: "token.mint", Detail: "minted"}}
	must(t, st.CommitExchange(ctx, e))
	after := counts()
	for table, n := range after {
		want := before[table]
		switch table {
		case "exchanges", "audit_events":
			want++
		}
		if n != want {
			t.Errorf("table %s has %d rows after one exchange, want %d", table, n, want)
		}
	}
	replay := e
	replay.TokenID = "token-replay"
	wantErr(t, st.CommitExchange(ctx, replay), store.ErrReplay)
	equal(t, "rows after a replay", counts(), after)
}

// ExchangeRecordMigration holds a backend to migrations 19 and 20, which move the replay
// records and the upload-token records into the exchange records: every token's record
// reads the same after them (revocations kept), every CI token exchanged is still refused
// a second time — also one whose exchange record retention had deleted while its replay
// record lived on — records whose replay and token rows retention had deleted read as
// expired, and the two tables are gone. Records that share an issuer and jti stop the
// migration, naming them, and leave the database as it was. st is migrated; db reaches
// the same database.
func ExchangeRecordMigration(t *testing.T, st store.Store, db SQL) {
	ctx := t.Context()
	f := &fixture{t: t, ctx: ctx, st: st, now: epoch}
	alice := f.user("alice")
	pub := f.publisher(f.project("proj", alice), alice, nil)
	live, revoked, pruned := f.exchange("jti-live", pub), f.exchange("jti-revoked", pub), f.exchange("jti-pruned", pub)
	live.JTIExpires = live.TokenExpires.Add(15 * time.Minute)
	pruned.At = f.now.Add(-48 * time.Hour)
	pruned.JTIExpires, pruned.TokenExpires = pruned.At.Add(10*time.Minute), pruned.At.Add(15*time.Minute)
	for _, e := range []store.Exchange{live, revoked, pruned} {
		must(t, st.CommitExchange(ctx, e))
	}
	must(t, st.RevokeUploadToken(ctx, revoked.TokenID, f.now.Add(time.Minute)))
	records := map[string]store.UploadToken{}
	for _, e := range []store.Exchange{live, revoked} {
		tok, err := st.UploadToken(ctx, e.TokenID)
		must(t, err)
		records[e.TokenID] = tok
	}

	// The database as it was before the migrations: the rows of pruned deleted from the
	// two old tables as retention deleted them, and a replay record (of jti-orphan) that
	// outlived its exchange record.
	for _, q := range []string{
		`CREATE TABLE used_jtis AS SELECT issuer, jti, jti_expires_at AS expires_at FROM exchanges WHERE jti <> 'jti-pruned'`,
		`INSERT INTO used_jtis SELECT issuer, 'jti-orphan', jti_expires_at FROM exchanges WHERE jti = 'jti-live'`,
		`CREATE TABLE upload_tokens AS SELECT token_id AS id, projects, subject, at AS issued_at, token_expires_at AS expires_at, revoked_at
			FROM exchanges WHERE jti <> 'jti-pruned'`,
		`DROP INDEX exchanges_jti`,
		`ALTER TABLE exchanges DROP COLUMN jti_expires_at`,
		`ALTER TABLE exchanges DROP COLUMN subject`,
		`ALTER TABLE exchanges DROP COLUMN token_expires_at`,
		`ALTER TABLE exchanges DROP COLUMN revoked_at`,
		`DELETE FROM schema_migrations WHERE version IN (19, 20)`,
		// A CI token id recorded twice, which the old tables allowed once its replay
		// record had expired.
		`INSERT INTO exchanges (at, issuer, jti, kind, repository, owner_id, repository_id, workflow_ref, ref, sha, run_id, environment, event, actor, projects, token_id)
			SELECT at, issuer, jti, kind, repository, owner_id, repository_id, workflow_ref, ref, sha, run_id, environment, event, actor, projects, 'token-again'
			FROM exchanges WHERE jti = 'jti-revoked'`,
	} {
		must(t, db.Exec(ctx, q))
	}

	err := st.Migrate(ctx)
	if err == nil || !strings.Contains(err.Error(), `"jti-revoked" (2 records)`) {
		t.Fatalf("migrating with a CI token id recorded twice: got %v, want an error naming it", err)
	}
	tables, err := db.Tables(ctx)
	must(t, err)
	if !slices.Contains(tables, "used_jtis") || !slices.Contains(tables, "upload_tokens") {
		t.Fatalf("the refused migration changed the tables: %v", tables)
	}
	// Of many such ids, the error names ten and says there are more.
	for i := range 11 {
		must(t, db.Exec(ctx, fmt.Sprintf(`INSERT INTO exchanges (at, issuer, jti, kind, repository, owner_id, repository_id, workflow_ref, ref, sha, run_id,
				environment, event, actor, projects, token_id)
			SELECT at, issuer, 'jti-many-%02d', kind, repository, owner_id, repository_id, workflow_ref, ref, sha, run_id, environment, event, actor, projects, 'token-again'
			FROM exchanges WHERE jti IN ('jti-revoked', 'jti-live')`, i))) // three records each
	}
	err = st.Migrate(ctx)
	if err == nil || strings.Count(err.Error(), " records)") != 10 || !strings.Contains(err.Error(), `"jti-many-00" (3 records)`) ||
		!strings.Contains(err.Error(), "and more") {
		t.Fatalf("migrating with 12 CI token ids recorded twice: got %v, want an error naming the first ten and saying there are more", err)
	}
	must(t, db.Exec(ctx, `DELETE FROM exchanges WHERE token_id = 'token-again'`))

	must(t, st.Migrate(ctx))
	for id, want := range records {
		got, err := st.UploadToken(ctx, id)
		must(t, err)
		equal(t, "upload token record after the migration", got, want)
	}
	tok, err := st.UploadToken(ctx, pruned.TokenID)
	must(t, err)
	if tok.ExpiresAt.After(pruned.At) || tok.RevokedAt != nil {
		t.Fatalf("record of a token whose row retention had deleted: %+v, want it expired", tok)
	}
	for _, jti := range []string{"jti-live", "jti-revoked", "jti-pruned", "jti-orphan"} {
		replay := f.exchange(jti, pub)
		replay.TokenID = "token-replay-" + jti
		wantErr(t, st.CommitExchange(ctx, replay), store.ErrReplay)
	}
	must(t, st.CommitExchange(ctx, f.exchange("jti-after", pub)))
	// Between the expiry of live's upload token and that of its CI token, its record is
	// kept as the CI token's replay record, whatever KeepExchanges.
	p := policyAt(live.TokenExpires.Add(time.Minute))
	p.KeepExchanges = 0
	_, err = st.Retain(ctx, p)
	must(t, err)
	if !f.tokenRecorded(live) || f.tokenRecorded(pruned) {
		t.Fatalf("after retention past %s's upload token: its record kept %v (want true), pruned's kept %v (want false)",
			live.JTI, f.tokenRecorded(live), f.tokenRecorded(pruned))
	}
	tables, err = db.Tables(ctx)
	must(t, err)
	for _, gone := range []string{"used_jtis", "upload_tokens"} {
		if slices.Contains(tables, gone) {
			t.Errorf("table %s is still there after the migration", gone)
		}
	}
}
