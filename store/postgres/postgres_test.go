package postgres_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tpx-dev/tpx/policy"
	"github.com/tpx-dev/tpx/store"
	"github.com/tpx-dev/tpx/store/postgres"
	"github.com/tpx-dev/tpx/store/storetest"
)

// databaseURL is the server the tests create their schemas on; without it they skip.
func databaseURL(t *testing.T) string {
	t.Helper()
	u := os.Getenv("TPX_TEST_DATABASE_URL")
	if u == "" {
		t.Skip("TPX_TEST_DATABASE_URL is unset: set it to a PostgreSQL database the tests may create schemas in, " +
			"e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable, to run the PostgreSQL store tests")
	}
	return u
}

// admin runs one statement on the test server outside any store.
func admin(ctx context.Context, base, sql string) error {
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

// freshSchema creates an empty schema, dropped when t ends, and returns a URL whose
// connections use it: each test sees only its own tables, so tests run in parallel.
func freshSchema(t *testing.T) string {
	t.Helper()
	base := databaseURL(t)
	schema := "tpx_test_" + strings.ToLower(rand.Text()[:16])
	if err := admin(t.Context(), base, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := admin(ctx, base, "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("dropping schema %s: %v", schema, err)
		}
	})
	return withParam(t, base, "search_path", schema)
}

// withParam returns dsn with the query parameter key set to value.
func withParam(t *testing.T, dsn, key, value string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return u.String()
}

func open(t *testing.T, dsn string) *postgres.Store {
	t.Helper()
	// Tests run in parallel, each with its own pool: keep them within max_connections.
	st, err := postgres.Open(t.Context(), withParam(t, dsn, "pool_max_conns", "4"))
	if err != nil {
		t.Fatal(err)
	}
	// Registered after freshSchema's cleanup, so it runs first: the pool closes before
	// its schema is dropped.
	t.Cleanup(func() { st.Close() })
	return st
}

func TestConformance(t *testing.T) {
	databaseURL(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		st := open(t, freshSchema(t))
		if err := st.Migrate(t.Context()); err != nil {
			t.Fatal(err)
		}
		return st
	}, storetest.HoldsRows, storetest.CommitsTogether)
}

