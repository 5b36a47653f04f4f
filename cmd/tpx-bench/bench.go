package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"runtime"
	"time"

	"github.com/tpx-dev/tpx/internal/oidctest"
	"github.com/tpx-dev/tpx/store/postgres"
)

// sizes are the counts and durations of one run.
type sizes struct {
	levels         []int       // concurrencies of the end-to-end runs and their floors
	perLevel       map[int]int // exchanges measured at each concurrency
	warmup         int         // exchanges before the first measured level of a server
	inProcess      int         // exchanges of the in-process run
	inProcessConc  int
	cryptoFor      time.Duration // each crypto floor
	floorFor       time.Duration // each database floor
	basePublishers int           // publishers (one per project) present in every run
	bigPublishers  int           // publishers in the large growth case
	growthN        int           // sequential exchanges per publisher-count case
	projectsN      int           // sequential exchanges per projects-per-publisher case
	multiProjects  int           // projects of the one publisher in the large case
	flood          int           // tokens with unknown kids
	floods         []floodShape  // the floods, one after another
	floodCooldown  time.Duration // the key caches' cooldown during the flood
	baselineFor    time.Duration // valid traffic without a flood
}

func sizesFor(quick bool) sizes {
	s := sizes{
		levels:         []int{1, 8, 32, 128},
		perLevel:       map[int]int{1: 1000, 8: 4000, 32: 4000, 128: 4000},
		warmup:         500,
		inProcess:      4000,
		inProcessConc:  16,
		cryptoFor:      2 * time.Second,
		floorFor:       3 * time.Second,
		basePublishers: 1000,
		bigPublishers:  1_000_000,
		growthN:        1000,
		projectsN:      100,
		multiProjects:  1000,
		flood:          30_000,
		floods:         []floodShape{{conc: 8}, {conc: 64}, {conc: 64, fresh: true}},
		floodCooldown:  time.Second,
		baselineFor:    6 * time.Second,
	}
	if quick {
		s.perLevel = map[int]int{1: 200, 8: 600, 32: 600, 128: 600}
		s.warmup = 100
		s.inProcess = 1000
		s.cryptoFor = 500 * time.Millisecond
		s.floorFor = time.Second
		s.bigPublishers = 100_000
		s.growthN = 200
		s.projectsN = 30
		s.baselineFor = 2 * time.Second
		s.flood = 10_000
	}
	return s
}

// bench is one run: its environment, its fixtures and what it measured.
type bench struct {
	opts  options
	sizes sizes
	log   io.Writer

	secret string // TPX_SECRET_KEY of every service of the run
	iss    *oidctest.Issuer
	db     *pgDatabase

	// tokens are valid CI tokens, one per exchange, for the base publishers in turn; a
	// phase that runs after another on the same database first clears the exchange records (the replay records).
	tokens [][]byte

	res results
}

