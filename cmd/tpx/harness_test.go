package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"github.com/tpx-dev/tpx/account"
	"github.com/tpx-dev/tpx/internal/oidctest"
	"github.com/tpx-dev/tpx/internal/sqlitetest"
	"github.com/tpx-dev/tpx/policy"
	"github.com/tpx-dev/tpx/providers"
	"github.com/tpx-dev/tpx/store"
	"github.com/tpx-dev/tpx/store/postgres"
	"github.com/tpx-dev/tpx/store/sqlite"
	"github.com/tpx-dev/tpx/web"
)

// backend opens a fresh, migrated store and a plain SQL handle on the same data, so tests
// can check that a refused exchange changed nothing.
type backend struct {
	name string
	open func(t *testing.T) (store.Store, *sql.DB)
}

// backends lists SQLite always and PostgreSQL when TPX_TEST_DATABASE_URL is set.
func backends() []backend {
	b := []backend{{"SQLite", openSQLite}}
	if os.Getenv("TPX_TEST_DATABASE_URL") != "" {
		b = append(b, backend{"Postgres", openPostgres})
	}
	return b
}

// forEachBackend runs f once per backend, as subtests named after the backend. Without
// TPX_TEST_DATABASE_URL the PostgreSQL run is reported as skipped, so CI can refuse that.
func forEachBackend(t *testing.T, f func(t *testing.T, b backend)) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) { f(t, b) })
	}
	if os.Getenv("TPX_TEST_DATABASE_URL") == "" {
		t.Run("Postgres", func(t *testing.T) { t.Skip("TPX_TEST_DATABASE_URL is not set") })
	}
}

func openSQLite(t *testing.T) (store.Store, *sql.DB) {
	dir := sqlitetest.Dir(t)
	st, err := sqlite.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "tpx.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return st, db
}

// openPostgres creates a database of the test's own from TPX_TEST_DATABASE_URL and drops
// it when the test ends.
func openPostgres(t *testing.T) (store.Store, *sql.DB) {
	ctx := context.Background()
	base := os.Getenv("TPX_TEST_DATABASE_URL")
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connecting to TPX_TEST_DATABASE_URL: %v", err)
	}
	name := "tpx_e2e_" + strings.ToLower(rand.Text()[:12])
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	st, err := postgres.Open(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("pgx", u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		db.Close()
		st.Close()
		admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		admin.Close(ctx)
	})
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return st, db
}

// harness is a running tpx over real HTTP, with three test issuers: GitHub-shaped (gh),
// gitlab.com-shaped (gl) and a self-managed GitLab (self). alice owns sampleproject and
// has TOTP.
type harness struct {
	t        *testing.T
	gh, gl   *oidctest.Issuer
	self     *oidctest.Issuer
	store    store.Store
	db       *sql.DB
	accounts *account.Service
	svc      *service
	url      string
	log      *bytes.Buffer
	logw     *lockedWriter // writes to log; hold its lock to read log while serving
}

func newHarness(t *testing.T, b backend) *harness {
	t.Helper()
	gh, gl, self := oidctest.New(t), oidctest.New(t), oidctest.New(t)
	h := serviceHarness(t, b, []*oidctest.Issuer{gh}, func(c *Config) {
		c.Providers = append(c.Providers,
			providers.IssuerConfig{Kind: policy.GitLab, Issuer: gl.URL()},
			providers.IssuerConfig{Kind: policy.GitLab, Issuer: self.URL()})
	}, func(c *providers.Config) { c.Cooldown = 200 * time.Millisecond; c.Refresh = time.Hour }, nil)
	h.gl, h.self = gl, self
	return h
}

