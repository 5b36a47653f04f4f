package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tpx-dev/tpx/policy"
	"github.com/tpx-dev/tpx/verify"
)

// pgDatabase is the run's own PostgreSQL database.
type pgDatabase struct {
	admin   *pgx.Conn
	name    string
	url     string
	version string
	// settings that decide what a commit costs, for the report
	synchronousCommit, fsync string
	pool                     *pgxpool.Pool // seeding, resets and the floors' publisher ids
}

// createDatabase creates a database named tpx_bench_… next to the one base names.
func createDatabase(ctx context.Context, base string) (*pgDatabase, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return nil, errors.New("TPX_BENCH_DATABASE_URL is not a postgres:// URL")
	}
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		return nil, fmt.Errorf("connecting to PostgreSQL (set TPX_BENCH_DATABASE_URL): %w", err)
	}
	d := &pgDatabase{admin: admin, name: "tpx_bench_" + strings.ToLower(rand.Text()[:12])}
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+d.name); err != nil {
		admin.Close(ctx)
		return nil, fmt.Errorf("creating the bench database: %w", err)
	}
	u.Path = "/" + d.name
	d.url = u.String()
	if d.pool, err = pgxpool.New(ctx, d.url); err != nil {
		d.drop()
		return nil, err
	}
	for q, dst := range map[string]*string{"SHOW server_version": &d.version, "SHOW synchronous_commit": &d.synchronousCommit, "SHOW fsync": &d.fsync} {
		if err := d.pool.QueryRow(ctx, q).Scan(dst); err != nil {
			d.drop()
			return nil, err
		}
	}
	return d, nil
}

// drop removes the database, whatever state the run left it in.
func (d *pgDatabase) drop() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if d.pool != nil {
		d.pool.Close()
	}
	d.admin.Exec(ctx, "DROP DATABASE IF EXISTS "+d.name+" WITH (FORCE)")
	d.admin.Close(ctx)
}

// resetReplay empties the exchange records, which are the replay records, so that the same
// CI tokens can be exchanged again by a phase that follows another on this database.
func (d *pgDatabase) resetReplay(ctx context.Context) error {
	_, err := d.pool.Exec(ctx, "TRUNCATE exchanges")
	return err
}

// seedSpec is a set of publishers: repositories from..from+repos-1, each with a publisher
// (the same rules) on each of its projects.
type seedSpec struct {
	issuer      string
	from, repos int
	repo        func(i int) repository
}

type seedRow struct {
	repo        repository
	project     string
	projectID   int64
	publisherID int64
}

// The columns the bench seeds, for COPY on PostgreSQL and INSERT on SQLite alike, and the
// values of one row of each: a publisher pinned to its repository's ids, as after a first
// use, with an environment rule. now is the creation time as the store's driver takes it.
var (
	projectColumns   = []string{"id", "name", "name_key", "created_at"}
	publisherColumns = []string{"id", "project_id", "kind", "issuer", "owner", "name", "repo_key", "workflow",
		"environment", "owner_id", "repository_id", "created_at", "env_key", "registrant"}
)

func (r seedRow) projectValues(now any) []any {
	return []any{r.projectID, r.project, verify.ProjectKey(r.project), now}
}

func (s seedSpec) publisherValues(r seedRow, now any) []any {
	return []any{r.publisherID, r.projectID, string(policy.GitHub), s.issuer, r.repo.owner, r.repo.name,
		policy.RepositoryKey(r.repo.owner + "/" + r.repo.name), "release.yml", "prod", r.repo.ownerID, r.repo.repoID, now,
		policy.EnvironmentKey(policy.GitHub, "prod"), 0}
}

// rows numbers the spec's projects and publishers from the given ids on.
func (s seedSpec) rows(projectBase, publisherBase int64) iter.Seq[seedRow] {
	return func(yield func(seedRow) bool) {
		var k int64
		for i := s.from; i < s.from+s.repos; i++ {
			r := s.repo(i)
			for j := range r.projects {
				k++
				if !yield(seedRow{repo: r, project: r.projectName(j), projectID: projectBase + k, publisherID: publisherBase + k}) {
					return
				}
			}
		}
	}
}

