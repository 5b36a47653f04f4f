package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/puddle/v2"

	"github.com/tpx-dev/tpx/migrations"
	"github.com/tpx-dev/tpx/store/sqlstore"
)

// Store is the store.Store that Open returns.
type Store = sqlstore.Store

// Open returns a store on the PostgreSQL database at url (postgres://…; pgxpool's
// pool_max_conns and the like may be added to it). It connects lazily, so a database
// that is down at start shows as an unavailable store rather than a failed start; it does
// not migrate.
func Open(ctx context.Context, url string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx's message may quote the URL, password included.
		return nil, errors.New("postgres: the database URL is not valid; expected postgres://user:password@host:port/database?options")
	}
	// Statements are prepared once per connection (pgx's statement cache) and are of fixed
	// shapes. Left to choose, PostgreSQL kept planning the exchange's candidate read again
	// on most executions, judging its generic plan dearer than the custom ones: with 2,000
	// publishers naming the repository, at a load average of 10, 24.8 ms per read planned
	// each time against 1.9–2.4 ms with the plan kept. A plan is made again when its tables'
	// statistics change. A URL that sets plan_cache_mode keeps its own.
	if _, ok := cfg.ConnConfig.RuntimeParams["plan_cache_mode"]; !ok {
		cfg.ConnConfig.RuntimeParams["plan_cache_mode"] = "force_generic_plan"
	}
	// tpx's tables are read by index, their working set in memory: PostgreSQL's default
	// cost of a page read at random (4, a disk's) made it scan a small table once per row
	// of a loop instead of looking each up, in the candidate read with a hundred strangers'
	// publishers. A URL that sets random_page_cost keeps its own.
	if _, ok := cfg.ConnConfig.RuntimeParams["random_page_cost"]; !ok {
		cfg.ConnConfig.RuntimeParams["random_page_cost"] = "1.1"
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	d, err := dialect()
	if err != nil {
		pool.Close()
		return nil, err
	}
	return sqlstore.New(db{pool}, d), nil
}

// dialect is how the store speaks to PostgreSQL.
func dialect() (sqlstore.Dialect, error) {
	fsys, err := fs.Sub(migrations.Postgres, "postgres")
	if err != nil {
		return sqlstore.Dialect{}, err
	}
	return sqlstore.Dialect{
		Migrations: fsys,
		MigrationsTable: `CREATE TABLE IF NOT EXISTS schema_migrations (
			version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL)`,
		ForUpdate:   " FOR UPDATE",
		KeyShare:    " FOR KEY SHARE",
		NoKeyUpdate: " FOR NO KEY UPDATE",
		AnyID:       `%[1]s = ANY(CAST(%[2]s AS bigint[]))`,
		IDs:         func(ids []int64) any { return ids },
		IDVersion:   `%[2]s = (CAST(%[4]s AS bigint[]))[array_position(CAST(%[3]s AS bigint[]), %[1]s)]`,
		Lateral:     true,
		Unflushed:   `SET LOCAL synchronous_commit = off`,
		// Under the C collation lower() folds ASCII letters only.
		LowerASCII: `lower(%s COLLATE "C")`,
		Lock: func(ctx context.Context, tx sqlstore.Querier, key int64) error {
			_, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, key)
			return err
		},
		// SHARE conflicts with the ROW EXCLUSIVE lock every INSERT takes before it draws
		// an id: the reader waits for the writers in flight, new writers wait for the
		// reader (a few milliseconds), and no transaction holds an undrawn gap meanwhile.
		SettleAudit: func(ctx context.Context, tx sqlstore.Querier) error {
			if _, err := tx.Exec(ctx, `SET LOCAL lock_timeout = '5s'`); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `LOCK TABLE audit_events IN SHARE MODE`)
			return err
		},
		WriteAudit: `LOCK TABLE audit_events IN ROW EXCLUSIVE MODE`,
		Classify:   classify,
		Changes: func(sql string, n int) string {
			// A divisor of zero is the one error plain SQL can raise on a condition. The
			// divisor depends on the rows, so the planner cannot fold it away.
			return `WITH changed AS (` + sql + `) SELECT 1 / (CASE WHEN count(*) = ` + strconv.Itoa(n) + ` THEN 1 ELSE 0 END) FROM changed`
		},
	}, nil
}

