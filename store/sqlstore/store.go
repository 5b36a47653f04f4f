package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tpx-dev/tpx/store"
	"github.com/tpx-dev/tpx/verify"
)

var _ store.Store = (*Store)(nil)

// Store implements store.Store over a backend's DB.
type Store struct {
	db      DB
	dialect Dialect
	// candidates are FindCandidates' statements, for a named project and for every project.
	candidates struct{ named, all, short string }
	// using are the statements that use publishers (uses).
	using usingStatements
	// crowded are repositories lately too crowded for the short candidate read.
	crowded crowded
	// names is the naming rule project keys are written in; set by UseNames before the
	// store is used, PyPI's until then.
	names verify.Names
	// groups are the exchanges waiting to commit together.
	groups groups
	// conflicts counts the transactions run again after the database rolled them back to
	// end a conflict with a concurrent one.
	conflicts atomic.Int64
}

// New returns a Store over db. It does not touch the database.
func New(db DB, d Dialect) *Store {
	s := &Store{db: db, dialect: d}
	s.candidates.named, s.candidates.all = candidateStatements(d)
	s.candidates.short = shortCandidates()
	s.using = s.usingStatements()
	return s
}

// read runs queries outside a transaction.
func (s *Store) read() reader { return reader{s: s, raw: s.db} }

// conflictRuns is how many times in all tx runs a transaction that the database keeps
// rolling back to end conflicts with concurrent ones.
const conflictRuns = 3

// tx runs fn in one write transaction; on error nothing fn did is kept. A transaction the
// database rolled back to end a conflict with a concurrent one (a deadlock, a
// serialization failure) runs again from the start, up to conflictRuns times in all:
// the database let the other go on, so the next run finds it ended or waits for it. fn
// must therefore leave nothing outside the transaction that a second run would repeat.
func (s *Store) tx(ctx context.Context, fn func(tx q) error) error {
	return s.txRuns(ctx, conflictRuns, fn)
}

// txRuns is tx with at most runs runs in all.
func (s *Store) txRuns(ctx context.Context, runs int, fn func(tx q) error) error {
	for run := 1; ; run++ {
		err := s.classify(s.db.InTx(ctx, func(tx Querier) error { return fn(q{reader: reader{s: s, raw: tx}, w: tx}) }))
		if run == runs || !errors.Is(err, errConflict) || ctx.Err() != nil {
			return err
		}
		s.conflicts.Add(1)
	}
}

func (s *Store) Close() error { return s.db.Close() }

func (s *Store) Ping(ctx context.Context) error { return s.classify(s.db.Ping(ctx)) }

type migration struct {
	version int
	name    string
	sql     string
}

// migrations reads the dialect's migration files in order of version.
func (s *Store) migrations() ([]migration, error) {
	names, err := fs.Glob(s.dialect.Migrations, "*.sql")
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, name := range names {
		num, _, ok := strings.Cut(name, "_")
		version, err := strconv.Atoi(num)
		if !ok || err != nil || version <= 0 {
			return nil, fmt.Errorf("migration %s: name it NNNN_words.sql", name)
		}
		b, err := fs.ReadFile(s.dialect.Migrations, name)
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: version, name: strings.TrimSuffix(name, ".sql"), sql: string(b)})
	}
	slices.SortFunc(out, func(a, b migration) int { return a.version - b.version })
	for i := 1; i < len(out); i++ {
		if out[i].version == out[i-1].version {
			return nil, fmt.Errorf("migrations %s and %s share a version", out[i-1].name, out[i].name)
		}
	}
	return out, nil
}

// Migrate applies the migrations not yet applied, all in one transaction: a failure leaves
// the schema as it was, and replicas starting together wait for the first one's lock and
// then find nothing left to do.
func (s *Store) Migrate(ctx context.Context) error {
	all, err := s.migrations()
	if err != nil {
		return err
	}
	return s.tx(ctx, func(tx q) error {
		if err := s.dialect.Lock(ctx, tx.w, lockMigrate); err != nil {
			return s.classify(err)
		}
		if _, err := tx.exec(ctx, s.dialect.MigrationsTable); err != nil {
			return fmt.Errorf("creating schema_migrations: %w", err)
		}
		applied, err := collect(ctx, tx.reader, func(r scanner) (int, error) {
			var v int
			return v, r.Scan(&v)
		}, `SELECT version FROM schema_migrations`)
		if err != nil {
			return err
		}
		for _, m := range all {
			if slices.Contains(applied, m.version) {
				continue
			}
			if _, err := tx.exec(ctx, m.sql); err != nil {
				return fmt.Errorf("migration %s: %w", m.name, err)
			}
			if step := migrationSteps[m.version]; step != nil {
				if err := step(ctx, tx); err != nil {
					return fmt.Errorf("migration %s: %w", m.name, err)
				}
			}
			if _, err := tx.exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
				m.version, m.name, time.Now()); err != nil {
				return fmt.Errorf("recording migration %s: %w", m.name, err)
			}
		}
		return nil
	})
}