// seed writes the spec's projects and publishers with COPY, ids included (COPY may set
// identity columns), then moves the identity sequences past them and refreshes the
// planner's statistics. The publishers are pinned to their repository's ids, as after a
// first use.
func (d *pgDatabase) seed(ctx context.Context, s seedSpec) error {
	var projectBase, publisherBase int64
	if err := d.pool.QueryRow(ctx, `SELECT (SELECT COALESCE(max(id), 0) FROM projects), (SELECT COALESCE(max(id), 0) FROM publishers)`).
		Scan(&projectBase, &publisherBase); err != nil {
		return err
	}
	now := time.Now().UTC()
	copyRows := func(table string, columns []string, values func(seedRow) []any) error {
		next, stop := iter.Pull(s.rows(projectBase, publisherBase))
		defer stop()
		_, err := d.pool.CopyFrom(ctx, pgx.Identifier{table}, columns, pgx.CopyFromFunc(func() ([]any, error) {
			r, ok := next()
			if !ok {
				return nil, nil
			}
			return values(r), nil
		}))
		if err != nil {
			return fmt.Errorf("COPY %s: %w", table, err)
		}
		return nil
	}
	if err := copyRows("projects", projectColumns, func(r seedRow) []any { return r.projectValues(now) }); err != nil {
		return err
	}
	if err := copyRows("publishers", publisherColumns, func(r seedRow) []any { return s.publisherValues(r, now) }); err != nil {
		return err
	}
	for _, q := range []string{
		`SELECT setval(pg_get_serial_sequence('projects', 'id'), (SELECT max(id) FROM projects))`,
		`SELECT setval(pg_get_serial_sequence('publishers', 'id'), (SELECT max(id) FROM publishers))`,
		`ANALYZE projects`, `ANALYZE publishers`,
	} {
		if _, err := d.pool.Exec(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	return nil
}

// analyze refreshes the planner's statistics, as autovacuum does within a minute of a
// table's growth: the cases seeded through the store measure right after seeding.
func (d *pgDatabase) analyze(ctx context.Context) error {
	_, err := d.pool.Exec(ctx, `ANALYZE`)
	return err
}

// checkpoint starts the next measurement from a fresh checkpoint, with nothing a bulk load
// left in the write-ahead log to flush in the middle of it. It needs a privileged role;
// without one it is skipped.
func (d *pgDatabase) checkpoint(ctx context.Context) {
	d.pool.Exec(ctx, "CHECKPOINT")
}

// wal reads the cluster's WAL insert position, in bytes: what every backend has written,
// at once (pg_stat_wal lags, its counters reaching it up to seconds later).
func (d *pgDatabase) wal(ctx context.Context) walUse {
	var u walUse
	if err := d.pool.QueryRow(ctx, `SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '0/0')::float8`).Scan(&u.bytes); err != nil {
		return walUse{}
	}
	u.measured = true
	return u
}

// The statements of an exchange's writes, as store/sqlstore sends them.
const (
	sqlExchange = `INSERT INTO exchanges
		(at, issuer, jti, jti_expires_at, kind, repository, owner_id, repository_id, workflow_ref, ref, sha, run_id, environment, event, actor,
			projects, token_id, subject, token_expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)`
	sqlMarkUsed = `UPDATE publishers SET last_used_at = $2 WHERE id = $1`
	sqlMinted   = `INSERT INTO audit_events (at, actor, user_id, project_id, action, detail) VALUES ($1, $2, $3, $4, $5, $6)`
)

// floorTarget is one publisher of the base set, as a floor transaction touches it.
type floorTarget struct {
	id, project int64
	repository  string
	projects    string // JSON list of its project's name
}

func (d *pgDatabase) floorTargets(ctx context.Context, owner string) ([]floorTarget, error) {
	rows, err := d.pool.Query(ctx, `SELECT p.id, pr.id, p.owner || '/' || p.name, pr.name FROM publishers p JOIN projects pr ON pr.id = p.project_id
		WHERE p.owner = $1 ORDER BY p.id`, owner)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (floorTarget, error) {
		var (
			t       floorTarget
			project string
		)
		if err := r.Scan(&t.id, &t.project, &t.repository, &project); err != nil {
			return t, err
		}
		b, err := json.Marshal([]string{project})
		t.projects = string(b)
		return t, err
	})
}

// floorMaxConns caps the floor's connections: PostgreSQL allows 100 by default, other
// programs need some, and past a few dozen more backends on a small machine only add
// context switches. Beyond it, workers queue for a connection, as tpx's requests do.
const floorMaxConns = 32

// floor runs, at concurrency c for about d, one durable transaction per iteration with
// exactly the rows an exchange writes: the exchange record (also the replay record and the
// upload token's), the publisher's last use and the project's audit event, committed with
// the server's synchronous_commit. batched sends the three statements in one pgx batch, one round trip in an implicit
// transaction; otherwise they go one by one between BEGIN and COMMIT, as a Go program
// using database/sql or pgx.BeginFunc would send them.
func (d *pgDatabase) floor(ctx context.Context, issuer string, targets []floorTarget, c int, dur time.Duration, batched bool) (runResult, error) {
	cfg, err := pgxpool.ParseConfig(d.url)
	if err != nil {
		return runResult{}, err
	}
	conns := int32(min(c, floorMaxConns))
	cfg.MaxConns, cfg.MinConns = conns, conns
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return runResult{}, err
	}
	defer pool.Close()

	one := func(ctx context.Context, n int) error {
		t := targets[n%len(targets)]
		now := time.Now()
		jti, tokenID := rand.Text(), rand.Text()
		args := [][]any{
			{now, issuer, jti, now.Add(time.Hour), "github", t.repository, "4242", "1000001", t.repository + "/.github/workflows/release.yml@refs/heads/main",
				"refs/heads/main", "d4c3b2a1e5f60718293a4b5c6d7e8f9012345678", "8675309", "prod", "push", "octocat", t.projects, tokenID,
				"github:" + t.repository, now.Add(15 * time.Minute)},
			{t.id, now},
			{now, "exchange", nil, t.project, "token.mint", "upload token " + tokenID + " minted"},
		}
		stmts := []string{sqlExchange, sqlMarkUsed, sqlMinted}
		if batched {
			var b pgx.Batch
			for i, s := range stmts {
				b.Queue(s, args[i]...)
			}
			br := pool.SendBatch(ctx, &b)
			for i := range stmts {
				tag, err := br.Exec()
				if err != nil {
					br.Close()
					return err
				}
				if tag.RowsAffected() != 1 {
					br.Close()
					return fmt.Errorf("statement %d changed %d rows", i, tag.RowsAffected())
				}
			}
			return br.Close()
		}
		return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			for i, s := range stmts {
				tag, err := tx.Exec(ctx, s, args[i]...)
				if err != nil {
					return err
				}
				if tag.RowsAffected() != 1 {
					return fmt.Errorf("statement %d changed %d rows", i, tag.RowsAffected())
				}
			}
			return nil
		})
	}
	return closedLoop(ctx, c, dur, 3, one)
}

