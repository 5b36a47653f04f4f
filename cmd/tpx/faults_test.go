package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tpx-dev/tpx/internal/oidctest"
	"github.com/tpx-dev/tpx/providers"
	"github.com/tpx-dev/tpx/store"
)

// ownPostgres is a PostgreSQL server of one test's own, in a temporary directory on a
// free loopback port, so that the test may stop it without touching anyone else's.
type ownPostgres struct {
	t          *testing.T
	bin, dir   string
	port       int
	asPostgres bool // run the server binaries as the postgres OS user (initdb refuses root)
}

// startOwnPostgres initialises and starts a server. Without the server binaries it skips
// t, saying so, except on CI (CI=true), which must run every test.
func startOwnPostgres(t *testing.T) *ownPostgres {
	t.Helper()
	missing := func(format string, args ...any) {
		t.Helper()
		if os.Getenv("CI") == "true" {
			t.Fatalf(format, args...)
		}
		t.Skipf(format, args...)
	}
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(found) == 0 {
		missing("the PostgreSQL server binaries (initdb, pg_ctl) are not installed under /usr/lib/postgresql/*/bin")
	}
	// The newest version: directories are named by major version.
	slices.SortFunc(found, func(a, b string) int { return versionOf(a) - versionOf(b) })
	pg := &ownPostgres{t: t, bin: filepath.Dir(found[len(found)-1]), asPostgres: os.Geteuid() == 0}
	dir, err := os.MkdirTemp("", "tpx-own-postgres-")
	if err != nil {
		t.Fatal(err)
	}
	pg.dir = dir
	t.Cleanup(func() { os.RemoveAll(dir) })
	if pg.asPostgres {
		u, err := user.Lookup("postgres")
		if err != nil {
			missing("running as root, and there is no postgres OS user to run initdb as: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	pg.port = freeLoopbackPort(t)
	if err := pg.run("initdb", "-D", pg.data(), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"); err != nil {
		t.Fatal(err)
	}
	pg.start()
	// Stopped at once, whatever state the test left it in; a server already down is fine.
	t.Cleanup(func() { pg.run("pg_ctl", "stop", "-D", pg.data(), "-m", "immediate", "-w") })
	return pg
}

func versionOf(initdb string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(initdb))))
	return v
}

func (pg *ownPostgres) data() string { return filepath.Join(pg.dir, "data") }

// run runs a server binary, as the postgres user when the test runs as root.
func (pg *ownPostgres) run(name string, args ...string) error {
	path := filepath.Join(pg.bin, name)
	cmd := exec.Command(path, args...)
	if pg.asPostgres {
		cmd = exec.Command("runuser", append([]string{"-u", "postgres", "--", path}, args...)...)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return nil
}

func (pg *ownPostgres) ctl(action string, args ...string) {
	pg.t.Helper()
	if err := pg.run("pg_ctl", append([]string{action, "-D", pg.data(), "-w", "-t", "60"}, args...)...); err != nil {
		pg.t.Fatal(err)
	}
}

// start starts the server and returns once it accepts connections.
func (pg *ownPostgres) start() {
	pg.t.Helper()
	pg.ctl("start", "-l", filepath.Join(pg.dir, "server.log"),
		"-o", fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1", pg.port, pg.dir))
}

// crash stops the server at once, as a crash or a kill would: no checkpoint, open
// connections cut, recovery from the WAL at the next start.
func (pg *ownPostgres) crash() { pg.ctl("stop", "-m", "immediate") }

func (pg *ownPostgres) url() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", pg.port)
}

// until polls cond every few milliseconds for up to a minute, failing t if it never holds.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited a minute for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func getStatus(u string) int {
	resp, err := exchangeClient.Get(u)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// shot is one exchange of a exchangeStream, with when it was sent and answered.
type shot struct {
	sent, answered time.Time
	mintAnswer
}

// exchangeStream sends fresh tokens to base from workers goroutines until stop is closed.
type exchangeStream struct {
	mu    sync.Mutex
	shots []shot
	wg    sync.WaitGroup
	stop  chan struct{}
}

func startStream(w *world, base string, workers int) *exchangeStream {
	s := &exchangeStream{stop: make(chan struct{})}
	for range workers {
		s.wg.Go(func() {
			for {
				select {
				case <-s.stop:
					return
				default:
				}
				sent := time.Now()
				a := exchangeAt(base, w.token())
				w.secret(a.token)
				s.mu.Lock()
				s.shots = append(s.shots, shot{sent: sent, answered: time.Now(), mintAnswer: a})
				s.mu.Unlock()
			}
		})
	}
	return s
}

func (s *exchangeStream) end() []shot {
	close(s.stop)
	s.wg.Wait()
	return s.shots
}

// count counts the shots answered after from that satisfy f.
func (s *exchangeStream) count(from time.Time, f func(shot) bool) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, sh := range s.shots {
		if !sh.answered.Before(from) && f(sh) {
			n++
		}
	}
	return n
}

