package exchange_test

import (
	"context"
	"crypto/rand"
	"log/slog"
	"net/url"
	"os"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tpx-dev/tpx/exchange"
	"github.com/tpx-dev/tpx/internal/oidctest"
	"github.com/tpx-dev/tpx/internal/secretbox"
	"github.com/tpx-dev/tpx/policy"
	"github.com/tpx-dev/tpx/providers"
	"github.com/tpx-dev/tpx/store"
	"github.com/tpx-dev/tpx/store/postgres"
	"github.com/tpx-dev/tpx/store/sqlite"
	"github.com/tpx-dev/tpx/token"
)

// BenchmarkExchange measures one whole exchange in process: verification of a real RS256
// token, publisher lookup and matching, the ES256 upload token and the durable commit, on
// the embedded SQLite store and, when TPX_TEST_DATABASE_URL is set, on PostgreSQL.
// go run ./cmd/tpx-bench measures it under load and over HTTP too.
func BenchmarkExchange(b *testing.B) {
	b.Run("SQLite", func(b *testing.B) {
		st, err := sqlite.Open(b.Context(), b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		benchmarkExchange(b, st)
	})
	b.Run("PostgreSQL", func(b *testing.B) {
		base := os.Getenv("TPX_TEST_DATABASE_URL")
		if base == "" {
			b.Skip("TPX_TEST_DATABASE_URL is not set")
		}
		benchmarkExchange(b, openPostgres(b, base))
	})
}

// openPostgres opens a store on a database of the benchmark's own, created from base and
// dropped at the end.
func openPostgres(b *testing.B, base string) store.Store {
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		b.Fatal(err)
	}
	name := "tpx_bench_" + strings.ToLower(rand.Text()[:12])
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		admin.Close(ctx)
	})
	u, err := url.Parse(base)
	if err != nil {
		b.Fatal(err)
	}
	u.Path = "/" + name
	st, err := postgres.Open(ctx, u.String())
	if err != nil {
		b.Fatal(err)
	}
	return st
}

func benchmarkExchange(b *testing.B, st store.Store) {
	ctx := b.Context()
	iss := oidctest.New(b)
	b.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	u, err := st.CreateUser(ctx, store.User{Name: "alice", Email: "alice@example.org", PasswordHash: "-", CreatedAt: now})
	if err != nil {
		b.Fatal(err)
	}
	p, err := st.CreateProject(ctx, "sampleproject", u.ID, now)
	if err != nil {
		b.Fatal(err)
	}
	rules := policy.Publisher{Kind: policy.GitHub, Issuer: iss.URL(), Owner: "octo-org", Name: "octo-repo", Workflow: "release.yml",
		Environment: "prod", OwnerID: "65", RepositoryID: "74"}
	if _, err := st.AddPublisher(ctx, store.Publisher{Publisher: rules, ProjectID: p.ID, CreatedBy: u.ID, CreatedAt: now}); err != nil {
		b.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	set, err := providers.New(providers.Config{Audience: "tpx", Issuers: []providers.IssuerConfig{{Kind: policy.GitHub, Issuer: iss.URL()}}, Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(set.Close)
	box, err := secretbox.New(strings.Repeat("k", 32))
	if err != nil {
		b.Fatal(err)
	}
	minter, err := token.NewMinter(ctx, token.MinterConfig{Issuer: "https://tpx.example.org", Keys: st, Box: box, Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	ex, err := exchange.New(exchange.Config{Verifier: set, Store: st, Minter: minter, Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	tokens := signTokens(iss, b.N+1)
	if _, err := ex.Exchange(ctx, tokens[b.N]); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	cpu := ru.Utime.Nano() + ru.Stime.Nano()
	for i := range b.N {
		if _, err := ex.Exchange(ctx, tokens[i]); err != nil {
			b.Fatal(err)
		}
	}
	// CPU time of this process, not PostgreSQL's: on a shared machine it measures the
	// exchange's own work, where ns/op measures the wait for a processor too.
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	b.ReportMetric(float64(ru.Utime.Nano()+ru.Stime.Nano()-cpu)/float64(b.N)/1e3, "cpu-µs/op")
}

// signTokens signs n GitHub tokens, each with a jti of its own, on every core: an RSA
// signature costs more than the exchange being measured.
func signTokens(iss *oidctest.Issuer, n int) []string {
	out := make([]string, n)
	var wg sync.WaitGroup
	workers := runtime.GOMAXPROCS(0)
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				out[i] = iss.Sign(iss.GitHubClaims(nil))
			}
		})
	}
	wg.Wait()
	return out
}
