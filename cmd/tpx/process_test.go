package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tpx-dev/tpx/account"
	"github.com/tpx-dev/tpx/internal/oidctest"
	"github.com/tpx-dev/tpx/internal/secretbox"
	"github.com/tpx-dev/tpx/policy"
	"github.com/tpx-dev/tpx/providers"
	"github.com/tpx-dev/tpx/store"
	"github.com/tpx-dev/tpx/store/postgres"
)

// The helpers of the tests that run tpx as a real program: `go build` it, start `tpx
// serve` processes against a PostgreSQL database, and talk to them over HTTP.

// processSecretKey is TPX_SECRET_KEY of every process these tests start.
const processSecretKey = "a secret key of the tests that run tpx serve processes"

// needPostgres skips t unless TPX_TEST_DATABASE_URL is set, saying so.
func needPostgres(t *testing.T) string {
	t.Helper()
	base := os.Getenv("TPX_TEST_DATABASE_URL")
	if base == "" {
		t.Skip("TPX_TEST_DATABASE_URL is not set: this test runs tpx serve processes on PostgreSQL")
	}
	return base
}

// built is the tpx binary the tests of this package share: built once, by the first test
// that needs it, into a directory TestMain removes.
var built struct {
	once sync.Once
	dir  string
	bin  string
	err  error
}

// buildTPX builds the tpx binary, once per run of the tests, and returns its path.
func buildTPX(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		if built.dir, built.err = os.MkdirTemp("", "tpx-bin-"); built.err != nil {
			return
		}
		bin := filepath.Join(built.dir, "tpx")
		if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
			built.err = fmt.Errorf("go build: %v\n%s", err, out)
			return
		}
		built.bin = bin
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.bin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// createDatabase creates a database of t's own on the server of base (a postgres:// URL
// of a user who may create databases) and drops it when t ends; it returns its URL.
func createDatabase(t *testing.T, base string) string {
	t.Helper()
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connecting to %s: %v", redactURL(base), err)
	}
	name := "tpx_proc_" + strings.ToLower(rand.Text()[:12])
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		admin.Close(ctx)
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparseable URL)"
	}
	return u.Redacted()
}

// world is what the processes of one test share: a database, test issuers, an owner
// with a second factor, and the environment of `tpx serve` and of the command line.
type world struct {
	t        *testing.T
	bin      string
	dbURL    string
	gh, gl   *oidctest.Issuer
	store    store.Store
	accounts *account.Service
	env      map[string]string
	// secrets are every token, password and key the test used; none may be logged.
	secretsMu sync.Mutex
	secrets   []string
}