func succeeded(sh shot) bool  { return sh.status == http.StatusOK }
func refused503(sh shot) bool { return sh.status == http.StatusServiceUnavailable }

func TestPostgresRestartDuringExchanges(t *testing.T) {
	needPostgres(t)
	pg := startOwnPostgres(t)
	w := newWorld(t, buildTPX(t), createDatabase(t, pg.url()))
	w.githubPublisher("sampleproject")
	p := w.serve(nil)

	s := startStream(w, p.url, 4)
	begin := time.Now()
	waitUntil(t, "20 exchanges before the stop", func() bool { return s.count(begin, succeeded) >= 20 })

	pg.crash()
	down := time.Now()
	waitUntil(t, "10 answers 503 while PostgreSQL is down", func() bool { return s.count(down, refused503) >= 10 })
	waitUntil(t, "/readyz to turn red", func() bool { return getStatus(p.url+"/readyz") == http.StatusServiceUnavailable })

	pg.start()
	up := time.Now()
	var ready time.Duration
	waitUntil(t, "/readyz to turn green again", func() bool {
		green := getStatus(p.url+"/readyz") == http.StatusOK
		ready = time.Since(up)
		return green
	})
	waitUntil(t, "20 exchanges after the start", func() bool { return s.count(up, succeeded) >= 20 })
	shots := s.end()

	var firstOK time.Time
	successes, refused := 0, 0
	var ids []string
	for _, sh := range shots {
		switch {
		case sh.err != nil:
			t.Fatalf("a request got no reply in the contract's shape: %v", sh.err)
		case sh.status == http.StatusOK:
			successes++
			ids = append(ids, uploadTokenID(t, sh.token))
			if sh.sent.After(up) && (firstOK.IsZero() || sh.answered.Before(firstOK)) {
				firstOK = sh.answered
			}
		case sh.status == http.StatusServiceUnavailable && sh.code == "unavailable":
			refused++
		default:
			t.Fatalf("unexpected mintAnswer %d %s", sh.status, sh.raw)
		}
	}
	recovery := firstOK.Sub(up)
	t.Logf("PostgreSQL restart: %d exchanges, %d refused with 503 while it was down; first token %v after PostgreSQL accepted connections again, /readyz green after %v",
		successes, refused, recovery, ready)
	if recovery > 30*time.Second {
		t.Errorf("recovery took %v; a pool that reconnects by itself needs well under 30 s", recovery)
	}
	// Every token handed out has its durable record: the transaction committed before
	// the reply. Records of exchanges whose reply was lost to the crash may be more.
	if n := w.count(`SELECT count(*) FROM exchanges WHERE token_id = ANY($1)`, ids); n != successes {
		t.Fatalf("%d of %d upload tokens handed out have a record", n, successes)
	}
	if n := w.count(`SELECT count(*) FROM exchanges`); n < successes {
		t.Fatalf("%d exchange records for %d tokens handed out", n, successes)
	}
	assertNoSecrets(t, p.logs(), w.secrets)
	if err := p.stop(); err != nil {
		t.Errorf("stopping: %v", err)
	}
}

