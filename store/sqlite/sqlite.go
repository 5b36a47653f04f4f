package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"

	moderncsqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/tpx-dev/tpx/migrations"
	"github.com/tpx-dev/tpx/store/sqlstore"
)

// Store is the store.Store that Open returns.
type Store = sqlstore.Store

// FileName is the database file inside the data directory.
const FileName = "tpx.db"

// Connection settings. busy_timeout is how long a connection waits for another process's
// write lock. Times are bound as unix microseconds, the schema's time format.
// synchronous stays FULL (the default): an exchange is acknowledged only once its replay
// record is on disk, even across a power cut.
const (
	common = "_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_time_integer_format=unix_micro"
	writer = common + "&_pragma=journal_mode(WAL)&_txlock=immediate"
	reader = common + "&_query_only=1"
)

// Open opens (creating it if needed) the database in dir. It does not migrate.
func Open(ctx context.Context, dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("sqlite: creating the data directory: %w", err)
	}
	path, err := filepath.Abs(filepath.Join(dir, FileName))
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	// A file: URI, so that SQLite unescapes the path and any character may appear in it.
	name := (&url.URL{Scheme: "file", Path: filepath.ToSlash(path)}).String()

	w, err := sql.Open("sqlite", name+"?"+writer)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	w.SetMaxOpenConns(1)
	// The writer connects first: it creates the file and switches it to WAL, which read-only
	// connections could not do.
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: opening %s: %w", path, err)
	}
	r, err := sql.Open("sqlite", name+"?"+reader)
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	readers := max(4, runtime.GOMAXPROCS(0))
	r.SetMaxOpenConns(readers)
	r.SetMaxIdleConns(readers)

	fsys, err := fs.Sub(migrations.SQLite, "sqlite")
	if err != nil {
		w.Close()
		r.Close()
		return nil, err
	}
	return sqlstore.New(&db{writer: w, reader: r}, sqlstore.Dialect{
		Migrations: fsys,
		MigrationsTable: `CREATE TABLE IF NOT EXISTS schema_migrations (
			version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT`,
		// Write transactions hold SQLite's one write lock from BEGIN IMMEDIATE to the end:
		// they are serialised already, so neither row nor named locks are needed.
		ForUpdate: "",
		AnyID:     `%[1]s IN (SELECT value FROM json_each(%[2]s))`,
		IDs: func(ids []int64) any {
			b, _ := json.Marshal(ids) // a list of numbers always encodes
			return string(b)
		},
		IDVersion: `%[2]s = json_extract(%[4]s, '$[' || (SELECT i.key FROM json_each(%[3]s) i WHERE i.value = %[1]s) || ']')`,
		// SQLite's lower() folds ASCII letters only.
		LowerASCII: "lower(%s)",
		Lock:       func(context.Context, sqlstore.Querier, int64) error { return nil },
		Classify:   classify,
	}), nil
}

// errClosed is returned once the store is closed; database/sql's own error for this is
// not exported, and a closed store is an unavailable one.
var errClosed = errors.New("sqlite: store closed")

type db struct {
	writer, reader *sql.DB
	closed         atomic.Bool
}

type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// conn adapts a *sql.DB or *sql.Tx to sqlstore.Querier.
type conn struct {
	q      querier
	closed *atomic.Bool
}

func (c conn) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	if c.closed.Load() {
		return 0, errClosed
	}
	res, err := c.q.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (c conn) Query(ctx context.Context, query string, args ...any) (sqlstore.Rows, error) {
	if c.closed.Load() {
		return nil, errClosed
	}
	rs, err := c.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return rows{rs}, nil
}

func (c conn) QueryRow(ctx context.Context, query string, args ...any) sqlstore.Row {
	if c.closed.Load() {
		return errRow{errClosed}
	}
	return c.q.QueryRowContext(ctx, query, args...)
}

type rows struct{ *sql.Rows }

// Close drops the error of closing: sqlstore reads Err, which reports what went wrong.
func (r rows) Close() { r.Rows.Close() }

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

func (d *db) Query(ctx context.Context, query string, args ...any) (sqlstore.Rows, error) {
	return conn{d.reader, &d.closed}.Query(ctx, query, args...)
}

func (d *db) QueryRow(ctx context.Context, query string, args ...any) sqlstore.Row {
	return conn{d.reader, &d.closed}.QueryRow(ctx, query, args...)
}

func (d *db) InTx(ctx context.Context, fn func(tx sqlstore.Querier) error) error {
	if d.closed.Load() {
		return errClosed
	}
	tx, err := d.writer.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(conn{tx, &d.closed}); err != nil {
		tx.Rollback()
		return ended(ctx, err)
	}
	return ended(ctx, tx.Commit())
}

// ended is err, or the end of ctx when err is sql.ErrTxDone after it: database/sql rolls
// back a transaction whose context has ended and answers its next statement or Commit so,
// and what ended it is the context.
func ended(ctx context.Context, err error) error {
	if errors.Is(err, sql.ErrTxDone) && ctx.Err() != nil {
		return fmt.Errorf("%w (%w)", ctx.Err(), err)
	}
	return err
}

func (d *db) Ping(ctx context.Context) error {
	if d.closed.Load() {
		return errClosed
	}
	if err := d.reader.PingContext(ctx); err != nil {
		return err
	}
	return d.writer.PingContext(ctx)
}

func (d *db) Close() error {
	if d.closed.Swap(true) {
		return nil
	}
	return errors.Join(d.reader.Close(), d.writer.Close())
}

func classify(err error) sqlstore.Class {
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return sqlstore.NoRows
	case errors.Is(err, errClosed), errors.Is(err, sql.ErrConnDone):
		return sqlstore.Unavailable
	}
	var e *moderncsqlite.Error
	if !errors.As(err, &e) {
		return sqlstore.Other
	}
	switch e.Code() {
	case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		return sqlstore.Unique
	case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
		return sqlstore.ForeignKey
	}
	// Extended codes carry the primary code in their low byte.
	switch e.Code() & 0xff {
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_IOERR,
		sqlite3.SQLITE_FULL, sqlite3.SQLITE_READONLY:
		return sqlstore.Unavailable
	}
	return sqlstore.Other
}
