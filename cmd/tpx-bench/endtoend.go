package main

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/tpx-dev/tpx/store/sqlite"
)

// level is one concurrency of an end-to-end run.
type level struct {
	c         int
	run       runResult // the exchanges, measured by the client
	allocs    float64   // server allocations per exchange
	floor     runResult // PostgreSQL only: the raw transaction in one round trip
	floorStep runResult // PostgreSQL only: the raw transaction statement by statement
}

// backendRun is the end-to-end runs of one store.
type backendRun struct {
	name    string
	levels  []level
	peakRSS uint64 // the server's VmHWM, bytes
}

// endToEnd drives srv at every concurrency with fresh tokens; floor, if not nil, measures
// the raw-transaction floors of each concurrency first.
func (b *bench) endToEnd(ctx context.Context, name string, srv *server, floor func(c int) (runResult, runResult, error)) (backendRun, error) {
	s := b.sizes
	out := backendRun{name: name}
	if err := errRun(name+" warm-up", httpLoad(ctx, srv.url, b.tokens[:s.warmup], 8, http.StatusOK)); err != nil {
		return out, err
	}
	next := s.warmup
	for _, c := range s.levels {
		l := level{c: c}
		if floor != nil {
			var err error
			if l.floor, l.floorStep, err = floor(c); err != nil {
				return out, fmt.Errorf("raw-transaction floor at concurrency %d: %w", c, err)
			}
		}
		before, err := srv.stats()
		if err != nil {
			return out, err
		}
		n := s.perLevel[c]
		l.run = httpLoad(ctx, srv.url, b.tokens[next:next+n], c, http.StatusOK)
		next += n
		after, err := srv.stats()
		if err != nil {
			return out, err
		}
		if err := errRun(fmt.Sprintf("%s at concurrency %d", name, c), l.run); err != nil {
			return out, err
		}
		l.allocs = float64(after.Mallocs-before.Mallocs) / float64(l.run.n)
		msg := fmt.Sprintf("  %s c=%d: %.0f exchanges/s, p50 %v, p99 %v, %.0f allocations each",
			name, c, l.run.rate(), l.run.p50().Round(time.Microsecond), l.run.p99().Round(time.Microsecond), l.allocs)
		if floor != nil {
			msg += fmt.Sprintf("; floor %.0f tx/s in one round trip, %.0f statement by statement", l.floor.rate(), l.floorStep.rate())
		}
		b.say("%s", msg)
		out.levels = append(out.levels, l)
	}
	st, err := srv.stats()
	out.peakRSS = st.HWMKB << 10
	return out, err
}

func (b *bench) endToEndPostgres(ctx context.Context) error {
	b.say("end to end over HTTP, PostgreSQL")
	if err := b.db.resetReplay(ctx); err != nil {
		return err
	}
	targets, err := b.db.floorTargets(ctx, "bench-org")
	if err != nil {
		return err
	}
	srv, err := b.startServer(ctx, "server-postgres", "-postgres", b.db.url)
	if err != nil {
		return err
	}
	defer srv.stop()
	floor := func(c int) (runResult, runResult, error) {
		batch, err := b.db.floor(ctx, b.iss.URL(), targets, c, b.sizes.floorFor, true)
		if err != nil {
			return batch, runResult{}, err
		}
		steps, err := b.db.floor(ctx, b.iss.URL(), targets, c, b.sizes.floorFor, false)
		return batch, steps, err
	}
	b.res.postgres, err = b.endToEnd(ctx, "PostgreSQL", srv, floor)
	return err
}

func (b *bench) endToEndSQLite(ctx context.Context) error {
	b.say("end to end over HTTP, embedded SQLite")
	dir, cleanup, err := tempDir()
	if err != nil {
		return err
	}
	defer cleanup()
	if err := seedSQLite(ctx, dir, b.baseSpec()); err != nil {
		return fmt.Errorf("seeding SQLite: %w", err)
	}
	srv, err := b.startServer(ctx, "server-sqlite", "-dir", dir)
	if err != nil {
		return err
	}
	defer srv.stop()
	b.res.sqlite, err = b.endToEnd(ctx, "SQLite", srv, nil)
	return err
}

// seedSQLite creates and migrates the store in dir and writes the spec's projects and
// publishers in one transaction (SQLite has no COPY; one transaction of prepared inserts
// is its fast path).
func seedSQLite(ctx context.Context, dir string, s seedSpec) error {
	st, err := sqlite.Open(ctx, dir)
	if err != nil {
		return err
	}
	err = st.Migrate(ctx)
	st.Close()
	if err != nil {
		return err
	}
	path, err := filepath.Abs(filepath.Join(dir, sqlite.FileName))
	if err != nil {
		return err
	}
	db, err := sql.Open("sqlite", (&url.URL{Scheme: "file", Path: filepath.ToSlash(path)}).String()+"?_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)")
	if err != nil {
		return err
	}
	defer db.Close()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	insert := func(table string, columns []string) string {
		return "INSERT INTO " + table + " (" + strings.Join(columns, ", ") + ") VALUES (?" + strings.Repeat(", ?", len(columns)-1) + ")"
	}
	projects, err := tx.PrepareContext(ctx, insert("projects", projectColumns))
	if err != nil {
		return err
	}
	publishers, err := tx.PrepareContext(ctx, insert("publishers", publisherColumns))
	if err != nil {
		return err
	}
	now := time.Now().UnixMicro()
	for r := range s.rows(0, 0) {
		if _, err := projects.ExecContext(ctx, r.projectValues(now)...); err != nil {
			return err
		}
		if _, err := publishers.ExecContext(ctx, s.publisherValues(r, now)...); err != nil {
			return err
		}
	}
	return tx.Commit()
}