// querier is what a pgxpool.Pool and a pgx.Tx have in common.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// conn adapts a querier to sqlstore.Querier.
type conn struct{ q querier }

func (c conn) Exec(ctx context.Context, sql string, args ...any) (int64, error) {
	tag, err := c.q.Exec(ctx, sql, args...)
	return tag.RowsAffected(), err
}

func (c conn) Query(ctx context.Context, sql string, args ...any) (sqlstore.Rows, error) {
	return c.q.Query(ctx, sql, args...)
}

func (c conn) QueryRow(ctx context.Context, sql string, args ...any) sqlstore.Row {
	return c.q.QueryRow(ctx, sql, args...)
}

// ExecBatch makes conn a sqlstore.Batcher: the statements go out as one pgx batch, in one
// round trip.
func (c conn) ExecBatch(ctx context.Context, stmts []sqlstore.Statement) ([]int64, error) {
	var b pgx.Batch
	for _, s := range stmts {
		b.Queue(s.SQL, s.Args...)
	}
	res := c.q.SendBatch(ctx, &b)
	changed := make([]int64, 0, len(stmts))
	for range stmts {
		tag, err := res.Exec()
		if err != nil {
			res.Close()
			return changed, err
		}
		changed = append(changed, tag.RowsAffected())
	}
	return changed, res.Close()
}

type db struct{ pool *pgxpool.Pool }

func (d db) Query(ctx context.Context, sql string, args ...any) (sqlstore.Rows, error) {
	return conn{d.pool}.Query(ctx, sql, args...)
}

func (d db) QueryRow(ctx context.Context, sql string, args ...any) sqlstore.Row {
	return conn{d.pool}.QueryRow(ctx, sql, args...)
}

func (d db) InTx(ctx context.Context, fn func(tx sqlstore.Querier) error) error {
	return inTx(ctx, d.pool, fn)
}

func (d db) Ping(ctx context.Context) error { return d.pool.Ping(ctx) }

func (d db) Close() error {
	d.pool.Close()
	return nil
}

// SQLSTATE codes and classes; see the PostgreSQL manual, appendix A.
const (
	uniqueViolation     = "23505"
	foreignKeyViolation = "23503"
	divisionByZero      = "22012" // Dialect.Changes's failure
	deadlockDetected    = "40P01"
	serializationFailed = "40001"
)

func classify(err error) sqlstore.Class {
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return sqlstore.NoRows
	case errors.Is(err, context.Canceled):
		// The caller gave up; the database may be fine.
		return sqlstore.Other
	case errors.Is(err, puddle.ErrClosedPool):
		return sqlstore.Unavailable
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == uniqueViolation:
			return sqlstore.Unique
		case pe.Code == foreignKeyViolation:
			return sqlstore.ForeignKey
		case pe.Code == divisionByZero:
			return sqlstore.Changes
		case pe.Code == deadlockDetected, pe.Code == serializationFailed:
			return sqlstore.Conflict
		case strings.HasPrefix(pe.Code, "08"), // connection exception
			strings.HasPrefix(pe.Code, "53"),  // insufficient resources: disk full, too many connections
			strings.HasPrefix(pe.Code, "57P"), // shutting down, starting up
			pe.Code == "25006":                // read-only transaction: a standby after failover
			return sqlstore.Unavailable
		case pe.Severity == "ERROR":
			// An ERROR ends the statement and aborts its transaction; FATAL and PANIC
			// end the session, and are not the statement's doing.
			return sqlstore.Refused
		}
		return sqlstore.Other
	}
	var (
		ce *pgconn.ConnectError
		ne net.Error
	)
	if errors.As(err, &ce) || errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		pgconn.SafeToRetry(err) {
		return sqlstore.Unavailable
	}
	return sqlstore.Other
}
