package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/tpx-dev/tpx/internal/sqlitetest"
	"github.com/tpx-dev/tpx/policy"
	"github.com/tpx-dev/tpx/store"
	"github.com/tpx-dev/tpx/store/sqlite"
	"github.com/tpx-dev/tpx/store/storetest"
)

func open(t *testing.T, dir string) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return st
}

// raw opens the database file directly, to look at what the store cannot show.
func raw(t *testing.T, dir string) *sql.DB {
	t.Helper()
	name := (&url.URL{Scheme: "file", Path: filepath.Join(dir, sqlite.FileName)}).String()
	db, err := sql.Open("sqlite", name+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return open(t, sqlitetest.Dir(t)) })
}

// direct is a migrated store in a new directory and the same database opened directly.
func direct(t *testing.T) (store.Store, storetest.SQL) {
	dir := t.TempDir()
	st, db := open(t, dir), raw(t, dir)
	return st, storetest.SQL{
		Exec: func(ctx context.Context, q string) error { _, err := db.ExecContext(ctx, q); return err },
		QueryInt: func(ctx context.Context, q string) (n int, err error) {
			return n, db.QueryRowContext(ctx, q).Scan(&n)
		},
		Tables: func(ctx context.Context) ([]string, error) {
			rows, err := db.QueryContext(ctx, `SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`)
			if err != nil {
				return nil, err
			}
			defer rows.Close()
			var names []string
			for rows.Next() {
				var name string
				if err := rows.Scan(&name); err != nil {
					return nil, err
				}
				names = append(names, name)
			}
			return names, rows.Err()
		},
	}
}

func TestSchema(t *testing.T) {
	storetest.RunSchema(t, direct)
}

func TestOpen(t *testing.T) {
	t.Run("Open creates the directory and a database in WAL mode with foreign keys on", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "a dir", "with?odd#chars")
		st := open(t, dir)
		var mode string
		if err := raw(t, dir).QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil {
			t.Fatal(err)
		}
		if mode != "wal" {
			t.Fatalf("journal_mode %q, want wal", mode)
		}
		// A foreign key to no user must be refused, so foreign keys are enforced.
		_, err := st.CreateProject(t.Context(), "orphan", 42, time.Now())
		if !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("got %v, want ErrNotFound", err)
		}
	})
	t.Run("Migrate records each migration once", func(t *testing.T) {
		dir := t.TempDir()
		st := open(t, dir)
		if err := st.Migrate(t.Context()); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := raw(t, dir).QueryRow(`SELECT count(*) FROM schema_migrations WHERE version = 1`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Fatalf("migration 1 recorded %d times", n)
		}
	})
}

func TestWebAuthnCount(t *testing.T) {
	t.Run("A user's security keys count as a second factor", func(t *testing.T) {
		dir := t.TempDir()
		st := open(t, dir)
		u, err := st.CreateUser(t.Context(), store.User{Name: "alice", Email: "a@example.com", PasswordHash: "h", CreatedAt: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 2 {
			if _, err := raw(t, dir).Exec(`INSERT INTO webauthn_credentials (user_id, credential_id, public_key, created_at) VALUES ($1, $2, $3, $4)`,
				u.ID, []byte{byte(i)}, []byte("key"), time.Now().UnixMicro()); err != nil {
				t.Fatal(err)
			}
		}
		got, err := st.UserByName(t.Context(), "alice")
		if err != nil {
			t.Fatal(err)
		}
		if got.WebAuthnCount != 2 || !got.HasSecondFactor() {
			t.Fatalf("WebAuthnCount %d, second factor %v; want 2, true", got.WebAuthnCount, got.HasSecondFactor())
		}
	})
}

// TestProcesses opens the same directory twice, as `tpx serve` and a `tpx` command do:
// the two stores share nothing but the file, so only SQLite's locking keeps them apart.
func TestProcesses(t *testing.T) {
	t.Run("Two stores on one file migrate at once, accept a token id once and keep the publisher limit between them", func(t *testing.T) {
		dir := t.TempDir()
		stores := []*sqlite.Store{}
		for range 2 {
			st, err := sqlite.Open(t.Context(), dir)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			stores = append(stores, st)
		}
		errs := make(chan error, len(stores))
		for _, st := range stores {
			go func() { errs <- st.Migrate(t.Context()) }()
		}
		for range stores {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}

		const n = 20
		done := make(chan error, n)
		for i := range n {
			st := stores[i%2]
			go func() {
				done <- st.CommitExchange(t.Context(), store.Exchange{
					At: time.Now(), Issuer: "https://token.actions.githubusercontent.com", JTI: "shared", JTIExpires: time.Now().Add(time.Hour),
					Identity: policy.Identity{Kind: policy.GitHub}, TokenID: fmt.Sprintf("token-%d", i), TokenExpires: time.Now().Add(time.Hour),
				})
			}()
		}
		ok, replays := 0, 0
		for range n {
			switch err := <-done; {
			case err == nil:
				ok++
			case errors.Is(err, store.ErrReplay):
				replays++
			default:
				t.Fatalf("unexpected error: %v", err)
			}
		}
		if ok != 1 || replays != n-1 {
			t.Fatalf("%d accepted and %d replays, want 1 and %d", ok, replays, n-1)
		}

		// Adding a publisher reads (the count) before it writes: without BEGIN IMMEDIATE
		// the two stores' transactions would deadlock on upgrading their locks, and one
		// would fail with SQLITE_BUSY at once instead of waiting.
		alice, err := stores[0].CreateUser(t.Context(), store.User{Name: "alice", CreatedAt: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		proj, err := stores[1].CreateProject(t.Context(), "proj", alice.ID, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		const adds = 30
		for i := range adds {
			st := stores[i%2]
			go func() {
				_, err := st.AddPublisher(t.Context(), store.Publisher{
					Publisher: policy.Publisher{Kind: policy.GitHub, Issuer: "https://token.actions.githubusercontent.com",
						Owner: "o", Name: "r", Workflow: fmt.Sprintf("w%d.yml", i)},
					ProjectID: proj.ID, CreatedBy: alice.ID, CreatedAt: time.Now(),
				})
				done <- err
			}()
		}
		added, full := 0, 0
		for range adds {
			switch err := <-done; {
			case err == nil:
				added++
			case errors.Is(err, store.ErrTooManyPublishers):
				full++
			default:
				t.Fatalf("unexpected error: %v", err)
			}
		}
		if added != store.MaxPublishersPerProject || full != adds-store.MaxPublishersPerProject {
			t.Fatalf("%d added and %d refused, want %d and %d", added, full, store.MaxPublishersPerProject, adds-store.MaxPublishersPerProject)
		}
	})
}