func TestMigrate(t *testing.T) {
	t.Run("Replicas migrating at once all succeed and apply each migration once", func(t *testing.T) {
		dsn := freshSchema(t)
		const replicas = 4
		errs := make(chan error, replicas)
		for range replicas {
			st := open(t, dsn)
			go func() { errs <- st.Migrate(t.Context()) }()
		}
		for range replicas {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		conn, err := pgx.Connect(t.Context(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		var n int
		if err := conn.QueryRow(t.Context(), `SELECT count(*) FROM schema_migrations WHERE version = 1`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Fatalf("migration 1 recorded %d times", n)
		}
	})
}

// direct is a migrated store in a new schema and a connection to the same schema.
func direct(t *testing.T) (store.Store, storetest.SQL) {
	dsn := freshSchema(t)
	st := open(t, dsn)
	if err := st.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return st, storetest.SQL{
		Exec: func(ctx context.Context, q string) error { _, err := conn.Exec(ctx, q); return err },
		QueryInt: func(ctx context.Context, q string) (n int, err error) {
			return n, conn.QueryRow(ctx, q).Scan(&n)
		},
		Tables: func(ctx context.Context) ([]string, error) {
			rows, err := conn.Query(ctx, `SELECT table_name FROM information_schema.tables
				WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name`)
			if err != nil {
				return nil, err
			}
			return pgx.CollectRows(rows, pgx.RowTo[string])
		},
	}
}

func TestSchema(t *testing.T) {
	storetest.RunSchema(t, direct)
}

func TestWebAuthnCount(t *testing.T) {
	t.Run("A user's security keys count as a second factor", func(t *testing.T) {
		dsn := freshSchema(t)
		st := open(t, dsn)
		if err := st.Migrate(t.Context()); err != nil {
			t.Fatal(err)
		}
		u, err := st.CreateUser(t.Context(), store.User{Name: "alice", Email: "a@example.com", PasswordHash: "h", CreatedAt: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		conn, err := pgx.Connect(t.Context(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		for i := range 2 {
			if _, err := conn.Exec(t.Context(), `INSERT INTO webauthn_credentials (user_id, credential_id, public_key, created_at) VALUES ($1, $2, $3, now())`,
				u.ID, []byte{byte(i)}, []byte("key")); err != nil {
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

// project migrates st and gives it the user alice and her project "proj", made at the
// returned time.
func project(t *testing.T, st *postgres.Store) (store.User, store.Project, time.Time) {
	t.Helper()
	ctx := t.Context()
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	u, err := st.CreateUser(ctx, store.User{Name: "alice", Email: "a@example.com", PasswordHash: "h", CreatedAt: now})
	if err != nil {
		t.Fatal(err)
	}
	proj, err := st.CreateProject(ctx, "proj", u.ID, now)
	if err != nil {
		t.Fatal(err)
	}
	return u, proj, now
}

// publisher adds to proj, for u, a publisher of octo-org/octo-repo's workflow in env.
func publisher(t *testing.T, st *postgres.Store, u store.User, proj store.Project, workflow, env string) store.Publisher {
	t.Helper()
	p, err := st.AddPublisher(t.Context(), store.Publisher{Publisher: policy.Publisher{Kind: policy.GitHub,
		Issuer: "https://token.actions.githubusercontent.com", Owner: "octo-org", Name: "octo-repo", Workflow: workflow, Environment: env},
		ProjectID: proj.ID, CreatedBy: u.ID, CreatedAt: proj.CreatedAt})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// exchangeOf is the exchange at now of CI token id jti for project "proj", using pubs.
func exchangeOf(now time.Time, jti string, pubs ...store.Publisher) store.Exchange {
	e := store.Exchange{At: now, Issuer: pubs[0].Issuer, JTI: jti, JTIExpires: now.Add(10 * time.Minute),
		Identity: policy.Identity{Kind: policy.GitHub, Issuer: pubs[0].Issuer, Repository: "octo-org/octo-repo", JTI: jti},
		Projects: []string{"proj"}, TokenID: "token-" + jti, TokenSubject: "github:octo-org/octo-repo", TokenExpires: now.Add(15 * time.Minute)}
	for _, p := range pubs {
		e.Publishers, e.RulesVersions = append(e.Publishers, p.ID), append(e.RulesVersions, p.RulesVersion)
	}
	return e
}

func TestReplicasCommittingTogether(t *testing.T) {
	t.Run("Of one token id sent to two replicas at once exactly one exchange succeeds, and their groups never wait on each other in a cycle", func(t *testing.T) {
		// A wait in a cycle is then not broken for ten minutes, far beyond a round's bound
		// (a round takes a second or two, under the race detector too): the replicas'
		// groups must take their locks in one order.
		dsn := unbrokenCycles(t, freshSchema(t))
		replicas := []*postgres.Store{open(t, dsn), open(t, dsn)}
		ctx := t.Context()
		u, proj, now := project(t, replicas[0])
		pub := publisher(t, replicas[0], u, proj, "release.yml", "")
		exchange := func(jti, token string) store.Exchange {
			e := exchangeOf(now, jti, pub)
			e.TokenID = token
			return e
		}
		var grouped int64
		for round := range 10 {
			const jtis = 64
			ctx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			jtiOf := func(i int) string {
				// The two replicas receive the token ids in opposite orders.
				if i%2 == 1 {
					return fmt.Sprintf("jti-%d-%d", round, jtis-1-i/2)
				}
				return fmt.Sprintf("jti-%d-%d", round, i/2)
			}
			errs := make([]error, 2*jtis)
			var wg sync.WaitGroup
			for i := range errs {
				wg.Go(func() {
					errs[i] = replicas[i%2].CommitExchange(ctx, exchange(jtiOf(i), fmt.Sprintf("token-%d-%d", round, i)))
				})
			}
			wg.Wait()
			won := map[string]int{}
			for i, err := range errs {
				switch {
				case err == nil:
					won[jtiOf(i)]++
				case !errors.Is(err, store.ErrReplay):
					t.Fatalf("token id %s on replica %d: %v (a deadline here is two groups waiting on each other)", jtiOf(i), i%2, err)
				}
			}
			for i := range jtis {
				if jti := fmt.Sprintf("jti-%d-%d", round, i); won[jti] != 1 {
					t.Fatalf("token id %s: %d exchanges succeeded, want exactly 1", jti, won[jti])
				}
			}
			grouped = replicas[0].PoolStats().CommitGroups + replicas[1].PoolStats().CommitGroups
		}
		if grouped == 0 {
			t.Fatal("in ten rounds of 128 concurrent exchanges no replica committed two together")
		}
	})
}

// unbrokenCycles returns dsn with deadlock_timeout raised to ten minutes: a wait in a
// cycle is then not broken for far longer than any test's bound, and shows as a test
// that does not finish in time rather than as an error one side may be built to retry.
func unbrokenCycles(t *testing.T, dsn string) string {
	t.Helper()
	dsn = withParam(t, dsn, "deadlock_timeout", "10min")
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatalf("%v: the test role must be allowed to set deadlock_timeout "+
			"(GRANT SET ON PARAMETER deadlock_timeout TO the role, PostgreSQL 15 or later; or a superuser)", err)
	}
	conn.Close(t.Context())
	return dsn
}

func TestRemovalsLockPublishersInTheExchangesOrder(t *testing.T) {
	// Two publishers that one job satisfies: the first bound to its environment, the
	// second to none. The project's unique index, which a removal may delete by, has them
	// in the other order; so has the table once the first was written again. Another
	// exchange, still in flight, holds one of them (blocked); the removal waits for it,
	// and the exchange under test comes meanwhile.
	for _, c := range []struct {
		name    string
		blocked int   // the publisher another exchange holds
		held    []int // the publishers the exchange holds; it writes the others
	}{
		{"A project removed while an exchange holds its publishers waits for the exchange, never waiting on it in a cycle", 0, []int{0, 1}},
		{"A project removed while an exchange holds one of its publishers and writes another of a higher id never waits on it in a cycle", 1, []int{0}},
	} {
		t.Run(c.name, func(t *testing.T) {
			const app = "tpx-removal-order"
			dsn := withParam(t, unbrokenCycles(t, freshSchema(t)), "application_name", app)
			st := open(t, dsn)
			ctx := t.Context()
			u, proj, now := project(t, st)
			pubs := []store.Publisher{publisher(t, st, u, proj, "release.yml", "prod"), publisher(t, st, u, proj, "release.yml", "")}
			if err := st.CommitExchange(ctx, exchangeOf(now, "jti-0", pubs[0])); err != nil {
				t.Fatal(err)
			}

			conn := func() *pgx.Conn {
				c, err := pgx.Connect(ctx, dsn)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { c.Close(context.Background()) })
				return c
			}
			watcher := conn()
			waiting := func() int {
				var n int
				if err := watcher.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'`, app).Scan(&n); err != nil {
					t.Fatal(err)
				}
				return n
			}
			blocker, err := conn().Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := blocker.Exec(ctx, `SELECT id FROM publishers WHERE id = $1 FOR KEY SHARE`, pubs[c.blocked].ID); err != nil {
				t.Fatal(err)
			}
			bound, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			removed := make(chan error, 1)
			go func() {
				_, err := st.DeleteProject(bound, proj.ID, now)
				removed <- err
			}()
			for waiting() < 1 {
				time.Sleep(5 * time.Millisecond)
			}
			// The exchange commits at once, or waits as the removal does.
			e := exchangeOf(now, "jti-1", pubs...)
			for _, i := range c.held {
				e.Recent = append(e.Recent, pubs[i].ID)
			}
			committed := make(chan error, 1)
			go func() { committed <- st.CommitExchange(bound, e) }()
			var commitErr error
			done := false
			for !done && waiting() < 2 {
				select {
				case commitErr = <-committed:
					done = true
				case <-time.After(5 * time.Millisecond):
				}
			}
			if err := blocker.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			if !done {
				commitErr = <-committed
			}
			if commitErr != nil && !errors.Is(commitErr, store.ErrNotFound) {
				t.Fatalf("the exchange: %v (a deadline here is the removal and the exchange waiting on each other)", commitErr)
			}
			if err := <-removed; err != nil {
				t.Fatalf("the removal: %v (a deadline here is the removal and the exchange waiting on each other)", err)
			}
		})
	}
}

func TestRuleChangesInFlight(t *testing.T) {
	t.Run("An exchange that waits for a rule change of its publisher to commit finds its rules changed, held, written or pinned", func(t *testing.T) {
		const app = "tpx-rules-in-flight"
		dsn := withParam(t, freshSchema(t), "application_name", app)
		st := open(t, dsn)
		ctx := t.Context()
		u, proj, now := project(t, st)
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		for i, mode := range []string{"held", "written", "pinned"} {
			p := publisher(t, st, u, proj, mode+".yml", "")
			e := exchangeOf(now, fmt.Sprintf("jti-%d", i), p)
			switch mode {
			case "held":
				e.Recent = []int64{p.ID}
			case "pinned":
				e.Pins = []store.Pin{{PublisherID: p.ID, OwnerID: "65", RepositoryID: "74"}}
			}
			// An owner's rule change, as the store makes it, still in flight.
			change, err := conn.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := change.Exec(ctx, `UPDATE publishers SET ref_tags_only = true, rules_version = rules_version + 1
				WHERE id IN (SELECT id FROM publishers WHERE id = $1 FOR UPDATE)`, p.ID); err != nil {
				t.Fatal(err)
			}
			bound, cancel := context.WithTimeout(ctx, 30*time.Second)
			committed := make(chan error, 1)
			go func() { committed <- st.CommitExchange(bound, e) }()
			for {
				var n int
				if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'`, app).Scan(&n); err != nil {
					t.Fatal(err)
				}
				if n > 0 {
					break
				}
				select {
				case err := <-committed:
					t.Fatalf("%s: the exchange did not wait for the rule change in flight: %v", mode, err)
				case <-time.After(5 * time.Millisecond):
				}
			}
			if err := change.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			err = <-committed
			cancel()
			if !errors.Is(err, store.ErrRulesChanged) {
				t.Fatalf("%s: the exchange that waited for the rule change: %v, want %v", mode, err, store.ErrRulesChanged)
			}
			if _, err := st.UploadToken(ctx, e.TokenID); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("%s: the failed exchange's token: %v, want it unrecorded", mode, err)
			}
		}
	})
}

// TestUnavailable needs no database: it is about there being none.
func TestUnavailable(t *testing.T) {
	t.Run("A database that refuses connections is unavailable", func(t *testing.T) {
		// Port 1 on the loopback interface: nothing listens there.
		st := open(t, "postgres://tpx@127.0.0.1:1/tpx?sslmode=disable&connect_timeout=5")
		if err := st.Ping(t.Context()); !errors.Is(err, store.ErrUnavailable) {
			t.Fatalf("Ping: got %v, want ErrUnavailable", err)
		}
		if _, err := st.UserByName(t.Context(), "alice"); !errors.Is(err, store.ErrUnavailable) {
			t.Fatalf("UserByName: got %v, want ErrUnavailable", err)
		}
		if err := st.Audit(t.Context(), store.AuditEvent{At: time.Now(), Action: "x"}); !errors.Is(err, store.ErrUnavailable) {
			t.Fatalf("Audit: got %v, want ErrUnavailable", err)
		}
	})
	t.Run("A URL that does not parse is refused without repeating it", func(t *testing.T) {
		const secret = "s3cret-password"
		_, err := postgres.Open(t.Context(), fmt.Sprintf("postgres://u:%s@host:notaport/db", secret))
		if err == nil {
			t.Fatal("Open accepted a URL with a bad port")
		}
		if msg := err.Error(); strings.Contains(msg, secret) {
			t.Fatalf("the error repeats the password: %s", msg)
		}
	})
}

// lockWaits connects to dsn and returns a function that counts the sessions named app
// waiting for a lock.
func lockWaits(t *testing.T, dsn, app string) func() int {
	t.Helper()
	watcher, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { watcher.Close(context.Background()) })
	return func() int {
		var n int
		if err := watcher.QueryRow(t.Context(), `SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'`, app).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
}

// blockerOf begins a transaction on its own connection to dsn that runs sql with args.
func blockerOf(t *testing.T, dsn, sql string, args ...any) pgx.Tx {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	tx, err := conn.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(t.Context(), sql, args...); err != nil {
		t.Fatal(err)
	}
	return tx
}

// meet runs each of steps in turn until it waits for a lock or ends, the first held up by
// a row another transaction, blocker, holds; then ends blocker with end, and returns the
// steps' outcomes. A wait in a cycle among them shows as the deadline of 30 s, which all
// are given.
func meet(t *testing.T, waits func() int, end func(ctx context.Context) error, steps ...func(ctx context.Context) error) []error {
	t.Helper()
	bound, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	outcomes := make([]chan error, len(steps))
	errs := make([]error, len(steps))
	done := make([]bool, len(steps))
	for i, step := range steps {
		outcomes[i] = make(chan error, 1)
		go func() { outcomes[i] <- step(bound) }()
		for !done[i] && waits() < i+1 {
			select {
			case errs[i] = <-outcomes[i]:
				done[i] = true
			case <-time.After(5 * time.Millisecond):
			}
		}
		if i == 0 && done[0] {
			t.Fatalf("the first did not wait for the row held elsewhere: %v", errs[0])
		}
	}
	if err := end(t.Context()); err != nil {
		t.Fatal(err)
	}
	for i := range steps {
		if !done[i] {
			errs[i] = <-outcomes[i]
		}
	}
	return errs
}

// pendingOf is, for u, a pending publisher of repo's release workflow for project name,
// registered at now for an hour.
func pendingOf(u store.User, repo, name string, now time.Time) store.PendingPublisher {
	return store.PendingPublisher{Publisher: policy.Publisher{Kind: policy.GitHub,
		Issuer: "https://token.actions.githubusercontent.com", Owner: "octo-org", Name: repo, Workflow: "release.yml"},
		ProjectName: name, UserID: u.ID, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
}

// pendingFor registers pendingOf(u, repo, name, now) on st.
func pendingFor(t *testing.T, st *postgres.Store, u store.User, repo, name string, now time.Time) store.PendingPublisher {
	t.Helper()
	p, err := st.AddPending(t.Context(), pendingOf(u, repo, name, now))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// conversionOf is the exchange at now of CI token id jti from octo-org/repo, converting pending.
func conversionOf(now time.Time, jti, repo string, pending ...store.PendingPublisher) store.Exchange {
	e := store.Exchange{At: now, Issuer: pending[0].Issuer, JTI: jti, JTIExpires: now.Add(10 * time.Minute),
		Identity: policy.Identity{Kind: policy.GitHub, Issuer: pending[0].Issuer, Repository: "octo-org/" + repo, OwnerID: "65", RepositoryID: "74", JTI: jti},
		Pending:  pending, TokenID: "token-" + jti, TokenSubject: "github:octo-org/" + repo, TokenExpires: now.Add(15 * time.Minute)}
	for _, p := range pending {
		e.Projects = append(e.Projects, p.ProjectName)
		e.Events = append(e.Events, store.AuditEvent{At: now, Actor: e.TokenSubject, Action: "token.mint", Detail: "for " + p.ProjectName})
	}
	return e
}

// succeeded fails t unless every one of the transactions that met, named whos, succeeded.
func succeeded(t *testing.T, errs []error, whos ...string) {
	t.Helper()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("%s: %v (a deadline or a lock timeout here is a wait in a cycle among: %s)", whos[i], err, strings.Join(whos, ", "))
		}
	}
}

// cycles opens a store on a fresh schema whose sessions are named app and whose waits in a
// cycle are never broken (unbrokenCycles), and returns it with its DSN and a count of its
// sessions waiting for a lock (lockWaits).
func cycles(t *testing.T, app string) (*postgres.Store, string, func() int) {
	t.Helper()
	dsn := withParam(t, unbrokenCycles(t, freshSchema(t)), "application_name", app)
	return open(t, dsn), dsn, lockWaits(t, dsn, app)
}

// bobOn adds the user bob to st, made at now.
func bobOn(t *testing.T, st *postgres.Store, now time.Time) store.User {
	t.Helper()
	return userOn(t, st, "bob", now)
}

// userOn adds the user name to st, made at now.
func userOn(t *testing.T, st *postgres.Store, name string, now time.Time) store.User {
	t.Helper()
	u, err := st.CreateUser(t.Context(), store.User{Name: name, Email: name + "@example.com", PasswordHash: "h", CreatedAt: now})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// inviteAll sends invs on st, in order.
func inviteAll(t *testing.T, st *postgres.Store, invs ...store.Invitation) {
	t.Helper()
	for _, inv := range invs {
		if err := st.Invite(t.Context(), inv); err != nil {
			t.Fatal(err)
		}
	}
}

func TestPendingConversionsClaimNamesInOneOrder(t *testing.T) {
	t.Run("Two exchanges converting pending publishers for the same two names, registered in opposite orders, never wait on each other in a cycle", func(t *testing.T) {
		// Alice registered "alpha" then "beta" for one repository, Bob "beta" then "alpha"
		// for another. Another transaction holds Alice's second pending publisher, so that
		// her exchange stops between her two names while Bob's comes.
		st, dsn, waits := cycles(t, "tpx-conversion-order")
		ctx := t.Context()
		alice, _, now := project(t, st)
		bob := bobOn(t, st, now)
		a := []store.PendingPublisher{pendingFor(t, st, alice, "one", "alpha", now), pendingFor(t, st, alice, "one", "beta", now)}
		b := []store.PendingPublisher{pendingFor(t, st, bob, "two", "beta", now), pendingFor(t, st, bob, "two", "alpha", now)}
		blocker := blockerOf(t, dsn, `SELECT id FROM pending_publishers WHERE id = $1 FOR KEY SHARE`, a[1].ID)
		errs := meet(t, waits, blocker.Commit,
			func(ctx context.Context) error {
				return st.CommitExchange(ctx, conversionOf(now, "jti-a", "one", a...))
			},
			func(ctx context.Context) error {
				return st.CommitExchange(ctx, conversionOf(now, "jti-b", "two", b...))
			})
		firstErr, secondErr := errs[0], errs[1]
		var taken *store.PendingTakenError
		won := 0
		for who, err := range map[string]error{"Alice's": firstErr, "Bob's": secondErr} {
			switch {
			case err == nil:
				won++
			case !errors.As(err, &taken):
				t.Fatalf("%s exchange: %v (a deadline here is the two exchanges waiting on each other)", who, err)
			}
		}
		if won != 1 {
			t.Fatalf("%d exchanges converted their pending publishers, want exactly one (Alice's: %v, Bob's: %v)", won, firstErr, secondErr)
		}
		for _, name := range []string{"alpha", "beta"} {
			if _, err := st.ProjectByName(ctx, name); err != nil {
				t.Fatalf("project %s: %v", name, err)
			}
		}
	})
}

func TestUserRemovalsLockInTheExchangesOrder(t *testing.T) {
	t.Run("A user removed while an exchange converts the user's pending publisher waits for the exchange, never waiting on it in a cycle", func(t *testing.T) {
		// Another transaction holds the project name the exchange creates, so that the
		// exchange stops after taking the pending publisher and before naming its owner.
		st, dsn, waits := cycles(t, "tpx-user-removal-pending")
		_, _, now := project(t, st)
		bob := bobOn(t, st, now)
		p := pendingFor(t, st, bob, "new", "new", now)
		blocker := blockerOf(t, dsn, `INSERT INTO projects (name, name_key, created_at) VALUES ('new', 'new', now())`)
		errs := meet(t, waits, blocker.Rollback,
			func(ctx context.Context) error { return st.CommitExchange(ctx, conversionOf(now, "jti-1", "new", p)) },
			func(ctx context.Context) error { return st.DeleteUser(ctx, bob.ID) })
		succeeded(t, errs, "the exchange", "the removal")
	})
	t.Run("A user removed while an exchange writes publishers the user added never waits on it in a cycle", func(t *testing.T) {
		// The first publisher is written again, so a scan of the table meets it after the
		// second; another transaction holds the second, so that the removal stops there
		// while the exchange comes.
		st, dsn, waits := cycles(t, "tpx-user-removal-publishers")
		ctx := t.Context()
		u, proj, now := project(t, st)
		pubs := []store.Publisher{publisher(t, st, u, proj, "release.yml", "prod"), publisher(t, st, u, proj, "release.yml", "")}
		if err := st.CommitExchange(ctx, exchangeOf(now, "jti-0", pubs[0])); err != nil {
			t.Fatal(err)
		}
		blocker := blockerOf(t, dsn, `SELECT id FROM publishers WHERE id = $1 FOR SHARE`, pubs[1].ID)
		errs := meet(t, waits, blocker.Commit,
			func(ctx context.Context) error { return st.DeleteUser(ctx, u.ID) },
			func(ctx context.Context) error { return st.CommitExchange(ctx, exchangeOf(now, "jti-1", pubs...)) })
		succeeded(t, errs, "the removal", "the exchange")
	})
}

// words words retention's notices plainly.
type words struct{}

func (words) ExpiryNotice(pp store.PendingPublisher) store.Notice {
	return store.Notice{Detail: "expires soon: " + pp.ProjectName, Subject: "expires soon", Body: pp.ProjectName}
}

func (words) Expired(pp store.PendingPublisher) string { return "expired: " + pp.ProjectName }

// retain runs retention on st at now, keeping exchanges a day and giving notice two hours
// before a pending publisher expires.
func retain(ctx context.Context, st *postgres.Store, now time.Time) error {
	_, err := st.Retain(ctx, store.RetentionPolicy{Now: now, KeepExchanges: 24 * time.Hour, NoticeBefore: 2 * time.Hour, Words: words{}})
	return err
}

func TestRetentionLocksInTheExchangesOrder(t *testing.T) {
	t.Run("Retention expiring one pending publisher and giving notice of another, while an exchange converts both, never waits on it in a cycle", func(t *testing.T) {
		// The first pending publisher has expired at the run's time, the second expires
		// soon after it. Another transaction holds the second, so that the exchange stops
		// between the two while retention comes.
		st, dsn, waits := cycles(t, "tpx-retention-order")
		alice, _, now := project(t, st)
		expiring := pendingFor(t, st, alice, "one", "alpha", now)
		later := pendingFor(t, st, alice, "one", "beta", now.Add(time.Hour))
		blocker := blockerOf(t, dsn, `SELECT id FROM pending_publishers WHERE id = $1 FOR KEY SHARE`, later.ID)
		errs := meet(t, waits, blocker.Commit,
			func(ctx context.Context) error {
				return st.CommitExchange(ctx, conversionOf(now, "jti-1", "one", expiring, later))
			},
			func(ctx context.Context) error { return retain(ctx, st, expiring.ExpiresAt) })
		succeeded(t, errs, "the exchange", "retention")
	})
}

func TestGroupPanics(t *testing.T) {
	t.Run("A panic while committing a group fails its members, and the store goes on committing exchanges together", func(t *testing.T) {
		var panics atomic.Int64
		st, err := postgres.OpenPanicking(t.Context(), withParam(t, freshSchema(t), "pool_max_conns", "4"), "marked-", &panics)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		u, proj, now := project(t, st)
		pub := publisher(t, st, u, proj, "release.yml", "")
		// commitAll commits exchanges of token ids jtis at once and returns their outcomes.
		commitAll := func(jtis []string) []error {
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			errs := make([]error, len(jtis))
			var wg sync.WaitGroup
			for i, jti := range jtis {
				wg.Go(func() { errs[i] = st.CommitExchange(ctx, exchangeOf(now, jti, pub)) })
			}
			wg.Wait()
			return errs
		}
		for round := 0; round < 20 && panics.Load() == 0; round++ {
			jtis := make([]string, 64)
			for i := range jtis {
				jtis[i] = fmt.Sprintf("jti-%d-%d", round, i)
			}
			jtis[32] = fmt.Sprintf("marked-%d", round)
			for i, err := range commitAll(jtis) {
				if err != nil && !strings.Contains(err.Error(), "panic: encoding a statement of the marked exchange") {
					t.Fatalf("token id %s: %v (a deadline here is an exchange never told its group's outcome)", jtis[i], err)
				}
			}
		}
		if panics.Load() == 0 {
			t.Fatal("in 20 rounds of 64 concurrent exchanges the marked one never committed in a group")
		}
		jtis := make([]string, 64)
		for i := range jtis {
			jtis[i] = fmt.Sprintf("after-%d", i)
		}
		before := st.PoolStats().CommitGroups
		for i, err := range commitAll(jtis) {
			if err != nil {
				t.Fatalf("after the panic, token id %s: %v", jtis[i], err)
			}
		}
		if st.PoolStats().CommitGroups == before {
			t.Fatal("after the panic, 64 concurrent exchanges committed none together")
		}
	})
}

func TestPendingRegistrationsLockInTheExchangesOrder(t *testing.T) {
	// The exchange read the pending publisher while it was current. Another transaction
	// holds the project name it creates, so that the exchange stops after taking the
	// pending publisher and before naming its owner, while its owner registers the same
	// publisher again: once it has expired, or while it is still pending.
	for i, c := range []struct {
		name  string
		again func(p store.PendingPublisher) time.Time
	}{
		{"A pending publisher registered again once expired", func(p store.PendingPublisher) time.Time { return p.ExpiresAt }},
		{"A pending publisher added again by its owner while still pending", func(p store.PendingPublisher) time.Time { return p.CreatedAt }},
	} {
		t.Run(c.name+", while an exchange converts it, never waits on the exchange in a cycle", func(t *testing.T) {
			st, dsn, waits := cycles(t, fmt.Sprintf("tpx-pending-again-%d", i))
			alice, _, now := project(t, st)
			p := pendingFor(t, st, alice, "new", "new", now)
			blocker := blockerOf(t, dsn, `INSERT INTO projects (name, name_key, created_at) VALUES ('new', 'new', now())`)
			errs := meet(t, waits, blocker.Rollback,
				func(ctx context.Context) error { return st.CommitExchange(ctx, conversionOf(now, "jti-1", "new", p)) },
				func(ctx context.Context) error {
					_, err := st.AddPending(ctx, pendingOf(alice, "new", "new", c.again(p)))
					return err
				})
			succeeded(t, errs, "the exchange", "the registration")
		})
	}
}

func TestEventsFeedWithRetentionAndExchanges(t *testing.T) {
	t.Run("The events feed, retention and an exchange converting a pending publisher retention gives notice of never wait on one another in a cycle", func(t *testing.T) {
		// Retention locks the pending publisher and waits for a later one, held elsewhere;
		// the exchange, having written its audit event, waits for retention; the feed
		// waits for the exchange's audit event. Retention's own audit events must then not
		// queue behind the feed.
		st, dsn, waits := cycles(t, "tpx-feed-retention")
		alice, _, now := project(t, st)
		noticed := pendingFor(t, st, alice, "one", "alpha", now)
		later := pendingFor(t, st, alice, "two", "beta", now)
		blocker := blockerOf(t, dsn, `SELECT id FROM pending_publishers WHERE id = $1 FOR KEY SHARE`, later.ID)
		errs := meet(t, waits, blocker.Commit,
			func(ctx context.Context) error { return retain(ctx, st, now) },
			func(ctx context.Context) error {
				return st.CommitExchange(ctx, conversionOf(now, "jti-1", "one", noticed))
			},
			func(ctx context.Context) error { _, err := st.AuditAfter(ctx, 0, 100, ""); return err })
		succeeded(t, errs, "retention", "the exchange", "the events feed")
	})
}

// meeting is a transaction, first, that meets removal while a third transaction holds
// what blocker (with args) selects.
type meeting struct {
	blocker string
	args    []any
	first   func(ctx context.Context) error
	removal func(ctx context.Context) error
}

// invitationMeeting is the meeting of bob's invitation by u to own proj with the removal
// that removed makes: the invitation accepted, or, when expired, sent again.
func invitationMeeting(expired bool, removed func(st *postgres.Store, u, bob store.User, proj store.Project, now time.Time) func(ctx context.Context) error) func(t *testing.T, st *postgres.Store, u store.User, proj store.Project, now time.Time) meeting {
	return func(t *testing.T, st *postgres.Store, u store.User, proj store.Project, now time.Time) meeting {
		if !expired {
			bob := invited(t, st, u, proj, now, now.Add(time.Hour))
			return meeting{`SELECT user_id FROM project_invitations WHERE user_id = $1 FOR UPDATE`, []any{bob.ID},
				func(ctx context.Context) error { return st.AcceptInvitation(ctx, proj.ID, bob.ID, now) }, removed(st, u, bob, proj, now)}
		}
		bob := invited(t, st, u, proj, now.Add(-2*time.Hour), now.Add(-time.Hour))
		return meeting{`SELECT user_id FROM project_invitations WHERE user_id = $1 FOR UPDATE`, []any{bob.ID},
			func(ctx context.Context) error {
				return st.Invite(ctx, invitationOf(u, proj, bob, now, now.Add(time.Hour)))
			},
			removed(st, u, bob, proj, now)}
	}
}

// invitee, inviter and theProject remove the one of an invitation's parties they name.
func invitee(st *postgres.Store, _, bob store.User, _ store.Project, _ time.Time) func(ctx context.Context) error {
	return func(ctx context.Context) error { return st.DeleteUser(ctx, bob.ID) }
}

func inviter(st *postgres.Store, u, _ store.User, _ store.Project, _ time.Time) func(ctx context.Context) error {
	return func(ctx context.Context) error { return st.DeleteUser(ctx, u.ID) }
}

func theProject(st *postgres.Store, _, _ store.User, proj store.Project, now time.Time) func(ctx context.Context) error {
	return func(ctx context.Context) error { _, err := st.DeleteProject(ctx, proj.ID, now); return err }
}

func TestAccountWritesLockTheirOwnerFirst(t *testing.T) {
	// Each case: a transaction that deletes a row belonging to a user, a project or a
	// session, then writes what refers to that owner, meets the owner's removal, whose
	// cascade deletes the same row. Another transaction holds that row, so that the first
	// stops there and the removal comes while it waits.
	cases := []struct {
		name, first, removal string
		set                  func(t *testing.T, st *postgres.Store, u store.User, proj store.Project, now time.Time) meeting
	}{
		{"A session renewed while its user is removed", "the renewal", "the removal",
			func(t *testing.T, st *postgres.Store, u store.User, _ store.Project, now time.Time) meeting {
				old, renewed := renewal(t, st, u, now)
				return meeting{`SELECT id FROM sessions WHERE id = $1 FOR UPDATE`, []any{old.ID},
					func(ctx context.Context) error { return st.RenewSession(ctx, old.ID, renewed) },
					func(ctx context.Context) error { return st.DeleteUser(ctx, u.ID) }}
			}},
		{"An address verified while its user is removed", "the verification", "the removal",
			func(t *testing.T, st *postgres.Store, u store.User, _ store.Project, now time.Time) meeting {
				if err := st.CreateEmailToken(t.Context(), store.EmailToken{Hash: "h", UserID: u.ID, Email: u.Email, ExpiresAt: now.Add(time.Hour)}); err != nil {
					t.Fatal(err)
				}
				return meeting{`SELECT token_hash FROM email_tokens WHERE token_hash = $1 FOR UPDATE`, []any{"h"},
					func(ctx context.Context) error { _, err := st.UseEmailToken(ctx, "h", now); return err },
					func(ctx context.Context) error { return st.DeleteUser(ctx, u.ID) }}
			}},
		{"An invitation accepted while the invitee is removed", "the acceptance", "the removal", invitationMeeting(false, invitee)},
		{"An invitation accepted while its project is removed", "the acceptance", "the removal", invitationMeeting(false, theProject)},
		{"A user invited again, the last invitation expired, while the invitee is removed", "the invitation", "the removal", invitationMeeting(true, invitee)},
		{"A user invited again, the last invitation expired, while the project is removed", "the invitation", "the removal", invitationMeeting(true, theProject)},
		{"A user invited again, the last invitation expired, while the inviter is removed", "the invitation", "the removal", invitationMeeting(true, inviter)},
		{"A security key's challenge replaced while its session ends", "the challenge", "the sign-out",
			func(t *testing.T, st *postgres.Store, u store.User, _ store.Project, now time.Time) meeting {
				ss := store.Session{ID: "s", UserID: u.ID, Stage: store.StageFull, CreatedAt: now, AuthenticatedAt: now, ExpiresAt: now.Add(time.Hour)}
				if err := st.CreateSession(t.Context(), ss); err != nil {
					t.Fatal(err)
				}
				if err := st.PutChallenge(t.Context(), ss.ID, "login", []byte("one"), now.Add(time.Minute)); err != nil {
					t.Fatal(err)
				}
				return meeting{`SELECT session_id FROM webauthn_challenges WHERE session_id = $1 FOR UPDATE`, []any{ss.ID},
					func(ctx context.Context) error {
						return st.PutChallenge(ctx, ss.ID, "login", []byte("two"), now.Add(time.Minute))
					},
					func(ctx context.Context) error { return st.DeleteSession(ctx, ss.ID) }}
			}},
		{"Recovery codes replaced while their user is removed", "the replacement", "the removal",
			func(t *testing.T, st *postgres.Store, u store.User, _ store.Project, now time.Time) meeting {
				if err := st.ReplaceRecoveryCodes(t.Context(), u.ID, []string{"a", "b"}, now); err != nil {
					t.Fatal(err)
				}
				return meeting{`SELECT code_hash FROM recovery_codes WHERE user_id = $1 AND code_hash = 'a' FOR UPDATE`, []any{u.ID},
					func(ctx context.Context) error { return st.ReplaceRecoveryCodes(ctx, u.ID, []string{"c", "d"}, now) },
					func(ctx context.Context) error { return st.DeleteUser(ctx, u.ID) }}
			}},
	}
	for i, c := range cases {
		t.Run(c.name+" waits for it, never in a cycle", func(t *testing.T) {
			st, dsn, waits := cycles(t, fmt.Sprintf("tpx-account-%d", i))
			u, proj, now := project(t, st)
			m := c.set(t, st, u, proj, now)
			blocker := blockerOf(t, dsn, m.blocker, m.args...)
			succeeded(t, meet(t, waits, blocker.Commit, m.first, m.removal), c.first, c.removal)
		})
	}
}

// renewal creates u's session "old", signed in fully at now for an hour, and returns it
// with its renewal, "new".
func renewal(t *testing.T, st *postgres.Store, u store.User, now time.Time) (old, renewed store.Session) {
	t.Helper()
	old = store.Session{ID: "old", UserID: u.ID, Stage: store.StageFull, CreatedAt: now, AuthenticatedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := st.CreateSession(t.Context(), old); err != nil {
		t.Fatal(err)
	}
	renewed = old
	renewed.ID = "new"
	return old, renewed
}

// invitationOf is u's invitation of invitee to own proj, made at created until expires.
func invitationOf(u store.User, proj store.Project, invitee store.User, created, expires time.Time) store.Invitation {
	return store.Invitation{Role: store.RoleOwner, ProjectID: proj.ID, UserID: invitee.ID, InvitedBy: u.ID, CreatedAt: created, ExpiresAt: expires}
}

// invited adds the user bob to st, invited by u to own proj at created until expires.
func invited(t *testing.T, st *postgres.Store, u store.User, proj store.Project, created, expires time.Time) store.User {
	t.Helper()
	bob := bobOn(t, st, created)
	if err := st.Invite(t.Context(), invitationOf(u, proj, bob, created, expires)); err != nil {
		t.Fatal(err)
	}
	return bob
}

func TestRecoveryCodesReplacedTwiceAtOnce(t *testing.T) {
	t.Run("Of two replacements of a user's recovery codes at once, the codes of the last one are all that is left", func(t *testing.T) {
		// Another transaction holds one of the old codes, so that the first replacement
		// stops there while the second comes.
		st, dsn, waits := cycles(t, "tpx-recovery-codes")
		u, _, now := project(t, st)
		if err := st.ReplaceRecoveryCodes(t.Context(), u.ID, []string{"a", "b"}, now); err != nil {
			t.Fatal(err)
		}
		blocker := blockerOf(t, dsn, `SELECT code_hash FROM recovery_codes WHERE user_id = $1 AND code_hash = 'a' FOR UPDATE`, u.ID)
		errs := meet(t, waits, blocker.Commit,
			func(ctx context.Context) error { return st.ReplaceRecoveryCodes(ctx, u.ID, []string{"c", "d"}, now) },
			func(ctx context.Context) error { return st.ReplaceRecoveryCodes(ctx, u.ID, []string{"e", "f"}, now) })
		succeeded(t, errs, "the first replacement", "the second replacement")
		left, err := st.RecoveryCodesLeft(t.Context(), u.ID)
		if err != nil {
			t.Fatal(err)
		}
		if left != 2 {
			t.Fatalf("%d recovery codes left after two replacements by two codes each, want 2", left)
		}
	})
}

func TestExpiredRowsSweptBesideRemovals(t *testing.T) {
	// Each case: the sweep of expired rows meets a removal whose cascade reaches the same
	// expired rows. Another transaction holds one of them, so that the removal stops
	// there while the sweep comes.
	cases := []struct {
		name, removal string
		set           func(t *testing.T, st *postgres.Store, u store.User, proj store.Project, now time.Time) (blocker string, args []any, remove func(ctx context.Context) error)
	}{
		{"An expired session with its security key's challenge, swept while its user signs out everywhere", "the sign-out",
			func(t *testing.T, st *postgres.Store, u store.User, _ store.Project, now time.Time) (string, []any, func(ctx context.Context) error) {
				ss := store.Session{ID: "s", UserID: u.ID, Stage: store.StageSecondFactor, CreatedAt: now.Add(-time.Hour), AuthenticatedAt: now.Add(-time.Hour), ExpiresAt: now.Add(-time.Minute)}
				if err := st.CreateSession(t.Context(), ss); err != nil {
					t.Fatal(err)
				}
				if err := st.PutChallenge(t.Context(), ss.ID, "login", []byte("c"), now.Add(-time.Minute)); err != nil {
					t.Fatal(err)
				}
				return `SELECT id FROM sessions WHERE id = $1 FOR UPDATE`, []any{ss.ID},
					func(ctx context.Context) error { _, err := st.DeleteUserSessions(ctx, u.ID, ""); return err }
			}},
		{"Two expired invitations, one to a user and one from that user, swept while the user is removed", "the removal",
			func(t *testing.T, st *postgres.Store, alice store.User, proj store.Project, now time.Time) (string, []any, func(ctx context.Context) error) {
				// The invitation from bob is stored first, so that a scan of the table meets
				// it before the one to bob; the removal's cascade takes the one to bob first.
				bob := bobOn(t, st, now)
				carol := userOn(t, st, "carol", now)
				inviteAll(t, st, invitationOf(bob, proj, carol, now.Add(-2*time.Hour), now.Add(-time.Hour)),
					invitationOf(alice, proj, bob, now.Add(-2*time.Hour), now.Add(-time.Hour)))
				return `SELECT user_id FROM project_invitations WHERE user_id = $1 FOR UPDATE`, []any{bob.ID},
					func(ctx context.Context) error { return st.DeleteUser(ctx, bob.ID) }
			}},
	}
	for i, c := range cases {
		t.Run(c.name+", never waits on it in a cycle", func(t *testing.T) {
			st, dsn, waits := cycles(t, fmt.Sprintf("tpx-sweep-%d", i))
			u, proj, now := project(t, st)
			sql, args, remove := c.set(t, st, u, proj, now)
			blocker := blockerOf(t, dsn, sql, args...)
			errs := meet(t, waits, blocker.Commit, remove,
				func(ctx context.Context) error { _, err := st.DeleteExpired(ctx, now); return err })
			succeeded(t, errs, c.removal, "the sweep")
		})
	}
}

func TestInvitersRemovedBesideOthers(t *testing.T) {
	// Each case: a removal, or a change of owners, reaching an invitation to bob meets a
	// second transaction reaching it or another invitation from or to bob. Another
	// transaction holds the invitation to bob, so that the first stops there while the
	// second comes.
	type steps struct {
		bob                   store.User
		firstName, secondName string
		first, second         func(ctx context.Context) error
	}
	cases := []struct {
		name string
		set  func(t *testing.T, st *postgres.Store, alice store.User, proj store.Project, now time.Time) steps
	}{
		{"Owners set while a user they add is removed, who had invited another they add",
			func(t *testing.T, st *postgres.Store, alice store.User, proj store.Project, now time.Time) steps {
				bob, carol := bobOn(t, st, now), userOn(t, st, "carol", now)
				inviteAll(t, st, invitationOf(carol, proj, bob, now, now.Add(time.Hour)))
				return steps{bob, "the change of owners", "the removal",
					func(ctx context.Context) error {
						_, _, err := st.SetOwners(ctx, proj.ID, []int64{alice.ID, bob.ID, carol.ID})
						return err
					},
					func(ctx context.Context) error { return st.DeleteUser(ctx, carol.ID) }}
			}},
		{"Two users removed at once, each invited by the other",
			func(t *testing.T, st *postgres.Store, _ store.User, proj store.Project, now time.Time) steps {
				bob, carol := bobOn(t, st, now), userOn(t, st, "carol", now)
				inviteAll(t, st, invitationOf(carol, proj, bob, now, now.Add(time.Hour)), invitationOf(bob, proj, carol, now, now.Add(time.Hour)))
				return steps{bob, "bob's removal", "carol's removal",
					func(ctx context.Context) error { return st.DeleteUser(ctx, bob.ID) },
					func(ctx context.Context) error { return st.DeleteUser(ctx, carol.ID) }}
			}},
		{"A project removed while a user is removed who is invited to it and invited another to it",
			// dave, of a lower id than bob's, is taken first by the project's cascade, bob's
			// own invitation first by bob's removal.
			func(t *testing.T, st *postgres.Store, alice store.User, proj store.Project, now time.Time) steps {
				dave := userOn(t, st, "dave", now)
				bob := bobOn(t, st, now)
				inviteAll(t, st, invitationOf(bob, proj, dave, now, now.Add(time.Hour)), invitationOf(alice, proj, bob, now, now.Add(time.Hour)))
				return steps{bob, "bob's removal", "the project's removal",
					func(ctx context.Context) error { return st.DeleteUser(ctx, bob.ID) },
					func(ctx context.Context) error { _, err := st.DeleteProject(ctx, proj.ID, now); return err }}
			}},
	}
	for i, c := range cases {
		t.Run(c.name+", never wait on each other in a cycle", func(t *testing.T) {
			st, dsn, waits := cycles(t, fmt.Sprintf("tpx-inviters-%d", i))
			alice, proj, now := project(t, st)
			m := c.set(t, st, alice, proj, now)
			blocker := blockerOf(t, dsn, `SELECT user_id FROM project_invitations WHERE user_id = $1 FOR UPDATE`, m.bob.ID)
			succeeded(t, meet(t, waits, blocker.Commit, m.first, m.second), m.firstName, m.secondName)
		})
	}
}

// conflict is a transaction of the store's that holds one row and then waits for another,
// which other holds (blocker, args); other then asks, with then (thenArgs), for a row the
// store's transaction holds, and ends with end.
// recordOfTokenID records an exchange of CI token id $2 from issuer $1 and nothing else,
// as another transaction that a commit recording the same token id must wait for.
const recordOfTokenID = `INSERT INTO exchanges (at, issuer, jti, jti_expires_at, kind, repository, owner_id, repository_id, workflow_ref, ref, sha,
	run_id, environment, event, actor, projects, token_id, subject, token_expires_at)
	VALUES (now(), $1, $2, now(), '', '', '', '', '', '', '', '', '', '', '', '[]', '', '', now())`

type conflict struct {
	blocker  string
	args     []any
	run      func(ctx context.Context) error
	then     string
	thenArgs []any
	end      func(other pgx.Tx) error
	check    func(t *testing.T)
}

func TestDeadlockedTransactionsRunAgain(t *testing.T) {
	// The store's sessions look for a cycle once, 2 s after they start waiting, by when
	// the other side has joined it (else the test fails at its bound); the other side never
	// looks (unbrokenCycles), so that the database rolls the store's transaction back.
	// Run again once the other has ended, it must succeed.
	cases := []struct {
		name string
		set  func(t *testing.T, st *postgres.Store, u store.User, proj store.Project, now time.Time) conflict
	}{
		{"A session's renewal, which holds its user's row and waits for the session's", func(t *testing.T, st *postgres.Store, u store.User, _ store.Project, now time.Time) conflict {
			old, renewed := renewal(t, st, u, now)
			return conflict{`SELECT id FROM sessions WHERE id = $1 FOR UPDATE`, []any{old.ID},
				func(ctx context.Context) error { return st.RenewSession(ctx, old.ID, renewed) },
				`SELECT id FROM users WHERE id = $1 FOR UPDATE`, []any{u.ID},
				func(other pgx.Tx) error { return other.Commit(t.Context()) },
				func(t *testing.T) {
					if _, err := st.Session(t.Context(), renewed.ID, now); err != nil {
						t.Errorf("the renewed session: %v", err)
					}
					if _, err := st.Session(t.Context(), old.ID, now); !errors.Is(err, store.ErrNotFound) {
						t.Errorf("the old session: %v, want it gone", err)
					}
				}}
		}},
		{"An exchange's commit, which records its token id and waits for its publisher's row", func(t *testing.T, st *postgres.Store, u store.User, proj store.Project, now time.Time) conflict {
			p := publisher(t, st, u, proj, "release.yml", "")
			e := exchangeOf(now, "jti-1", p)
			return conflict{`SELECT id FROM publishers WHERE id = $1 FOR UPDATE`, []any{p.ID},
				func(ctx context.Context) error { return st.CommitExchange(ctx, e) },
				recordOfTokenID, []any{e.Issuer, e.JTI},
				func(other pgx.Tx) error { return other.Rollback(t.Context()) },
				func(t *testing.T) {
					if err := st.CommitExchange(t.Context(), e); !errors.Is(err, store.ErrReplay) {
						t.Errorf("the token id again: %v, want it recorded once", err)
					}
				}}
		}},
	}
	for i, c := range cases {
		t.Run(c.name+", rolled back to end a deadlock, runs again", func(t *testing.T) {
			app := fmt.Sprintf("tpx-conflict-%d", i)
			schema := freshSchema(t)
			dsn := withParam(t, withParam(t, schema, "deadlock_timeout", "2s"), "application_name", app)
			st := open(t, dsn)
			waits := lockWaits(t, dsn, app)
			u, proj, now := project(t, st)
			cf := c.set(t, st, u, proj, now)
			other := blockerOf(t, unbrokenCycles(t, schema), cf.blocker, cf.args...)
			outcome := make(chan error, 1)
			go func() { outcome <- cf.run(t.Context()) }()
			for waits() == 0 {
				select {
				case err := <-outcome:
					t.Fatalf("it did not wait for the row held elsewhere: %v", err)
				case <-time.After(5 * time.Millisecond):
				}
			}
			// Should the store's one look for a cycle come before the other joins it, nothing
			// would break the cycle: the bound makes that a failure rather than a wait.
			bound, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			if _, err := other.Exec(bound, cf.then, cf.thenArgs...); err != nil {
				t.Fatalf("the other transaction, which the database must not roll back: %v", err)
			}
			if err := cf.end(other); err != nil {
				t.Fatal(err)
			}
			if err := <-outcome; err != nil {
				t.Fatalf("rolled back to end the deadlock: %v", err)
			}
			// At least one: woken by the rollback, the other side may lose the race for
			// the row to the second run, and meet it in a cycle again.
			if n := st.PoolStats().Conflicts; n < 1 {
				t.Errorf("%d runs again counted, want at least 1", n)
			}
			cf.check(t)
		})
	}
}

// A group of exchanges that the database rolls back to end a deadlock is not run again as
// a group: its members commit alone at once, so that a member outside the cycle commits
// while the other side of the cycle still holds what it held.
func TestAGroupRolledBackToEndADeadlockCommitsItsMembersAlone(t *testing.T) {
	const app = "tpx-group-conflict"
	schema := freshSchema(t)
	dsn := withParam(t, withParam(t, schema, "deadlock_timeout", "2s"), "application_name", app)
	st := open(t, dsn)
	waits := lockWaits(t, dsn, app)
	u, proj, now := project(t, st)
	gate := publisher(t, st, u, proj, "gate.yml", "")
	inCycle := publisher(t, st, u, proj, "release.yml", "")
	outside := publisher(t, st, u, proj, "docs.yml", "")
	bound, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	commit := func(e store.Exchange) chan error {
		done := make(chan error, 1)
		go func() { done <- st.CommitExchange(bound, e) }()
		return done
	}
	until := func(what string, ok func() bool) {
		t.Helper()
		for !ok() {
			select {
			case <-bound.Done():
				t.Fatalf("waiting for %s: %v", what, bound.Err())
			case <-time.After(5 * time.Millisecond):
			}
		}
	}

	// Two lone commits, as many as may be out at once, wait for a row held elsewhere;
	// the next two exchanges queue meanwhile, and go out together once the first ends.
	gateHolder := blockerOf(t, unbrokenCycles(t, schema), `SELECT id FROM publishers WHERE id = $1 FOR UPDATE`, gate.ID)
	first := []chan error{commit(exchangeOf(now, "jti-a", gate)), commit(exchangeOf(now, "jti-b", gate))}
	until("the lone commits to wait", func() bool { return waits() == 2 })
	cycled := exchangeOf(now, "jti-c", inCycle)
	inGroup, outsideGroup := commit(cycled), commit(exchangeOf(now, "jti-d", outside))
	until("two exchanges to queue", func() bool { return st.PoolStats().CommitQueue == 2 })
	other := blockerOf(t, unbrokenCycles(t, schema), `SELECT id FROM publishers WHERE id = $1 FOR UPDATE`, inCycle.ID)
	if err := gateHolder.Commit(bound); err != nil {
		t.Fatal(err)
	}
	for _, done := range first {
		if err := <-done; err != nil {
			t.Fatalf("a lone commit: %v", err)
		}
	}
	// The group has recorded both token ids and waits for the row the other side holds;
	// the other side then records one of those token ids too: a cycle, which the store's
	// session breaks once its deadlock_timeout has passed (2 s: by then the other side has
	// surely joined it, else the test fails at its bound).
	until("the group to wait", func() bool { return waits() == 1 })
	if _, err := other.Exec(bound, recordOfTokenID, cycled.Issuer, cycled.JTI); err != nil {
		t.Fatalf("the other transaction, which the database must not roll back: %v", err)
	}
	select {
	case err := <-outsideGroup:
		if err != nil {
			t.Fatalf("the member outside the cycle: %v", err)
		}
	case <-bound.Done():
		t.Fatal("the member outside the cycle waited for the other side to end: its group ran again")
	}
	if err := other.Rollback(bound); err != nil {
		t.Fatal(err)
	}
	if err := <-inGroup; err != nil {
		t.Fatalf("the member in the cycle, once the other side ended: %v", err)
	}
	if err := st.CommitExchange(t.Context(), cycled); !errors.Is(err, store.ErrReplay) {
		t.Errorf("the token id in the cycle again: %v, want it recorded once", err)
	}
	// The group's conflict counts one; the member in the cycle, run alone, may meet the
	// other side in a cycle again before it ends, and count more.
	s := st.PoolStats()
	if s.CommitGroups != 1 || s.GroupsRolledBack != 1 || s.Conflicts < 1 || s.CommitQueue != 0 {
		t.Errorf("%d groups, %d rolled back, %d runs again, %d queued; want 1, 1, at least 1, 0", s.CommitGroups, s.GroupsRolledBack, s.Conflicts, s.CommitQueue)
	}
}
