// Command tpx-bench measures the exchange against the limits of the machine it runs on, in
// one run: the crypto and database floors, the exchange in process, the exchange end to end
// over HTTP with PostgreSQL and with the embedded SQLite store, growth with the number of
// publishers and of projects per publisher, a flood of tokens with unknown key ids, and,
// given a Dex binary, tpx against Dex on the same tokens and database server. It prints a
// table and writes docs/benchmarks.md with a plot (docs/benchmarks.svg).
//
//	go run ./cmd/tpx-bench                       # the full run, a few minutes
//	go run ./cmd/tpx-bench -quick                # a short run with smaller counts
//	go run ./cmd/tpx-bench -dex /path/to/dex     # the full run and the comparison with Dex
//	go run ./cmd/tpx-bench -flood-only           # the key flood alone, printed
//
// It works in a PostgreSQL database of its own, created from TPX_BENCH_DATABASE_URL (default
// postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable) and dropped at the end, and in
// a temporary directory for SQLite; all traffic stays on loopback.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"
)

const defaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// options are the command line.
type options struct {
	quick   bool
	out     string
	dbURL   string
	timeout time.Duration
	profile string // directory for CPU profiles; empty: none
	dex     string // a Dex binary to compare with; empty: no comparison
	dexOnly bool   // run the comparison with Dex alone
	// dexRounds is how many times tpx and Dex take turns at each concurrency.
	dexRounds int
	tenants   bool // only the tenants case
	flood     bool // only the key flood
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == childCommand {
		if err := runChild(os.Args[2:], os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "tpx-bench server:", err)
			os.Exit(1)
		}
		return
	}
	if len(os.Args) > 1 && os.Args[1] == senderCommand {
		if err := runSender(os.Args[2:], os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "tpx-bench sender:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "tpx-bench:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tpx-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.BoolVar(&o.quick, "quick", false, "a short run: smaller counts and 100,000 instead of 1,000,000 publishers")
	fs.StringVar(&o.out, "out", "docs/benchmarks.md", "the report to write; the plot goes next to it as .svg")
	fs.DurationVar(&o.timeout, "timeout", 0, "stop with an error after this long (default 9m, or 4m with -quick)")
	fs.StringVar(&o.profile, "profile", "", "write CPU profiles of the in-process run and of each server to this directory")
	fs.StringVar(&o.dex, "dex", "", "compare with the Dex binary at this path (RFC 8693 token exchange, PostgreSQL storage, ES256), interleaved at concurrency 1, 8 and 32")
	fs.BoolVar(&o.dexOnly, "dex-only", false, "with -dex, run the comparison and nothing else")
	fs.IntVar(&o.dexRounds, "dex-rounds", defaultDexRounds, "with -dex, how many times tpx and Dex take turns at each concurrency, sharing its exchanges (1 to 20); more rounds on a noisy machine")
	fs.BoolVar(&o.tenants, "tenants", false, "run only the cases of other tenants' publishers naming one repository and of one publisher on many projects, print them and write nothing")
	fs.BoolVar(&o.flood, "flood-only", false, "run only the key flood (valid traffic at 100/s), print it and write nothing")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.dexOnly && o.dex == "" {
		return errors.New("-dex-only needs -dex PATH")
	}
	if o.dexRounds < 1 || o.dexRounds > maxDexRounds {
		return fmt.Errorf("-dex-rounds must be between 1 and %d, not %d", maxDexRounds, o.dexRounds)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	o.dbURL = os.Getenv("TPX_BENCH_DATABASE_URL")
	if o.dbURL == "" {
		o.dbURL = defaultDatabaseURL
	}
	if o.dex != "" {
		u, err := url.Parse(o.dbURL)
		if err != nil {
			return fmt.Errorf("TPX_BENCH_DATABASE_URL: %w", err)
		}
		if _, err := dexSSLMode(u); err != nil {
			return err
		}
	}
	if o.timeout == 0 {
		o.timeout = 9 * time.Minute
		if o.quick {
			o.timeout = 4 * time.Minute
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()

	b := &bench{opts: o, sizes: sizesFor(o.quick), log: stderr}
	if o.tenants {
		load := loadAverage()
		if err := b.runTenants(ctx); err != nil {
			return err
		}
		rp := b.report()
		fmt.Fprintf(stdout, "\nload average %s at the start, %s at the end\n", load, loadAverage())
		fmt.Fprint(stdout, render([]table{rp.tenantsTable(), rp.projectsTable()}))
		return nil
	}
	err := b.run(ctx)
	if errors.Is(err, context.DeadlineExceeded) || (err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded)) {
		return fmt.Errorf("stopped after %v, the time limit: %w", o.timeout, err)
	}
	if err != nil {
		return err
	}
	r := b.report()
	if o.flood {
		fmt.Fprint(stdout, "\n"+r.environmentLine()+"\n"+render([]table{r.floodTable()}))
		return nil
	}
	fmt.Fprint(stdout, r.text())
	if o.dexOnly {
		// A comparison alone is not a full report: printed, not written.
		return nil
	}
	return r.write(o.out)
}
