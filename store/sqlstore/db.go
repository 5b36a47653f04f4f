package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/tpx-dev/tpx/store"
)

// Reader runs queries.
type Reader interface {
	Query(ctx context.Context, sql string, args ...any) (Rows, error)
	// QueryRow reports errors, including no rows, from Scan.
	QueryRow(ctx context.Context, sql string, args ...any) Row
}

// Querier runs any statement: it is a transaction.
type Querier interface {
	Reader
	// Exec runs a statement and returns the number of rows it changed.
	Exec(ctx context.Context, sql string, args ...any) (int64, error)
}

// Statement is one statement of a batch.
type Statement struct {
	SQL  string
	Args []any
}

// Batcher is a Querier that can send several statements in one round trip. ExecBatch
// runs stmts in order and returns the number of rows each changed, stopping at the first
// error: the statement that failed is stmts[len(changed)].
type Batcher interface {
	ExecBatch(ctx context.Context, stmts []Statement) (changed []int64, err error)
}

// Committer is a transaction that can send its last statements and its COMMIT in one
// round trip. ExecAndCommit runs stmts as Batcher.ExecBatch does and, when all of them
// succeed, commits: nothing may follow in the same transaction. When one fails, the
// transaction is left to roll back.
type Committer interface {
	ExecAndCommit(ctx context.Context, stmts []Statement) (changed []int64, err error)
}

// Rows is the result of Query; Close must be called.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// Row is the result of QueryRow.
type Row interface {
	Scan(dest ...any) error
}

// DB is a backend's handle on its database. It writes only in InTx, so that a backend
// may send plain queries to connections that cannot write.
type DB interface {
	Reader
	// InTx runs fn in a transaction that may write and commits if fn returns nil; else it
	// rolls back and returns fn's error unchanged.
	InTx(ctx context.Context, fn func(tx Querier) error) error
	Ping(ctx context.Context) error
	Close() error
}

// Class sorts driver errors into the kinds the store acts on.
type Class int

const (
	Other       Class = iota // none of the below
	NoRows                   // QueryRow found no row
	Unique                   // a unique or primary key constraint refused a row
	ForeignKey               // a row refers to one that does not exist
	Unavailable              // the database cannot be reached or cannot work right now
	Changes                  // a statement of Dialect.Changes changed another number of rows
	// Refused: the database refused a statement for a reason of no class above (a value
	// it cannot store, a timeout) and rolled its transaction back.
	Refused
	// Conflict: the database rolled the transaction back to end a conflict with a
	// concurrent one (a deadlock, a serialization failure); run again, it can succeed.
	Conflict
)

// Dialect is what differs between backends.
type Dialect struct {
	// Migrations holds the NNNN_words.sql files, applied in order of NNNN.
	Migrations fs.FS
	// MigrationsTable creates schema_migrations (version, name, applied_at) unless it
	// exists; the migrator needs it before any migration has run.
	MigrationsTable string
	// ForUpdate ends a SELECT in a transaction whose rows must stay unchanged until the
	// transaction ends ("" where transactions are serialised anyway).
	ForUpdate string
	// KeyShare ends a SELECT in a transaction whose rows must not be deleted or locked
	// FOR UPDATE until it ends. It writes nothing, and transactions holding the same rows
	// so do not wait for each other. "" where the backend has no such lock.
	KeyShare string
	// NoKeyUpdate is ForUpdate for rows about to be updated in columns no key refers to:
	// it waits for other writers, not for holders of KeyShare.
	NoKeyUpdate string
	// AnyID is a format for a condition that the id expression %[1]s is one of the ids in
	// parameter %[2]s, whose argument IDs makes: one statement and one parameter for any
	// number of ids.
	AnyID string
	IDs   func(ids []int64) any
	// IDVersion is a format for a condition that the version expression %[2]s is the
	// version that parameter %[4]s gives the id expression %[1]s: the one at the place of
	// the id in parameter %[3]s. IDs makes both arguments, ids and their versions in the
	// same order.
	IDVersion string
	// Lateral is whether the backend has LATERAL joins. PostgreSQL's planner, which may
	// hash-join a table it thinks small rather than look rows up by index, then joins
	// each row found to its rows by index; SQLite's joins always do.
	Lateral bool
	// LowerASCII is a format for an expression that lower-cases the text expression %s in
	// ASCII letters only, leaving every other character as it is.
	LowerASCII string
	// Lock takes the lock named key until the end of tx, across every process using the
	// database.
	Lock func(ctx context.Context, tx Querier, key int64) error
	// SettleAudit waits, in tx, until every transaction that wrote audit events has
	// ended, and keeps new ones from writing until tx ends: ids are drawn in one order
	// and committed in another, and the feed must not hand out an event while one with a
	// smaller id is still uncommitted. Nil where writers are serialised already.
	SettleAudit func(ctx context.Context, tx Querier) error
	// WriteAudit takes, in a transaction, the lock that writing audit events takes ("" where
	// writers are serialised already): for a transaction that writes them after locking
	// rows exchanges lock after writing theirs, so that it takes the two in the same order.
	WriteAudit string
	// Unflushed, run first in a transaction, lets its commit return before its writes
	// reach disk ("" where it cannot): for records whose loss in a crash costs nothing
	// but a diagnosis, so that writing them holds up no one waiting on the disk.
	Unflushed string
	// Classify tells what a driver error means.
	Classify func(err error) Class
	// Changes, where the backend is a Committer, rewrites a data-modifying statement
	// ending in RETURNING so that it fails, with an error Classify calls Changes, unless
	// it changed exactly n rows: a transaction that commits in the same round trip as its
	// writes has no later moment to look at their counts and roll back.
	Changes func(sql string, n int) string
}

