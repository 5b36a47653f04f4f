package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The comparison with Dex (-dex PATH): the same CI tokens from the same test issuer, the
// same load generator and the same PostgreSQL server, tpx and Dex taking turns at each
// concurrency so that whatever else loads the machine weighs on both alike. Dex exchanges
// a CI token by RFC 8693 token exchange through its OIDC connector and returns an ID token
// it signs with ES256, as tpx signs upload tokens; it keeps its state in a PostgreSQL
// database of its own. tpx-bench writes Dex's configuration itself; the binary is the
// operator's, built from Dex's own source (docs/benchmarks.md says how).

// dexLevels are the concurrencies of the comparison.
var dexLevels = []int{1, 8, 32}

// defaultDexRounds is -dex-rounds when not given.
const defaultDexRounds = 2

// maxDexRounds bounds -dex-rounds: each turn takes an equal share of the level's
// exchanges, and a turn of a few dozen measures little but its own start.
const maxDexRounds = 20

// Dex's static client and connector, as the generated configuration names them.
const (
	dexClientID     = "tpx-bench"
	dexClientSecret = "tpx-bench-secret"
	dexConnector    = "ci"
)

// dexResult is the comparison: per concurrency, each side's exchanges and the CPU time its
// server process and its PostgreSQL backends used meanwhile.
type dexResult struct {
	version string
	rounds  int
	levels  []dexLevel
}

type dexLevel struct {
	c        int
	tpx, dex sideRun
	// byRound is tpx's throughput over Dex's in each round alone: their spread shows how
	// much the machine moved under the comparison.
	byRound []float64
}

// sideRun is one side's turns at one concurrency, added up.
type sideRun struct {
	run       runResult
	serverCPU time.Duration // the server process, all threads
	pgCPU     time.Duration // the PostgreSQL backends serving its database
}

// perExchange is d divided among the run's exchanges.
func (s sideRun) perExchange(d time.Duration) time.Duration {
	if s.run.n == 0 {
		return 0
	}
	return d / time.Duration(s.run.n)
}

// add appends another turn.
func (s *sideRun) add(r runResult, server, pg time.Duration) {
	s.run.n += r.n
	s.run.errs += r.errs
	s.run.elapsed += r.elapsed
	s.run.lat = append(s.run.lat, r.lat...)
	s.run.sortLatencies()
	s.serverCPU += server
	s.pgCPU += pg
}

// ratio is tpx's throughput over Dex's.
func (l dexLevel) ratio() float64 { return rateRatio(l.tpx.run, l.dex.run) }

func rateRatio(tpx, dex runResult) float64 {
	if dex.rate() == 0 {
		return 0
	}
	return tpx.rate() / dex.rate()
}

// roundSpread is the smallest, the median and the largest of the rounds' ratios.
func (l dexLevel) roundSpread() (lo, median, hi float64) {
	r := slices.Sorted(slices.Values(l.byRound))
	if len(r) == 0 {
		return 0, 0, 0
	}
	median = r[len(r)/2]
	if len(r)%2 == 0 {
		median = (r[len(r)/2-1] + r[len(r)/2]) / 2
	}
	return r[0], median, r[len(r)-1]
}

// dexServer is a running Dex.
type dexServer struct {
	cmd      *exec.Cmd
	tokenURL string
	logPath  string
	done     chan struct{}
}