// newWorld builds tpx and prepares a migrated database at dbURL with alice, who owns
// sampleproject and has TOTP.
func newWorld(t *testing.T, bin, dbURL string) *world {
	t.Helper()
	// The replicas leave TPX_AUDIENCE to its default, which names their public URL.
	aud := oidctest.WithAudience("tpx:tpx.example.org")
	w := &world{t: t, bin: bin, dbURL: dbURL, gh: oidctest.New(t, aud), gl: oidctest.New(t, aud)}
	ctx := context.Background()
	st, err := postgres.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	w.store = st
	box, err := secretbox.New(processSecretKey)
	if err != nil {
		t.Fatal(err)
	}
	w.accounts = account.New(account.Config{Store: st, Box: box, Issuers: []providers.IssuerConfig{
		{Kind: policy.GitHub, Issuer: w.gh.URL()}, {Kind: policy.GitLab, Issuer: w.gl.URL()}}})
	const password = "the owner's passphrase of the process tests"
	if _, err := w.accounts.CreateUser(ctx, "alice", "alice@example.org", password); err != nil {
		t.Fatal(err)
	}
	if _, err := w.accounts.EnrollTOTP(ctx, account.ViaOperator, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := w.accounts.CreateProject(ctx, account.ViaOperator, "sampleproject", "alice"); err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(t.TempDir(), "tpx.yaml")
	yaml := fmt.Sprintf("providers:\n  - {kind: github, issuer: %q}\n  - {kind: gitlab, issuer: %q}\n", w.gh.URL(), w.gl.URL())
	if err := os.WriteFile(config, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	w.env = map[string]string{
		"TPX_ADDR":         "127.0.0.1:0",
		"TPX_PUBLIC_URL":   "https://tpx.example.org",
		"TPX_DATABASE_URL": dbURL,
		"TPX_CONFIG":       config,
		"TPX_SECRET_KEY":   processSecretKey,
		"TPX_LOG_FORMAT":   "json",
	}
	w.secret(password, processSecretKey)
	return w
}

// secret records values that must never appear in a log.
func (w *world) secret(values ...string) {
	w.secretsMu.Lock()
	defer w.secretsMu.Unlock()
	w.secrets = append(w.secrets, values...)
}

// githubPublisher registers octo-org/octo-repo's release.yml on project as alice.
func (w *world) githubPublisher(project string) store.Publisher {
	w.t.Helper()
	p, err := w.accounts.AddPublisher(context.Background(), account.Actor{UserName: "alice", Via: account.ViaOperator}, project,
		policy.Publisher{Kind: policy.GitHub, Issuer: w.gh.URL(), Owner: "octo-org", Name: "octo-repo", Workflow: "release.yml"})
	if err != nil {
		w.t.Fatal(err)
	}
	return p
}

// token signs a fresh GitHub token for octo-org/octo-repo and records it as a secret.
func (w *world) token() string {
	tok := w.gh.Sign(w.gh.GitHubClaims(nil))
	w.secret(tok)
	return tok
}

// serveProc is a running `tpx serve`.
type serveProc struct {
	t    *testing.T
	cmd  *exec.Cmd
	url  string
	log  *lockedWriter
	buf  *bytes.Buffer
	done chan struct{}
	err  error // of Wait, once done is closed
}

// serve starts `tpx serve` with the world's environment changed by extra, and waits
// until it listens.
func (w *world) serve(extra map[string]string) *serveProc {
	w.t.Helper()
	env := os.Environ()
	for k, v := range w.env {
		if _, ok := extra[k]; !ok {
			env = append(env, k+"="+v)
		}
	}
	for k, v := range extra {
		env = append(env, k+"="+v)
	}
	buf := &bytes.Buffer{}
	p := &serveProc{t: w.t, buf: buf, log: &lockedWriter{w: buf}, done: make(chan struct{})}
	p.cmd = exec.Command(w.bin, "serve")
	p.cmd.Env = env
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		w.t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	addr := make(chan string, 1)
	go func() {
		// Copy line by line, watching for the line that says where it listens.
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			p.log.Write([]byte(line + "\n"))
			var l struct {
				Msg  string `json:"msg"`
				Addr string `json:"addr"`
			}
			if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "tpx serving" {
				addr <- l.Addr
			}
		}
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	w.t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	select {
	case a := <-addr:
		p.url = "http://" + a
	case <-p.done:
		w.t.Fatalf("tpx serve exited before listening: %v\n%s", p.err, p.logs())
	case <-time.After(60 * time.Second):
		w.t.Fatalf("tpx serve did not listen within a minute\n%s", p.logs())
	}
	return p
}

// logs is everything the process logged so far.
func (p *serveProc) logs() string {
	p.log.mu.Lock()
	defer p.log.mu.Unlock()
	return p.buf.String()
}

// stop sends SIGTERM and waits for the process to exit.
func (p *serveProc) stop() error {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.err
	case <-time.After(60 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("tpx serve did not stop within a minute of SIGTERM")
	}
}

// mintAnswer is one reply of the exchange route, or the error of a request that got none.
type mintAnswer struct {
	status    int
	code      string // the error code, "" for a success
	token     string // the upload token of a success
	requestID string
	err       error
	raw       string
}

// exchangeClient sends requests on fresh connections, so that a closed keep-alive
// connection can never be mistaken for a refused request.
var exchangeClient = &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// exchange posts tok to base's exchange route and checks the reply's shape.
func exchangeAt(base, tok string) mintAnswer {
	body, _ := json.Marshal(map[string]string{"token": tok})
	resp, err := exchangeClient.Post(base+"/_/oidc/mint-token", "application/json", bytes.NewReader(body))
	if err != nil {
		return mintAnswer{err: err}
	}
	defer resp.Body.Close()
	return readAnswer(resp)
}

func readAnswer(resp *http.Response) mintAnswer {
	raw, err := io.ReadAll(resp.Body)
	a := mintAnswer{status: resp.StatusCode, raw: string(raw), err: err}
	if err != nil {
		return a
	}
	var r struct {
		Success   bool   `json:"success"`
		Token     string `json:"token"`
		Message   string `json:"message"`
		RequestID string `json:"request_id"`
		Errors    []struct {
			Code string `json:"code"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		a.err = fmt.Errorf("reply %d is not JSON: %q", resp.StatusCode, raw)
		return a
	}
	a.requestID = resp.Header.Get("X-Request-Id")
	switch {
	case resp.StatusCode == http.StatusOK && r.Success && strings.HasPrefix(r.Token, "tpx_"):
		a.token = r.Token
	case resp.StatusCode != http.StatusOK && r.Message == "Token request failed" && len(r.Errors) == 1 && r.RequestID == a.requestID && r.RequestID != "":
		a.code = r.Errors[0].Code
	default:
		a.err = fmt.Errorf("reply %d is not in the contract's shape: %s", resp.StatusCode, raw)
	}
	return a
}

// uploadTokenID reads the jti of an upload token without verifying it: the tests that
// use it only look the id up in the database.
func uploadTokenID(t *testing.T, tok string) string {
	t.Helper()
	parts := strings.Split(strings.TrimPrefix(tok, "tpx_"), ".")
	if len(parts) != 3 {
		t.Fatalf("upload token %q is not a compact JWS", tok)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		ID string `json:"jti"`
	}
	if err := json.Unmarshal(b, &c); err != nil || c.ID == "" {
		t.Fatalf("upload token payload %s has no jti", b)
	}
	return c.ID
}

// tpxCommand runs the tpx binary with the world's environment and args.
func (w *world) tpxCommand(args ...string) (string, error) {
	cmd := exec.Command(w.bin, args...)
	cmd.Env = os.Environ()
	for k, v := range w.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// count runs a count(*) query on the world's database.
func (w *world) count(query string, args ...any) int {
	w.t.Helper()
	conn, err := pgx.Connect(context.Background(), w.dbURL)
	if err != nil {
		w.t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		w.t.Fatalf("%s: %v", query, err)
	}
	return n
}

// tokenSegment matches what may be a piece of a JWT: a long run of base64url.
var tokenSegment = regexp.MustCompile(`[A-Za-z0-9_-]{40,}`)

// assertNoSecrets fails t if any recorded secret, or the signature of a token among
// them, appears in logs.
func assertNoSecrets(t *testing.T, logs string, secrets []string) {
	t.Helper()
	if len(secrets) == 0 {
		t.Fatal("no secrets recorded: the scan would prove nothing")
	}
	for _, s := range secrets {
		needles := []string{s}
		if parts := strings.Split(strings.TrimPrefix(s, "tpx_"), "."); len(parts) == 3 {
			needles = append(needles, parts[2]) // a signature alone is as good as the token to a forger's search
		}
		for _, n := range needles {
			if n != "" && strings.Contains(logs, n) {
				t.Errorf("a secret (%d characters, starting %q) appears in the log", len(n), n[:min(8, len(n))])
			}
		}
	}
	for _, seg := range tokenSegment.FindAllString(logs, -1) {
		for _, s := range secrets {
			if strings.Contains(s, seg) {
				t.Errorf("a piece of a secret appears in the log: %q…", seg[:12])
			}
		}
	}
}

// freeLoopbackPort returns a port no one listens on at the moment.
func freeLoopbackPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
