package web_test

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tpx-dev/tpx/exchange"
	"github.com/tpx-dev/tpx/internal/oidctest"
	"github.com/tpx-dev/tpx/internal/secretbox"
	"github.com/tpx-dev/tpx/policy"
	"github.com/tpx-dev/tpx/providers"
	"github.com/tpx-dev/tpx/store"
	"github.com/tpx-dev/tpx/store/sqlite"
	"github.com/tpx-dev/tpx/token"
	"github.com/tpx-dev/tpx/web"
)

// BenchmarkMint measures the exchange route in process, as `tpx serve` wires it (JSON logs
// formatted into io.Discard, metrics): a valid exchange on the embedded SQLite store, and
// the refusal of a token whose key id its issuer never published, the refusal a flood of
// forged tokens causes. go run ./cmd/tpx-bench measures both over HTTP and under load.
func BenchmarkMint(b *testing.B) {
	env := newMintEnv(b, io.Discard)
	b.Run("valid", func(b *testing.B) {
		bodies := env.bodies(b.N, func() string { return env.iss.Sign(env.iss.GitHubClaims(nil)) })
		b.ReportAllocs()
		b.ResetTimer()
		cpu := cpuTime()
		for i := range b.N {
			env.post(b, bodies[i], http.StatusOK)
		}
		reportCPU(b, cpu)
	})
	b.Run("unknown kid", func(b *testing.B) {
		bodies := env.bodies(b.N, func() string {
			sig := make([]byte, 256)
			rand.Read(sig)
			return env.iss.Sign(env.iss.GitHubClaims(nil), oidctest.WithKid(rand.Text()), oidctest.WithSignature(sig))
		})
		b.ReportAllocs()
		b.ResetTimer()
		cpu := cpuTime()
		for i := range b.N {
			env.post(b, bodies[i], http.StatusUnprocessableEntity)
		}
		reportCPU(b, cpu)
	})
}

// cpuTime is the CPU time this process has used, user and system: on a shared machine
// it measures the work, where ns/op measures the wait for a processor too.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports the CPU time per operation since start.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N)/1e3, "cpu-µs/op")
}

type mintEnv struct {
	iss     *oidctest.Issuer
	handler http.Handler
}

// newMintEnv serves the exchange as tpx serve wires it, logging JSON lines to logs.
func newMintEnv(b testing.TB, logs io.Writer) *mintEnv { return newMintEnvWith(b, logs, web.Config{}) }

// newMintEnvWith is newMintEnv with the limits of extra (RateLimit, Refused).
func newMintEnvWith(b testing.TB, logs io.Writer, extra web.Config) *mintEnv {
	ctx := context.Background()
	iss := oidctest.New(b)
	st, err := sqlite.Open(ctx, b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
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
	log := slog.New(web.LogHandler(slog.NewJSONHandler(logs, nil)))
	var metrics *web.Metrics
	set, err := providers.New(providers.Config{Audience: "tpx", Issuers: []providers.IssuerConfig{{Kind: policy.GitHub, Issuer: iss.URL()}}, Logger: log,
		OnFetch: func(issuer string, err error) { metrics.KeyFetched(issuer, err) }})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(set.Close)
	metrics = web.NewMetrics(web.MetricsConfig{Issuers: set.Issuers(), KeyStatus: set.KeyStatus})
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
	env := &mintEnv{iss: iss, handler: web.New(web.Config{Exchange: ex, Minter: minter, Store: st, Audience: "tpx", Logger: log, Metrics: metrics,
		RateLimit: extra.RateLimit, Refused: extra.Refused})}
	// The first exchange fetches the issuer's keys.
	env.post(b, env.bodies(1, func() string { return iss.Sign(iss.GitHubClaims(nil)) })[0], http.StatusOK)
	return env
}

// bodies are n exchange request bodies of tokens from sign, signed on every core: an RSA
// signature costs more than the request being measured.
func (e *mintEnv) bodies(n int, sign func() string) []string {
	out := make([]string, n)
	var wg sync.WaitGroup
	workers := runtime.GOMAXPROCS(0)
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				out[i] = `{"token":"` + sign() + `"}`
			}
		})
	}
	wg.Wait()
	return out
}

func (e *mintEnv) post(b testing.TB, body string, want int) {
	b.Helper()
	req := httptest.NewRequest(http.MethodPost, "/_/oidc/mint-token", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	e.handler.ServeHTTP(rec, req)
	if want != 0 && rec.Code != want {
		b.Fatalf("status %d, want %d: %s", rec.Code, want, rec.Body)
	}
}