// compareDex runs the comparison: a tpx server on the run's database and Dex on one of its
// own, both warmed up, then at each concurrency tpx and Dex in turn.
func (b *bench) compareDex(ctx context.Context) error {
	s := b.sizes
	b.say("against Dex (%s)", b.opts.dex)
	version, err := dexVersion(ctx, b.opts.dex)
	if err != nil {
		return err
	}
	dexDB := b.db.name + "_dex"
	if _, err := b.db.admin.Exec(ctx, "CREATE DATABASE "+dexDB); err != nil {
		return fmt.Errorf("creating Dex's database: %w", err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		b.db.admin.Exec(dctx, "DROP DATABASE IF EXISTS "+dexDB+" WITH (FORCE)")
	}()
	dir, cleanup, err := tempDir()
	if err != nil {
		return err
	}
	defer cleanup()
	dex, err := b.startDex(ctx, dir, dexDB)
	if err != nil {
		return err
	}
	defer dex.stop()
	if err := b.db.resetReplay(ctx); err != nil {
		return err
	}
	srv, err := b.startServer(ctx, "server-postgres-vs-dex", "-postgres", b.db.url)
	if err != nil {
		return err
	}
	defer srv.stop()

	forms := make([][]byte, len(b.tokens))
	for i, body := range b.tokens {
		forms[i] = dexForm(tokenOf(body))
	}
	if err := errRun("tpx warm-up", httpLoad(ctx, srv.url, b.tokens[:s.warmup], 8, http.StatusOK)); err != nil {
		return err
	}
	if err := errRun("Dex warm-up", httpLoadOf(ctx, dex.tokenURL, formBody, forms[:s.warmup], 8, http.StatusOK)); err != nil {
		return fmt.Errorf("%w (Dex's log: %s)", err, dex.logTail())
	}
	rounds := b.opts.dexRounds
	res := dexResult{version: version, rounds: rounds}
	next := s.warmup
	for _, c := range dexLevels {
		l := dexLevel{c: c}
		share := s.perLevel[c] / rounds
		for round := range rounds {
			// tpx consumes its tokens (their jti); Dex takes the same ones, having no replay
			// guard to refuse them.
			bodies, fbodies := b.tokens[next:next+share], forms[next:next+share]
			next += share
			// turn runs one side's share and adds it to that side's figures.
			turn := func(side *sideRun, pid int, db, who string, load func() runResult) (runResult, error) {
				r, server, pg, err := b.side(ctx, pid, db, load)
				if err != nil {
					return r, err
				}
				if err := errRun(fmt.Sprintf("%s at concurrency %d", who, c), r); err != nil {
					return r, err
				}
				side.add(r, server, pg)
				return r, nil
			}
			tpxTurn := func() (runResult, error) {
				return turn(&l.tpx, srv.cmd.Process.Pid, b.db.name, "tpx", func() runResult {
					return httpLoad(ctx, srv.url, bodies, c, http.StatusOK)
				})
			}
			dexTurn := func() (runResult, error) {
				r, err := turn(&l.dex, dex.cmd.Process.Pid, dexDB, "Dex", func() runResult {
					return httpLoadOf(ctx, dex.tokenURL, formBody, fbodies, c, http.StatusOK)
				})
				if err != nil {
					err = fmt.Errorf("%w (Dex's log: %s)", err, dex.logTail())
				}
				return r, err
			}
			// Who goes first alternates (tpx, Dex, Dex, tpx, …), so that a machine growing
			// busier or quieter through a level weighs on both alike.
			var tr, dr runResult
			var err error
			if round%2 == 0 {
				if tr, err = tpxTurn(); err == nil {
					dr, err = dexTurn()
				}
			} else if dr, err = dexTurn(); err == nil {
				tr, err = tpxTurn()
			}
			if err != nil {
				return err
			}
			l.byRound = append(l.byRound, rateRatio(tr, dr))
		}
		lo, median, hi := l.roundSpread()
		b.say("  c=%d: tpx %.0f/s p99 %v, Dex %.0f/s p99 %v: %.2f× (rounds %.2f–%.2f, median %.2f)", c, l.tpx.run.rate(), l.tpx.run.p99().Round(time.Microsecond),
			l.dex.run.rate(), l.dex.run.p99().Round(time.Microsecond), l.ratio(), lo, hi, median)
		res.levels = append(res.levels, l)
	}
	b.res.dex = &res
	return nil
}

// side runs load and measures, besides what load measures, the CPU time process pid and the
// PostgreSQL backends of database db used meanwhile. A backend that connected during the
// run counts from its start; one that left counts nothing.
func (b *bench) side(ctx context.Context, pid int, db string, load func() runResult) (runResult, time.Duration, time.Duration, error) {
	pids, err := b.db.backends(ctx, db)
	if err != nil {
		return runResult{}, 0, 0, err
	}
	pg0 := make(map[int]time.Duration, len(pids))
	for _, p := range pids {
		pg0[p] = processCPUOf(p)
	}
	server0 := processCPUOf(pid)
	r := load()
	server := processCPUOf(pid) - server0
	after, err := b.db.backends(ctx, db)
	if err != nil {
		return r, 0, 0, err
	}
	var pg time.Duration
	for _, p := range after {
		pg += processCPUOf(p) - pg0[p]
	}
	return r, server, pg, nil
}

// backends are the process ids of the PostgreSQL backends connected to database db.
func (d *pgDatabase) backends(ctx context.Context, db string) ([]int, error) {
	rows, err := d.admin.Query(ctx, `SELECT pid FROM pg_stat_activity WHERE datname = $1`, db)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []int
	for rows.Next() {
		var pid int
		if err := rows.Scan(&pid); err != nil {
			return nil, err
		}
		out = append(out, pid)
	}
	return out, rows.Err()
}

// clockTick is the unit of /proc/PID/stat's CPU times: USER_HZ, 100 on Linux.
const clockTick = 10 * time.Millisecond

// processCPUOf is the user and system time of process pid, from /proc/PID/stat; 0 if it
// cannot be read.
func processCPUOf(pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// The command name, in parentheses, may contain spaces; the fields after it are fixed.
	_, rest, ok := bytes.Cut(b, []byte(") "))
	if !ok {
		return 0
	}
	f := strings.Fields(string(rest))
	// utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+s) * clockTick
}

// dexForm is the token request that exchanges a CI token for a Dex ID token (RFC 8693).
func dexForm(token string) []byte {
	return []byte(url.Values{
		"grant_type":           {"urn:ietf:params:oauth:grant-type:token-exchange"},
		"connector_id":         {dexConnector},
		"scope":                {"openid"},
		"subject_token_type":   {"urn:ietf:params:oauth:token-type:id_token"},
		"requested_token_type": {"urn:ietf:params:oauth:token-type:id_token"},
		"subject_token":        {token},
		"client_id":            {dexClientID},
		"client_secret":        {dexClientSecret},
	}.Encode())
}

// dexConfig is Dex's configuration for the comparison, as JSON (which Dex reads as the
// YAML it is): PostgreSQL storage, a local ES256 signer, one static client, and an OIDC
// connector trusting the run's test issuer, with the repository claim as the user name
// (CI tokens carry no name or email).
func dexConfig(issuer, addr string, pg *url.URL, db, upstream string) ([]byte, error) {
	mode, err := dexSSLMode(pg)
	if err != nil {
		return nil, err
	}
	port, err := strconv.Atoi(pg.Port())
	if err != nil {
		port = 5432
	}
	user := "postgres"
	password := ""
	if pg.User != nil {
		user = pg.User.Username()
		password, _ = pg.User.Password()
	}
	return json.MarshalIndent(map[string]any{
		"issuer": issuer,
		"storage": map[string]any{"type": "postgres", "config": map[string]any{
			"host": pg.Hostname(), "port": port, "database": db, "user": user, "password": password,
			"ssl": map[string]any{"mode": mode},
		}},
		"web":    map[string]any{"http": addr},
		"logger": map[string]any{"level": "warn"},
		"signer": map[string]any{"type": "local", "config": map[string]any{"algorithm": "ES256", "keysRotationPeriod": "6h"}},
		"oauth2": map[string]any{"skipApprovalScreen": true},
		"expiry": map[string]any{"idTokens": "15m"},
		"staticClients": []any{map[string]any{
			"id": dexClientID, "secret": dexClientSecret, "name": "tpx-bench",
			"redirectURIs": []string{"http://" + addr + "/callback"},
		}},
		"connectors": []any{map[string]any{
			"type": "oidc", "id": dexConnector, "name": "CI",
			"config": map[string]any{
				"issuer": upstream, "clientID": "tpx", "clientSecret": "unused",
				"redirectURI": issuer + "/callback",
				"scopes":      []string{"profile"},
				"userNameKey": "repository",
			},
		}},
	}, "", "  ")
}

// startDex writes Dex's configuration into dir, starts Dex on a free loopback port and
// waits until it serves its discovery document.
func (b *bench) startDex(ctx context.Context, dir, db string) (*dexServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	issuer := "http://" + addr + "/dex"
	pg, err := url.Parse(b.db.url)
	if err != nil {
		return nil, err
	}
	cfg, err := dexConfig(issuer, addr, pg, db, b.iss.URL())
	if err != nil {
		return nil, err
	}
	cfgPath := filepath.Join(dir, "dex.yaml")
	if err := os.WriteFile(cfgPath, cfg, 0o600); err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "dex.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	cmd := exec.CommandContext(ctx, b.opts.dex, "serve", cfgPath)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting Dex: %w", err)
	}
	d := &dexServer{cmd: cmd, tokenURL: issuer + "/token", logPath: logPath, done: make(chan struct{})}
	go func() {
		cmd.Wait()
		close(d.done)
	}()
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(issuer + "/.well-known/openid-configuration")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return d, nil
			}
		}
		select {
		case <-d.done:
			return nil, fmt.Errorf("dex exited: %s", d.logTail())
		case <-ctx.Done():
			d.stop()
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			d.stop()
			return nil, fmt.Errorf("dex did not start within a minute: %s", d.logTail())
		}
	}
}