// Lock keys: what Dialect.Lock serialises.
const (
	lockMigrate    int64 = 0x7470_7801 // "tpx" 1: schema migrations
	lockSigningKey int64 = 0x7470_7802 // "tpx" 2: signing-key rotation
)

// Errors for the driver classes that the store translates itself. They wrap the driver's
// error, so a log line shows the constraint or the code.
var (
	errUnique     = errors.New("unique violation")
	errForeignKey = errors.New("foreign key violation")
	// errChanges: a statement of Dialect.Changes changed another number of rows than it
	// had to; which one, the caller knows from where its batch stopped.
	errChanges = errors.New("unexpected number of rows changed")
	// errRefused: the database refused a statement and rolled its transaction back.
	errRefused = errors.New("refused by the database")
	// errConflict: the database rolled the transaction back to end a conflict with a
	// concurrent one.
	errConflict = errors.New("rolled back to end a conflict with a concurrent transaction")
)

// classify wraps err with the store's meaning of its class; errors already wrapped, and
// errors of no particular class, pass unchanged.
func (s *Store) classify(err error) error {
	if err == nil {
		return nil
	}
	var sentinel error
	switch s.dialect.Classify(err) {
	case NoRows:
		// The driver's message adds nothing to "not found", and callers add the what.
		return store.ErrNotFound
	case Unique:
		sentinel = errUnique
	case ForeignKey:
		sentinel = errForeignKey
	case Changes:
		sentinel = errChanges
	case Refused:
		sentinel = errRefused
	case Conflict:
		sentinel = errConflict
	case Unavailable:
		if errors.Is(err, store.ErrUnavailable) {
			return err
		}
		// The driver's message names hosts and addresses: it goes to the log, not to
		// whoever made the request.
		return store.ErrUnavailable.With(err)
	default:
		return err
	}
	if errors.Is(err, sentinel) {
		return err
	}
	return fmt.Errorf("%w: %w", sentinel, err)
}

// reader runs queries on a Reader and classifies the errors they return.
type reader struct {
	s   *Store
	raw Reader
}

func (r reader) query(ctx context.Context, sql string, args ...any) (rows, error) {
	rs, err := r.raw.Query(ctx, sql, args...)
	if err != nil {
		return rows{}, r.s.classify(err)
	}
	return rows{s: r.s, raw: rs}, nil
}

func (r reader) queryRow(ctx context.Context, sql string, args ...any) row {
	return row{s: r.s, raw: r.raw.QueryRow(ctx, sql, args...)}
}

// q is reader for a transaction, which can also write.
type q struct {
	reader
	w Querier
}

func (q q) exec(ctx context.Context, sql string, args ...any) (int64, error) {
	n, err := q.w.Exec(ctx, sql, args...)
	return n, q.s.classify(err)
}

// execAll runs stmts in order, in one round trip where the backend is a Batcher, and
// returns what Batcher.ExecBatch does.
func (q q) execAll(ctx context.Context, stmts []Statement) ([]int64, error) {
	if b, ok := q.w.(Batcher); ok {
		changed, err := b.ExecBatch(ctx, stmts)
		return changed, q.s.classify(err)
	}
	changed := make([]int64, 0, len(stmts))
	for _, st := range stmts {
		n, err := q.exec(ctx, st.SQL, st.Args...)
		if err != nil {
			return changed, err
		}
		changed = append(changed, n)
	}
	return changed, nil
}

// committer returns q's Committer, and false where the backend has none or Dialect.Changes
// is not set.
func (q q) committer() (Committer, bool) {
	c, ok := q.w.(Committer)
	return c, ok && q.s.dialect.Changes != nil
}

type rows struct {
	s   *Store
	raw Rows
}

func (r rows) Next() bool             { return r.raw.Next() }
func (r rows) Scan(dest ...any) error { return r.s.classify(r.raw.Scan(dest...)) }
func (r rows) Err() error             { return r.s.classify(r.raw.Err()) }
func (r rows) Close()                 { r.raw.Close() }

type row struct {
	s   *Store
	raw Row
}

func (r row) Scan(dest ...any) error { return r.s.classify(r.raw.Scan(dest...)) }

// scanner is a row or the current row of rows.
type scanner interface {
	Scan(dest ...any) error
}

// collect scans every row of a query with scan.
func collect[T any](ctx context.Context, db reader, scan func(scanner) (T, error), sql string, args ...any) ([]T, error) {
	rs, err := db.query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var out []T
	for rs.Next() {
		v, err := scan(rs)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rs.Err()
}

// timeDest scans a time from either backend: PostgreSQL's timestamptz arrives as a
// time.Time, SQLite's unix microseconds as an int64. Times come back in UTC, so that
// values read from the two backends print alike.
type timeDest struct{ t *time.Time }

func (d timeDest) Scan(v any) error {
	switch v := v.(type) {
	case time.Time:
		*d.t = v.UTC()
	case int64:
		*d.t = time.UnixMicro(v).UTC()
	default:
		return fmt.Errorf("cannot scan %T into a time", v)
	}
	return nil
}

// nullTimeDest is timeDest for a column that may be NULL, read as a nil pointer.
type nullTimeDest struct{ t **time.Time }

func (d nullTimeDest) Scan(v any) error {
	if v == nil {
		*d.t = nil
		return nil
	}
	var t time.Time
	if err := (timeDest{&t}).Scan(v); err != nil {
		return err
	}
	*d.t = &t
	return nil
}

// nullString is s as a statement argument, with "" stored as NULL.
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// nullTime is t as a statement argument, with nil stored as NULL.
func nullTime(t *time.Time) any {
	if t == nil {
		return nil
	}
	return *t
}

// nullID is id as a statement argument, with 0 (none) stored as NULL.
func nullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}
