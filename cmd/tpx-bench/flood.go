package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"sync/atomic"
	"time"
)

// floodResult is the key-flood phase: valid traffic alone, then during a flood, alone
// again, and so on, each flood between two runs of the same valid traffic alone.
type floodResult struct {
	tokens    int
	cooldown  time.Duration
	validRate float64 // valid exchanges per second, paced, in every run
	// alone[i] is the valid traffic without a flood before runs[i]; the last one follows
	// the last flood. Each flood's ratio is to the lower p99 of its two neighbours, so that
	// one unlucky baseline cannot flatter it, and a load that moved during the phase
	// moves its baselines too.
	alone []aloneRun
	runs  []floodRun
}

// aloneRun is valid traffic without a flood.
type aloneRun struct {
	r    runResult
	load string // the load average at its start
}

// baseline is the calmer of the runs without a flood on either side of flood i.
func (f floodResult) baseline(i int) runResult {
	a, b := f.alone[i].r, f.alone[i+1].r
	if b.n > 0 && b.p99() < a.p99() {
		return b
	}
	return a
}

// ratio is flood i's valid p99 over its baseline's.
func (f floodResult) ratio(i int) float64 {
	return ratio(f.runs[i].during.p99(), f.baseline(i).p99())
}

type floodRun struct {
	shape       floodShape    // how the flood was sent
	took        time.Duration // from the first flood request to the last answer
	refused     int           // flood requests answered 422: refused, as they must be
	busy        int           // flood requests answered 503: too many waited for verification
	load        string        // the load average at the start
	jwksFetches int64         // key-set fetches during the flood
	discovery   int64         // discovery-document fetches during the flood
	during      runResult     // valid exchanges while the flood ran
}

// allowed is the most fetches the cooldown permits during the flood: one at its start and
// one per cooldown after.
func (r floodRun) allowed(cooldown time.Duration) int64 { return int64(r.took/cooldown) + 1 }

// keyFlood sends tokens with unknown kids at full speed to a PostgreSQL server whose key
// cooldown is shortened, so that a flood of seconds spans several cooldowns, while valid
// exchanges arrive at a steady rate from a process of their own; and the same valid
// traffic alone, for comparison.
func (b *bench) keyFlood(ctx context.Context) error {
	s := b.sizes
	if err := b.db.resetReplay(ctx); err != nil {
		return err
	}
	srv, err := b.startServer(ctx, "server-flood", "-postgres", b.db.url, "-cooldown", s.floodCooldown.String())
	if err != nil {
		return err
	}
	defer srv.stop()
	if err := errRun("flood warm-up", httpLoad(ctx, srv.url, b.tokens[:s.warmup], 8, http.StatusOK)); err != nil {
		return err
	}
	f := floodResult{tokens: s.flood, cooldown: s.floodCooldown}
	// A quarter of what the server sustains, within 20/s and 500/s: busy, not saturated.
	f.validRate = max(20, min(500, b.res.postgres.best().run.rate()/4))
	if len(b.res.postgres.levels) == 0 {
		f.validRate = floodOnlyRate
	}
	next := s.warmup
	n := int(f.validRate * s.baselineFor.Seconds())
	alone := func() error {
		load := loadAverage()
		snd, err := b.startSender(ctx, srv.url, b.tokens[next:next+n], f.validRate)
		if err != nil {
			return err
		}
		next += n
		select {
		case <-ctx.Done():
		case <-time.After(s.baselineFor):
		}
		r, err := snd.stop()
		if err != nil {
			return err
		}
		f.alone = append(f.alone, aloneRun{r: r, load: load})
		b.say("  valid p99 without a flood: %v", r.p99())
		return errRun("valid exchanges without a flood", r)
	}
	if err := alone(); err != nil {
		return err
	}
	for _, shape := range s.floods {
		// Enough valid tokens for a flood three times as long as the baseline run.
		r, err := b.flood(ctx, srv, shape, b.tokens[next:next+3*n], f.validRate)
		if err != nil {
			return err
		}
		next += 3 * n
		f.runs = append(f.runs, r)
		b.say("  %d unknown kids from %s (%d refused, %d busy) in %v: %d JWKS fetches (at most %d allowed); valid p99 %v",
			r.refused+r.busy, shape, r.refused, r.busy, r.took.Round(time.Millisecond), r.jwksFetches, r.allowed(f.cooldown), r.during.p99())
		if err := alone(); err != nil {
			return err
		}
	}
	b.res.flood = f
	return nil
}

// floodOnlyRate is the valid traffic's rate when the flood runs alone (-flood-only), with no
// measured throughput to take a quarter of.
const floodOnlyRate = 100

// floodShape is how a flood is sent: from conc senders, each on a connection of its own
// or, fresh, on a new connection per request.
type floodShape struct {
	conc  int
	fresh bool
}

// label is the shape in the report's table.
func (s floodShape) label() string {
	if s.fresh {
		return itoa(s.conc) + " new"
	}
	return itoa(s.conc)
}

func (s floodShape) String() string {
	if s.fresh {
		return fmt.Sprintf("%d senders, a new connection per request", s.conc)
	}
	return fmt.Sprintf("%d connections", s.conc)
}

// flood sends fresh unknown-kid tokens as shape says while a sender sends valid.
func (b *bench) flood(ctx context.Context, srv *server, shape floodShape, valid [][]byte, rate float64) (floodRun, error) {
	conc := shape.conc
	flood := b.unknownKidTokens(b.sizes.flood)
	load := loadAverage()
	during, err := b.startSender(ctx, srv.url, valid, rate)
	if err != nil {
		return floodRun{}, err
	}
	jwks0, disc0 := b.iss.JWKSFetches(), b.iss.DiscoveryFetches()
	// The flood's client may use one processor of this machine's: an attacker brings
	// machines of its own, and a client on every core would measure how the cores are
	// shared between it and the server rather than what the server does with its share.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	var busy atomic.Int64
	client := newClient(conc)
	client.Transport.(*http.Transport).DisableKeepAlives = shape.fresh
	// The flood ends when its tokens run out or after a baseline run's time, whichever
	// comes first: a server that paces refused connections answers fewer tokens a second.
	// Requests under way when it ends are answered.
	sending, stop := context.WithTimeout(ctx, b.sizes.baselineFor)
	defer stop()
	fr := eachOnce(sending, len(flood), conc, func(i int) error {
		err := post(ctx, client, srv.url, jsonBody, flood[i], http.StatusUnprocessableEntity)
		var st *statusError
		if errors.As(err, &st) && st.got == http.StatusServiceUnavailable {
			busy.Add(1)
			return nil
		}
		return err
	})
	client.CloseIdleConnections()
	r := floodRun{shape: shape, took: fr.elapsed, refused: fr.n - int(busy.Load()), busy: int(busy.Load()), load: load,
		jwksFetches: b.iss.JWKSFetches() - jwks0, discovery: b.iss.DiscoveryFetches() - disc0}
	if r.during, err = during.stop(); err != nil {
		return r, err
	}
	if err := errRun("the flood", fr); err != nil {
		return r, err
	}
	return r, errRun("valid exchanges during the flood", r.during)
}
