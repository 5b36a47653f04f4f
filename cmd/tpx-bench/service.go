package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/tpx-dev/tpx/account"
	"github.com/tpx-dev/tpx/exchange"
	"github.com/tpx-dev/tpx/internal/secretbox"
	"github.com/tpx-dev/tpx/policy"
	"github.com/tpx-dev/tpx/providers"
	"github.com/tpx-dev/tpx/store"
	"github.com/tpx-dev/tpx/store/postgres"
	"github.com/tpx-dev/tpx/store/sqlite"
	"github.com/tpx-dev/tpx/token"
	"github.com/tpx-dev/tpx/web"
)

// publicURL is the iss of the run's upload tokens.
const publicURL = "https://tpx.bench.invalid"

// service is tpx wired as `tpx serve` wires it (cmd/tpx build), trusting only the run's
// test issuer: metrics, the owner UI's observer of exchanges, JSON logs.
type service struct {
	set     *providers.Set
	ex      *exchange.Service
	handler http.Handler
}

// newService builds a service on st. It logs as serve does, at level Info in JSON, into
// io.Discard: every line is formatted and then thrown away, so logging costs what it
// costs in production short of the write. cooldown 0 keeps the key caches' default.
// core leaves the owner UI's observer out, to show what the exchange itself costs.
func newService(ctx context.Context, st store.Store, issuer, secret string, cooldown time.Duration, core bool) (*service, error) {
	log := slog.New(web.LogHandler(slog.NewJSONHandler(io.Discard, nil)))
	box, err := secretbox.New(secret)
	if err != nil {
		return nil, err
	}
	var metrics *web.Metrics
	set, err := providers.New(providers.Config{
		Audience: "tpx",
		Issuers:  []providers.IssuerConfig{{Kind: policy.GitHub, Issuer: issuer}},
		Logger:   log,
		Cooldown: cooldown,
		OnFetch:  func(issuer string, err error) { metrics.KeyFetched(issuer, err) },
	})
	if err != nil {
		return nil, err
	}
	mcfg := web.MetricsConfig{Issuers: set.Issuers(), KeyStatus: set.KeyStatus}
	if p, ok := st.(interface{ PoolStats() store.PoolStats }); ok {
		mcfg.Pool = p.PoolStats
	}
	metrics = web.NewMetrics(mcfg)
	minter, err := token.NewMinter(ctx, token.MinterConfig{Issuer: publicURL, Keys: st, Box: box, Logger: log})
	if err != nil {
		set.Close()
		return nil, err
	}
	var observer exchange.Observer
	if !core {
		observer = account.New(account.Config{Store: st, Box: box, Logger: log, PublicURL: publicURL})
	}
	ex, err := exchange.New(exchange.Config{Verifier: set, Store: st, Minter: minter, Logger: log, Observer: observer})
	if err != nil {
		set.Close()
		return nil, err
	}
	h := web.New(web.Config{Exchange: ex, Minter: minter, Store: st, Audience: "tpx", Logger: log, Metrics: metrics})
	set.Start(ctx)
	return &service{set: set, ex: ex, handler: h}, nil
}

func (s *service) close() { s.set.Close() }

// childCommand runs tpx-bench as the server of the end-to-end runs, in a process of its
// own so that its allocations and peak memory are its alone. It serves on a loopback port
// it prints as "listening HOST:PORT", answers each "stats" line on stdin with a JSON
// childStats line, and stops when stdin ends (so also when the parent dies).
const childCommand = "serve-child"

type childStats struct {
	Mallocs uint64 `json:"mallocs"`
	HWMKB   uint64 `json:"vm_hwm_kb"`
	RSSKB   uint64 `json:"vm_rss_kb"`
}

func runChild(args []string, stdin io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet(childCommand, flag.ContinueOnError)
	dbURL := fs.String("postgres", "", "PostgreSQL URL; empty: SQLite in -dir")
	dir := fs.String("dir", "", "SQLite data directory")
	issuer := fs.String("issuer", "", "the one trusted issuer")
	cooldown := fs.Duration("cooldown", 0, "key cache cooldown (0: the default)")
	profileDir := fs.String("profile", "", "write a CPU profile of the whole serving time to this directory")
	profileName := fs.String("profile-name", "server", "the profile's file name, before .cpu.pprof")
	if err := fs.Parse(args); err != nil {
		return err
	}
	stopProfile, err := startProfile(*profileDir, *profileName)
	if err != nil {
		return err
	}
	defer stopProfile()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var st store.Store
	if *dbURL != "" {
		st, err = postgres.Open(ctx, withPoolSize(*dbURL))
	} else {
		st, err = sqlite.Open(ctx, *dir)
	}
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		return err
	}
	svc, err := newService(ctx, st, *issuer, os.Getenv(secretEnv), *cooldown, false)
	if err != nil {
		return err
	}
	defer svc.close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	// The timeouts of `tpx serve`.
	srv := &http.Server{
		Handler:           svc.handler,
		ConnContext:       web.ConnContext,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	if _, err := fmt.Fprintf(stdout, "listening %s\n", ln.Addr()); err != nil {
		return err
	}
	out := json.NewEncoder(stdout)
	in := bufio.NewScanner(stdin)
	for in.Scan() {
		if in.Text() != "stats" {
			continue
		}
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		hwm, rss := procStatus()
		if err := out.Encode(childStats{Mallocs: m.Mallocs, HWMKB: hwm, RSSKB: rss}); err != nil {
			return err
		}
	}
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// withPoolSize sizes the server's connection pool as tpx serve does (cmd/tpx): eight
// connections per processor unless the URL says.
func withPoolSize(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.Query().Has("pool_max_conns") {
		return dsn
	}
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	return dsn + sep + "pool_max_conns=" + strconv.Itoa(8*runtime.GOMAXPROCS(0))
}

// secretEnv hands the run's TPX_SECRET_KEY to the child without a command-line argument.
const secretEnv = "TPX_BENCH_SECRET_KEY"