func TestPostgresSIGTERMFinishesRequestsInFlight(t *testing.T) {
	base := needPostgres(t)
	w := newWorld(t, buildTPX(t), createDatabase(t, base))
	w.githubPublisher("sampleproject")
	p := w.serve(nil)
	addr := strings.TrimPrefix(p.url, "http://")

	// Slow requests: each sends its headers, and its body only once the handler has
	// started reading it (Expect: 100-continue), then holds the body back. When all
	// three have their 100 Continue, they are in the handler, in flight.
	const slow = 3
	type slowReply struct {
		mintAnswer
		at time.Time
	}
	var (
		bodies    []*io.PipeWriter
		continued = make(chan struct{}, slow)
		replies   = make(chan slowReply, slow)
		toks      []string
	)
	slowClient := &http.Client{Transport: &http.Transport{DisableKeepAlives: true, ExpectContinueTimeout: time.Minute}}
	for range slow {
		pr, pw := io.Pipe()
		bodies = append(bodies, pw)
		toks = append(toks, w.token())
		req, err := http.NewRequest(http.MethodPost, p.url+"/_/oidc/mint-token", pr)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Expect", "100-continue")
		req = req.WithContext(httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
			Got100Continue: func() { continued <- struct{}{} },
		}))
		go func() {
			resp, err := slowClient.Do(req)
			if err != nil {
				replies <- slowReply{mintAnswer: mintAnswer{err: err}, at: time.Now()}
				return
			}
			defer resp.Body.Close()
			replies <- slowReply{mintAnswer: readAnswer(resp), at: time.Now()}
		}()
	}
	for range slow {
		select {
		case <-continued:
		case <-time.After(time.Minute):
			t.Fatal("the slow requests never reached the handler")
		}
	}

	s := startStream(w, p.url, 6)
	begin := time.Now()
	waitUntil(t, "20 exchanges under load", func() bool { return s.count(begin, succeeded) >= 20 })
	signalled := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the listener to close", func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return true
		}
		c.Close()
		return false
	})
	for i, b := range bodies {
		fmt.Fprintf(b, `{"token": %q}`, toks[i])
		b.Close()
	}
	for range slow {
		r := <-replies
		if r.err != nil || r.status != http.StatusOK {
			t.Fatalf("a request in flight at SIGTERM was not finished: %d %v %s", r.status, r.err, r.raw)
		}
		w.secret(r.token)
		if !r.at.After(signalled) {
			t.Fatal("a slow request was answered before the signal: it proves nothing")
		}
	}
	select {
	case <-p.done:
	case <-time.After(time.Minute):
		t.Fatal("tpx serve did not exit within a minute of SIGTERM")
	}
	shots := s.end()
	if p.err != nil {
		t.Fatalf("tpx serve exited with %v after SIGTERM\n%s", p.err, p.logs())
	}

	replied, refused, cut := slow, 0, 0
	for _, sh := range shots {
		switch {
		case sh.err == nil && sh.status < 500:
			replied++
		case sh.err == nil:
			t.Errorf("a request got %d: %s", sh.status, sh.raw)
		case errors.Is(sh.err, syscall.ECONNREFUSED):
			refused++
		default:
			// A connection still in the kernel's queue when the listener closed is reset
			// unaccepted; the count of logged requests below tells it from a cut request.
			cut++
		}
	}
	logged := 0
	for _, line := range strings.Split(p.logs(), "\n") {
		var l struct {
			Msg, Route string
			Status     int
		}
		if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "request" && l.Route == "/_/oidc/mint-token" {
			logged++
			if l.Status >= 500 {
				t.Errorf("the server answered %d: %s", l.Status, line)
			}
		}
	}
	t.Logf("SIGTERM under load: %d requests in flight at the signal finished with 200; %d requests answered in all; %d refused after the listener closed; %d reset unaccepted",
		slow, replied, refused, cut)
	if logged != replied {
		t.Fatalf("the server handled %d exchange requests and clients got %d replies: a reply was lost", logged, replied)
	}
	if !strings.Contains(p.logs(), `"msg":"stopped"`) {
		t.Fatalf("no orderly stop in the log:\n%s", p.logs())
	}
	assertNoSecrets(t, p.logs(), w.secrets)
}