// stop ends Dex: SIGINT, then a kill if it has not gone 10 s later.
func (d *dexServer) stop() {
	d.cmd.Process.Signal(os.Interrupt)
	select {
	case <-d.done:
	case <-time.After(10 * time.Second):
		d.cmd.Process.Kill()
		<-d.done
	}
}

// logTail is the end of Dex's log, for an error message.
func (d *dexServer) logTail() string {
	b, _ := os.ReadFile(d.logPath)
	const max = 2000
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return strings.TrimSpace(string(b))
}

// dexVersion is what `dex version` prints first.
func dexVersion(ctx context.Context, path string) (string, error) {
	out, err := exec.CommandContext(ctx, path, "version").Output()
	if err != nil {
		return "", fmt.Errorf("running %s version: %w", path, err)
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	if line == "" {
		return "", errors.New("dex version printed nothing")
	}
	return line, nil
}

// dexSSLMode is the sslmode of the database URL u, which Dex is given too: both servers
// talk to PostgreSQL alike, or the comparison measures TLS. Dex takes these modes only,
// not "prefer", pgx's default, which uses TLS where the server offers it.
func dexSSLMode(u *url.URL) (string, error) {
	mode := u.Query().Get("sslmode")
	if !slices.Contains([]string{"disable", "require", "verify-ca", "verify-full"}, mode) {
		return "", fmt.Errorf("TPX_BENCH_DATABASE_URL: with -dex, set sslmode to disable, require, verify-ca or verify-full (not %q), so that tpx and Dex connect to PostgreSQL alike", mode)
	}
	return mode, nil
}