// closedLoop runs op on c workers: warm times each (unmeasured: connections, prepared
// statements), then as often as they can until dur has passed.
func closedLoop(ctx context.Context, c int, dur time.Duration, warm int, op func(ctx context.Context, n int) error) (runResult, error) {
	var (
		warmed sync.WaitGroup
		done   sync.WaitGroup
		start  = make(chan struct{})
		lats   = make([][]time.Duration, c)
		errs   = make([]error, c)
	)
	warmed.Add(c)
	done.Add(c)
	var end time.Time
	for w := range c {
		go func() {
			defer done.Done()
			n := w
			for range warm {
				if err := op(ctx, n); err != nil && errs[w] == nil {
					errs[w] = err
				}
				n += c
			}
			warmed.Done()
			<-start
			for time.Now().Before(end) && ctx.Err() == nil {
				t0 := time.Now()
				if err := op(ctx, n); err != nil {
					errs[w] = err
					return
				}
				lats[w] = append(lats[w], time.Since(t0))
				n += c
			}
		}()
	}
	warmed.Wait()
	if err := errors.Join(errs...); err != nil {
		close(start)
		done.Wait()
		return runResult{}, err
	}
	m := startMeasure()
	end = m.t0.Add(dur)
	close(start)
	done.Wait()
	r := m.stop()
	for _, l := range lats {
		r.lat = append(r.lat, l...)
	}
	r.n = len(r.lat)
	r.sortLatencies()
	if err := errors.Join(errs...); err != nil {
		return r, err
	}
	return r, ctx.Err()
}