func TestIssuerOutageKeysServeUntilTheStalenessBound(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		clk := oidctest.NewClock(time.Now())
		iss := oidctest.New(t, oidctest.WithClock(clk.Now))
		// The production bounds (refresh hourly, 24 h of staleness), on a clock the test
		// moves: the bound is the one operators get.
		h := serviceHarness(t, b, []*oidctest.Issuer{iss}, nil, func(c *providers.Config) { c.Now = clk.Now }, nil)
		h.github("sampleproject", nil)
		h.accepted(t, func() reply { return h.exchange(t, iss.Sign(iss.GitHubClaims(nil))) })
		iss.Stop()

		for _, c := range []struct {
			name    string
			advance time.Duration
			status  int
			code    string
		}{
			{"Keys an hour old are refetched, the fetch fails, and the cached keys still verify", time.Hour + time.Minute, http.StatusOK, ""},
			{"Keys a minute short of the bound still verify", 23*time.Hour - 2*time.Minute, http.StatusOK, ""},
			{"Keys past the bound verify nothing: 503 provider-keys-unavailable", 2 * time.Minute, http.StatusServiceUnavailable, "provider-keys-unavailable"},
		} {
			t.Run(c.name, func(t *testing.T) {
				clk.Advance(c.advance)
				tok := iss.Sign(iss.GitHubClaims(nil))
				if c.status == http.StatusOK {
					h.accepted(t, func() reply { return h.exchange(t, tok) })
					return
				}
				h.refused(t, c.status, c.code, func() reply { return h.exchange(t, tok) })
			})
		}
		t.Run("Metrics show the keys' age and the failed fetches", func(t *testing.T) {
			m := scrapeMetrics(t, h.url)
			age := m.value(t, "tpx_issuer_keys_age_seconds", "issuer", iss.URL())
			if age < (24 * time.Hour).Seconds() {
				t.Fatalf("tpx_issuer_keys_age_seconds is %v, want past 24 h", age)
			}
			if f := m.value(t, "tpx_issuer_key_fetches_total", "issuer", iss.URL(), "result", "failure"); f < 1 {
				t.Fatalf("tpx_issuer_key_fetches_total{result=failure} is %v", f)
			}
			if f := m.value(t, "tpx_issuer_key_fetch_failing", "issuer", iss.URL()); f != 1 {
				t.Fatalf("tpx_issuer_key_fetch_failing is %v, want 1", f)
			}
			if n := m.value(t, "tpx_exchanges_total", "issuer", iss.URL(), "outcome", "provider-keys-unavailable"); n != 1 {
				t.Fatalf("tpx_exchanges_total{outcome=provider-keys-unavailable} is %v, want 1", n)
			}
		})
		t.Run("When the issuer is back the next exchange refetches and succeeds", func(t *testing.T) {
			iss.Start()
			clk.Advance(providers.DefaultCooldown)
			h.accepted(t, func() reply { return h.exchange(t, iss.Sign(iss.GitHubClaims(nil))) })
		})
	})
}

// crashingStore commits an exchange and then, once armed, kills the request before the
// reply is written, as a crash of the process between commit and reply would.
type crashingStore struct {
	store.Store
	armed atomic.Bool
}

func (s *crashingStore) CommitExchange(ctx context.Context, e store.Exchange) error {
	err := s.Store.CommitExchange(ctx, e)
	if err == nil && s.armed.CompareAndSwap(true, false) {
		panic(http.ErrAbortHandler)
	}
	return err
}

func TestCrashBetweenCommitAndReplyLosesOnlyThatReply(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		iss := oidctest.New(t)
		crashing := &crashingStore{}
		h := serviceHarness(t, b, []*oidctest.Issuer{iss}, nil, nil, func(st store.Store) store.Store {
			crashing.Store = st
			return crashing
		})
		h.github("sampleproject", nil)
		count := func(table string) int {
			var n int
			if err := h.db.QueryRow("SELECT count(*) FROM " + table).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}

		tok := iss.Sign(iss.GitHubClaims(nil))
		crashing.armed.Store(true)
		if got := exchangeAt(h.url, tok); got.err == nil {
			t.Fatalf("the request whose reply was lost got one: %d %s", got.status, got.raw)
		}
		if count("exchanges") != 1 {
			t.Fatal("the exchange whose reply was lost is not recorded")
		}
		t.Run("The CI job's retry with the same token is refused as reuse", func(t *testing.T) {
			h.refused(t, http.StatusUnprocessableEntity, "invalid-reuse-token", func() reply { return h.exchange(t, tok) })
		})
		t.Run("A retry with a fresh token succeeds", func(t *testing.T) {
			h.accepted(t, func() reply { return h.exchange(t, iss.Sign(iss.GitHubClaims(nil))) })
		})
	})
}
