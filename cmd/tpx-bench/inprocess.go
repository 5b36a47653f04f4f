package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"
)

// exchangeAll runs exchange.Service.Exchange on every token from c goroutines in this
// process and measures wall time, this process's CPU time and its allocations.
func exchangeAll(ctx context.Context, svc *service, bodies [][]byte, c int) runResult {
	raws := make([]string, len(bodies))
	for i, b := range bodies {
		raws[i] = tokenOf(b)
	}
	return eachOnce(ctx, len(raws), c, func(i int) error {
		_, err := svc.ex.Exchange(ctx, raws[i])
		return err
	})
}

// inProcess measures exchange.Service alone, on the PostgreSQL store: no HTTP, no JSON
// request body, no child process; as tpx serve wires it, then without the owner UI's
// observer (the same tokens again, the exchange records emptied between).
func (b *bench) inProcess(ctx context.Context, svc, core *service) error {
	s := b.sizes
	for _, run := range []struct {
		svc  *service
		name string
		out  *runResult
	}{{svc, "inprocess", &b.res.inProcess}, {core, "inprocess-core", &b.res.inProcessCore}} {
		warm := exchangeAll(ctx, run.svc, b.tokens[:s.warmup], s.inProcessConc)
		if err := errRun("in-process warm-up", warm); err != nil {
			return err
		}
		stopProfile, err := startProfile(b.opts.profile, run.name)
		if err != nil {
			return err
		}
		r := exchangeAll(ctx, run.svc, b.tokens[s.warmup:s.warmup+s.inProcess], s.inProcessConc)
		if err := stopProfile(); err != nil {
			return err
		}
		if err := errRun("in process", r); err != nil {
			return err
		}
		*run.out = r
		b.say("  %s: %.0f exchanges/s, %.0f per core-second, %.0f allocations each", run.name, r.rate(), r.perCore(), r.allocsPerOp())
		if err := b.db.resetReplay(ctx); err != nil {
			return err
		}
	}
	return nil
}

// growth measures sequential exchange latency in process as the store grows: with the
// base publishers against many more, and for a publisher on one project against one on
// many.
func (b *bench) growth(ctx context.Context, svc, core *service) error {
	s := b.sizes
	const warm = 20
	if err := b.db.resetReplay(ctx); err != nil {
		return err
	}
	b.say("growth: seeding one publisher on 1 project and one on %d projects (COPY)", s.multiProjects)
	if err := b.db.seed(ctx, seedSpec{issuer: b.iss.URL(), repos: 1, repo: soloRepo}); err != nil {
		return err
	}
	if err := b.db.seed(ctx, seedSpec{issuer: b.iss.URL(), repos: 1, repo: b.multiRepo}); err != nil {
		return err
	}
	// Repositories drawn at random (the same ones every run) from the whole set: a large
	// registry is used all over, not on the few rows that happen to be cached.
	rnd := rand.New(rand.NewPCG(4, 2))
	drawn := func(n, of int) func(int) repository {
		picks := make([]int, n)
		for i := range picks {
			picks[i] = rnd.IntN(of)
		}
		return func(i int) repository { return b.baseRepo(picks[i]) }
	}
	small, err := b.sign(ctx, s.growthN+warm, drawn(s.growthN+warm, s.basePublishers))
	if err != nil {
		return err
	}
	big, err := b.sign(ctx, s.growthN+warm, drawn(s.growthN+warm, s.bigPublishers))
	if err != nil {
		return err
	}
	solo, err := b.sign(ctx, s.projectsN+warm, soloRepo)
	if err != nil {
		return err
	}
	multi, err := b.sign(ctx, s.projectsN+warm, b.multiRepo)
	if err != nil {
		return err
	}
	sequential := func(svc *service, what string, bodies [][]byte) (runResult, error) {
		if err := errRun(what+" warm-up", exchangeAll(ctx, svc, bodies[:warm], 1)); err != nil {
			return runResult{}, err
		}
		w0 := b.db.wal(ctx)
		r := exchangeAll(ctx, svc, bodies[warm:], 1)
		if w1 := b.db.wal(ctx); w0.measured && w1.measured {
			r.wal = walUse{measured: true, bytes: w1.bytes - w0.bytes}
		}
		b.say("  %s: p50 %v p99 %v, WAL %s per exchange", what, r.p50(), r.p99(), r.wal.per(r.n))
		return r, errRun(what, r)
	}
	g := &b.res.growth
	// Each size is measured right after a checkpoint, as the large one is after its load:
	// the first change to a page after a checkpoint writes the whole page to the log, and
	// how many pages an exchange touches for the first time is what grows with the data.
	b.db.checkpoint(ctx)
	if g.small, err = sequential(svc, fmt.Sprintf("%d publishers", s.basePublishers), small); err != nil {
		return err
	}
	many := fmt.Sprintf("one publisher on %d projects", s.multiProjects)
	if g.oneProject, err = sequential(svc, "one publisher on 1 project", solo); err != nil {
		return err
	}
	if g.manyProjects, err = sequential(svc, many, multi); err != nil {
		return err
	}
	// The same again without the owner UI's observer, on the same tokens.
	if err := b.db.resetReplay(ctx); err != nil {
		return err
	}
	if g.oneProjectCore, err = sequential(core, "exchange core, one publisher on 1 project", solo); err != nil {
		return err
	}
	if g.manyProjectsCore, err = sequential(core, "exchange core, "+many, multi); err != nil {
		return err
	}
	b.say("growth: seeding %d more publishers, each on a project of its own (COPY)", s.bigPublishers-s.basePublishers)
	t0 := time.Now()
	if err := b.db.seed(ctx, seedSpec{issuer: b.iss.URL(), from: s.basePublishers, repos: s.bigPublishers - s.basePublishers, repo: b.baseRepo}); err != nil {
		return err
	}
	g.seeded = time.Since(t0)
	b.db.checkpoint(ctx)
	b.say("  seeded in %v", g.seeded.Round(time.Millisecond))
	g.big, err = sequential(svc, fmt.Sprintf("%d publishers", s.bigPublishers), big)
	return err
}