func (b *bench) say(format string, args ...any) {
	fmt.Fprintf(b.log, "%s  "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

func (b *bench) run(ctx context.Context) error {
	start := time.Now()
	b.secret = rand.Text() + rand.Text()
	b.res.env = environment(b.opts.quick, b.opts.dexOnly)
	b.res.sizes = b.sizes

	iss, err := oidctest.Serve()
	if err != nil {
		return err
	}
	defer iss.Close()
	b.iss = iss

	b.say("creating a PostgreSQL database of the run's own")
	db, err := createDatabase(ctx, b.opts.dbURL)
	if err != nil {
		return err
	}
	defer db.drop()
	b.db = db
	b.res.env.postgres = db.version
	st, err := postgres.Open(ctx, withPoolSize(db.url))
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		return err
	}
	if err := db.seed(ctx, b.baseSpec()); err != nil {
		return fmt.Errorf("seeding: %w", err)
	}

	b.say("signing %d CI tokens (RS256) ahead of the measurements", b.tokensNeeded())
	if b.tokens, err = b.sign(ctx, b.tokensNeeded(), b.baseRepoFor); err != nil {
		return err
	}

	if b.opts.flood {
		b.say("key flood")
		if err := b.keyFlood(ctx); err != nil {
			return err
		}
		b.res.took = time.Since(start)
		return nil
	}
	if b.opts.dexOnly {
		if err := b.compareDex(ctx); err != nil {
			return err
		}
		b.res.took = time.Since(start)
		return nil
	}
	b.say("crypto floors")
	if err := b.cryptoFloors(ctx); err != nil {
		return err
	}
	b.say("exchange in process (PostgreSQL store)")
	svc, err := newService(ctx, st, b.iss.URL(), b.secret, 0, false)
	if err != nil {
		return err
	}
	defer svc.close()
	core, err := newService(ctx, st, b.iss.URL(), b.secret, 0, true)
	if err != nil {
		return err
	}
	defer core.close()
	if err := b.inProcess(ctx, svc, core); err != nil {
		return err
	}
	if err := b.endToEndPostgres(ctx); err != nil {
		return err
	}
	if b.opts.dex != "" {
		if err := b.compareDex(ctx); err != nil {
			return err
		}
	}
	if err := b.endToEndSQLite(ctx); err != nil {
		return err
	}
	b.say("key flood")
	if err := b.keyFlood(ctx); err != nil {
		return err
	}
	if err := b.tenants(ctx, st); err != nil {
		return err
	}
	if err := b.growth(ctx, svc, core); err != nil {
		return err
	}
	b.res.took = time.Since(start)
	b.say("done in %v", b.res.took.Round(time.Second))
	return nil
}

// tokensNeeded is the size of the main token set: enough for the largest phase.
func (b *bench) tokensNeeded() int {
	n := b.sizes.warmup
	for _, c := range b.sizes.levels {
		n += b.sizes.perLevel[c]
	}
	// The key flood's valid traffic: at most 500/s alone before each flood and after the
	// last, and three times as long per flood.
	flood := b.sizes.warmup + int(500*b.sizes.baselineFor.Seconds())*(1+4*len(b.sizes.floods))
	return max(n, b.sizes.inProcess+b.sizes.warmup, flood)
}

// A repository is a GitHub repository with numeric ids, and the projects whose publishers
// name it: one in the common case.
type repository struct {
	owner, name     string
	ownerID, repoID string
	projects        int
	projectName     func(j int) string
}

// Publisher sets. The base set is bench-org/repo-0000000…, one project each; the large
// growth case continues that numbering; solo and multi are one repository each, on one
// project and on multiProjects projects.
func (b *bench) baseRepo(i int) repository {
	return repository{
		owner: "bench-org", name: fmt.Sprintf("repo-%07d", i), ownerID: "4242", repoID: fmt.Sprint(1_000_000 + i),
		projects: 1, projectName: func(int) string { return fmt.Sprintf("bench-%07d", i) },
	}
}

func soloRepo(int) repository {
	return repository{owner: "solo-org", name: "one", ownerID: "4243", repoID: "3000001",
		projects: 1, projectName: func(int) string { return "solo-project" }}
}

func (b *bench) multiRepo(int) repository {
	return repository{owner: "multi-org", name: "many", ownerID: "4244", repoID: "3000002",
		projects: b.sizes.multiProjects, projectName: func(j int) string { return fmt.Sprintf("multi-%04d", j) }}
}

// baseSpec is the base publisher set.
func (b *bench) baseSpec() seedSpec {
	return seedSpec{issuer: b.iss.URL(), repos: b.sizes.basePublishers, repo: b.baseRepo}
}

// baseRepoFor cycles through the base publishers.
func (b *bench) baseRepoFor(i int) repository { return b.baseRepo(i % b.sizes.basePublishers) }

func memStatsMallocs() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.Mallocs
}

// tempDir is a directory for one SQLite store, removed by the returned function.
func tempDir() (string, func(), error) {
	dir, err := os.MkdirTemp("", "tpx-bench-")
	if err != nil {
		return "", nil, err
	}
	return dir, func() { os.RemoveAll(dir) }, nil
}