// serviceHarness is a harness of the exchange over real HTTP with GitHub issuers, built
// with the configuration edit leaves, its key caches tuned by keys and its store wrapped
// by wrap (each may be nil): what newHarness and the fault and operations tests share.
func serviceHarness(t *testing.T, b backend, issuers []*oidctest.Issuer, edit func(*Config), keys func(*providers.Config), wrap func(store.Store) store.Store) *harness {
	t.Helper()
	h := &harness{t: t, gh: issuers[0], log: &bytes.Buffer{}}
	h.store, h.db = b.open(t)
	srv := httptest.NewUnstartedServer(nil)
	h.url = "http://" + srv.Listener.Addr().String()
	cfg := Config{Addr: srv.Listener.Addr().String(), PublicURL: h.url, Audience: "tpx", TokenTTL: 15 * time.Minute,
		SecretKey: strings.Repeat("k", 32), ExchangeRetention: 400 * 24 * time.Hour}
	for _, iss := range issuers {
		cfg.Providers = append(cfg.Providers, providers.IssuerConfig{Kind: policy.GitHub, Issuer: iss.URL()})
	}
	if edit != nil {
		edit(&cfg)
	}
	st := h.store
	if wrap != nil {
		st = wrap(st)
	}
	h.logw = &lockedWriter{w: h.log}
	log := slog.New(slog.NewTextHandler(h.logw, &slog.HandlerOptions{Level: slog.LevelDebug}))
	svc, err := build(context.Background(), cfg, wiring{store: st, log: log, client: providers.HardenedClient(nil), keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.set.Close)
	h.svc = svc
	srv.Config.Handler = svc.handler
	srv.Config.ConnContext = web.ConnContext // as serve wires it
	srv.Start()
	t.Cleanup(srv.Close)
	h.accounts = account.New(account.Config{Store: h.store, Box: svc.box, Logger: log, Issuers: cfg.Providers})
	h.user("alice", true)
	if _, err := h.accounts.CreateProject(context.Background(), account.ViaOperator, "sampleproject", "alice"); err != nil {
		t.Fatal(err)
	}
	return h
}

// user creates a user, with TOTP when withTOTP.
func (h *harness) user(name string, withTOTP bool) {
	h.t.Helper()
	ctx := context.Background()
	if _, err := h.accounts.CreateUser(ctx, name, name+"@example.org", "correct horse battery staple"); err != nil {
		h.t.Fatal(err)
	}
	if withTOTP {
		if _, err := h.accounts.EnrollTOTP(ctx, account.ViaOperator, name); err != nil {
			h.t.Fatal(err)
		}
	}
}

// github registers a GitHub publisher for octo-org/octo-repo, workflow release.yml, on
// project (created for alice if missing); edit changes it first.
func (h *harness) github(project string, edit func(*policy.Publisher)) store.Publisher {
	h.t.Helper()
	p := policy.Publisher{Kind: policy.GitHub, Issuer: h.gh.URL(), Owner: "octo-org", Name: "octo-repo", Workflow: "release.yml"}
	if edit != nil {
		edit(&p)
	}
	return h.addPublisher(project, p)
}

// gitlab registers a GitLab publisher for my-group/my-project, .gitlab-ci.yml, on the
// gitlab.com-shaped issuer.
func (h *harness) gitlab(project string, edit func(*policy.Publisher)) store.Publisher {
	h.t.Helper()
	p := policy.Publisher{Kind: policy.GitLab, Issuer: h.gl.URL(), Owner: "my-group", Name: "my-project", Workflow: ".gitlab-ci.yml"}
	if edit != nil {
		edit(&p)
	}
	return h.addPublisher(project, p)
}

func (h *harness) addPublisher(project string, p policy.Publisher) store.Publisher {
	h.t.Helper()
	ctx := context.Background()
	if _, err := h.store.ProjectByName(ctx, project); err != nil {
		if _, err := h.accounts.CreateProject(ctx, account.ViaOperator, project, "alice"); err != nil {
			h.t.Fatal(err)
		}
	}
	sp, err := h.accounts.AddPublisher(ctx, account.Actor{UserName: "alice", Via: account.ViaOperator}, project, p)
	if err != nil {
		h.t.Fatal(err)
	}
	return sp
}

// reply is what the exchange route answered.
type reply struct {
	Status  int
	Success bool   `json:"success"`
	Token   string `json:"token"`
	Expires int64  `json:"expires"`
	Message string `json:"message"`
	Errors  []struct {
		Code        string `json:"code"`
		Description string `json:"description"`
	} `json:"errors"`
	RequestID string `json:"request_id"`
	raw       []byte
}

func (r reply) code() string {
	if len(r.Errors) != 1 {
		return fmt.Sprintf("<%d errors>", len(r.Errors))
	}
	return r.Errors[0].Code
}

// post sends body to the exchange route as is.
func (h *harness) post(t testing.TB, body []byte) reply {
	t.Helper()
	resp, err := http.Post(h.url+"/_/oidc/mint-token", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := reply{Status: resp.StatusCode, raw: raw}
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Errorf("reply %d is not JSON: %q", resp.StatusCode, raw)
	}
	return r
}

// exchange posts a CI token.
func (h *harness) exchange(t testing.TB, tok string) reply {
	t.Helper()
	body, err := json.Marshal(map[string]string{"token": tok})
	if err != nil {
		t.Fatal(err)
	}
	return h.post(t, body)
}

// snapshot is every row count of the store, and the publishers with their pins and last
// use: what a refused exchange must leave as it was.
func (h *harness) snapshot(t testing.TB) string {
	t.Helper()
	h.svc.ex.Wait() // owners' notices of earlier exchanges are written after their replies
	var b strings.Builder
	for _, table := range []string{"users", "projects", "project_owners", "publishers", "pending_publishers", "exchanges", "audit_events", "signing_keys"} {
		var n int
		if err := h.db.QueryRow("SELECT count(*) FROM " + table).Scan(&n); err != nil {
			t.Fatalf("counting %s: %v", table, err)
		}
		fmt.Fprintf(&b, "%s=%d ", table, n)
	}
	pubs, err := h.store.ListPublishers(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pubs {
		fmt.Fprintf(&b, "\npublisher %d %s/%s used=%v", p.ID, p.OwnerID, p.RepositoryID, p.LastUsedAt != nil)
	}
	return b.String()
}

// refused asserts that send was refused with status and code, in the JSON error shape,
// with no token and no change to stored data.
func (h *harness) refused(t testing.TB, status int, code string, send func() reply) reply {
	t.Helper()
	before := h.snapshot(t)
	r := send()
	if r.Status != status || r.code() != code || r.Success || r.Token != "" || r.Message != "Token request failed" || r.RequestID == "" {
		t.Fatalf("want %d %s in the error shape, got %d %s", status, code, r.Status, r.raw)
	}
	if after := h.snapshot(t); after != before {
		t.Fatalf("a refused exchange changed stored data:\nbefore %s\nafter  %s", before, after)
	}
	return r
}

// accepted asserts a successful exchange and returns its reply.
func (h *harness) accepted(t testing.TB, send func() reply) reply {
	t.Helper()
	r := send()
	if r.Status != http.StatusOK || !r.Success || !strings.HasPrefix(r.Token, "tpx_") {
		t.Fatalf("want a token, got %d %s", r.Status, r.raw)
	}
	return r
}

// projects returns the projects an upload token covers, verified like an upload service.
func (h *harness) projects(t testing.TB, tok string) []string {
	t.Helper()
	c, err := h.svc.minter.Parse(tok)
	if err != nil {
		t.Fatal(err)
	}
	p := slices.Clone(c.Projects)
	slices.Sort(p)
	return p
}

// lockedWriter serialises writes of concurrent requests' log lines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

// logString is what the service logged so far.
func (h *harness) logString() string {
	h.logw.mu.Lock()
	defer h.logw.mu.Unlock()
	return h.log.String()
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
