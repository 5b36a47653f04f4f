// Package keycache holds one issuer's token-signing keys: fetched on first use, refreshed
// in the background or when they grow old, refetched when a token names a key id the
// cache does not know, and served stale for a bounded time while the issuer cannot be
// reached.
//
// The rules, the same for every issuer whose keys tpx or an upload service trusts:
//   - an unknown key id causes at most one fetch per cooldown, and concurrent callers
//     share the fetch in flight;
//   - a fetch has a deadline of its own and runs for every waiter, so a caller who gives
//     up does not fail the others;
//   - a failed fetch (an error, or no usable key) never replaces the keys held;
//   - keys older than MaxStale are not used: past that bound the cache fails closed.
//
// The package also holds the pieces every key fetch needs: a bounded GET (Get), a
// redirect policy that never leaves the host asked (SameHostRedirects) and a JWKS parser
// that keeps only the keys its caller can use (ParseJWKS). It imports the standard library
// and go-jose only, so that upload services that embed it stay small.
package keycache

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Defaults of Config.
const (
	DefaultRefresh      = time.Hour
	DefaultCooldown     = 60 * time.Second
	DefaultMaxStale     = 24 * time.Hour
	DefaultFetchTimeout = 5 * time.Second
)

// Errors of Key; test them with errors.Is.
var (
	// ErrUnavailable: no keys could be fetched yet, or those held are older than
	// MaxStale and could not be refreshed. The token may be valid: this is a temporary
	// failure, not a verdict.
	ErrUnavailable = errors.New("signing keys are unavailable")
	// ErrUnknownKey: the key id is not in the key set held. When the refetch this caused
	// (or the last one, within the cooldown) failed, the error matches ErrUnavailable
	// too: the issuer may have published the key in the set that could not be read, and
	// the caller chooses which answer that deserves.
	ErrUnknownKey = errors.New("the key id is not in the issuer's key set")
)

var (
	errCooldown = errors.New("a fetch was attempted less than a cooldown ago")
	errClosed   = errors.New("the key cache is closed")
)

// Config configures a Cache. Only Fetch is required; zero durations take the defaults.
type Config[K any] struct {
	// Fetch reads the issuer's current keys by key id. It must return an error rather
	// than an empty or partial set it does not trust; an empty map is treated as one.
	Fetch func(ctx context.Context) (map[string]K, error)
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Refresh is the age after which keys are refetched: by Run in the background, or by
	// the next Key (which waits for the fetch, then uses the keys it holds).
	Refresh time.Duration
	// Cooldown is the least time between two fetches that Key causes.
	Cooldown time.Duration
	// MaxStale is how long after the last successful fetch keys are still used.
	MaxStale time.Duration
	// FetchTimeout bounds one call of Fetch.
	FetchTimeout time.Duration
	// OnFetch, if set, is told the outcome of every fetch, with the keys held before and
	// after (the same map when it failed), for logs and metrics. It must not block.
	OnFetch func(old, cur map[string]K, err error)
}

// Cache holds one issuer's keys. It is safe for concurrent use.
type Cache[K any] struct {
	cfg    Config[K]
	base   context.Context // parent of every fetch; Close cancels it
	cancel context.CancelFunc
	wg     sync.WaitGroup // fetches in flight

	mu          sync.Mutex
	keys        map[string]K
	fetchedAt   time.Time // of the last success
	lastAttempt time.Time
	lastErr     error // of the last attempt; nil after a success
	fetches     int
	inflight    *call
	closed      bool
}

// call is one fetch in flight; done is closed when it ends, after err is set.
type call struct {
	done chan struct{}
	err  error
}

// New returns a Cache for cfg. It makes no request: the first Key or Run fetches.
func New[K any](cfg Config[K]) (*Cache[K], error) {
	if cfg.Fetch == nil {
		return nil, errors.New("keycache: Config.Fetch is required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"refresh", &cfg.Refresh, DefaultRefresh},
		{"cooldown", &cfg.Cooldown, DefaultCooldown},
		{"max stale", &cfg.MaxStale, DefaultMaxStale},
		{"fetch timeout", &cfg.FetchTimeout, DefaultFetchTimeout},
	} {
		if *d.v < 0 {
			return nil, fmt.Errorf("keycache: negative %s %v", d.name, *d.v)
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if cfg.Refresh < cfg.Cooldown {
		return nil, fmt.Errorf("keycache: refresh %v is shorter than cooldown %v", cfg.Refresh, cfg.Cooldown)
	}
	c := &Cache[K]{cfg: cfg}
	c.base, c.cancel = context.WithCancel(context.Background())
	return c, nil
}

// Key returns the key with id kid. Keys older than Refresh, or a kid not held, cause a
// fetch unless one was attempted less than a cooldown ago; the caller waits for it (or
// for ctx), sharing it with every other caller.
func (c *Cache[K]) Key(ctx context.Context, kid string) (K, error) {
	var zero K
	c.mu.Lock()
	k, found := c.keys[kid]
	age := c.cfg.Now().Sub(c.fetchedAt)
	c.mu.Unlock()
	if found && age < c.cfg.Refresh {
		return k, nil
	}

	ferr := c.refresh(ctx, false)
	if ctx.Err() != nil {
		return zero, fmt.Errorf("%w: waiting for keys: %w", ErrUnavailable, ctx.Err())
	}

	c.mu.Lock()
	k, found = c.keys[kid]
	age = c.cfg.Now().Sub(c.fetchedAt)
	have := len(c.keys) > 0
	lastErr := c.lastErr
	c.mu.Unlock()
	switch {
	case !have:
		return zero, fmt.Errorf("%w: no keys fetched yet: %s", ErrUnavailable, describe(ferr, lastErr))
	case age > c.cfg.MaxStale:
		return zero, fmt.Errorf("%w: keys are %v old, the limit is %v: %s", ErrUnavailable, age.Round(time.Second), c.cfg.MaxStale, describe(ferr, lastErr))
	case !found && lastErr != nil:
		return zero, fmt.Errorf("%w: kid %q, and the key set could not be refreshed (%w): %s", ErrUnknownKey, clip(kid), ErrUnavailable, describe(ferr, lastErr))
	case !found:
		return zero, fmt.Errorf("%w: kid %q", ErrUnknownKey, clip(kid))
	}
	return k, nil
}

// Holds reports whether kid is among the keys held, whatever their age; it never fetches.
func (c *Cache[K]) Holds(kid string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, found := c.keys[kid]
	return found
}

// Unknown reports whether Key(kid) would now fail with ErrUnknownKey at once: the keys
// held are usable (fetched, within MaxStale), kid is not among them, no fetch is in flight
// and the last attempt was less than a cooldown ago, so Key would neither fetch nor wait.
// It takes the lock once and allocates nothing, so that a caller can refuse a flood of
// unknown key ids before doing any other work for them; when it says false, Key decides.
func (c *Cache[K]) Unknown(kid string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, found := c.keys[kid]; found || len(c.keys) == 0 || c.inflight != nil || c.closed {
		return false
	}
	now := c.cfg.Now()
	return !c.lastAttempt.IsZero() && now.Sub(c.lastAttempt) < c.cfg.Cooldown && now.Sub(c.fetchedAt) <= c.cfg.MaxStale
}

// describe explains why a refresh did not help: the fetch error itself, or, when the
// cooldown kept us from trying, the error of the last attempt.
func describe(err, lastErr error) string {
	switch {
	case err == nil:
		return "fetched"
	case errors.Is(err, errCooldown) && lastErr != nil:
		return "last fetch failed: " + lastErr.Error()
	}
	return err.Error()
}

// clip bounds a string taken from a token before it reaches an error message or a log.
func clip(s string) string {
	const max = 64
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}

// Refresh fetches the keys now, whatever the cooldown, or joins the fetch in flight.
func (c *Cache[K]) Refresh(ctx context.Context) error { return c.refresh(ctx, true) }

// refresh runs or joins the one fetch in flight. The fetch does not belong to the caller:
// it runs under the cache's own context, so a caller who gives up does not fail the
// others waiting on it. Without force, a fetch attempted less than a cooldown ago
// prevents a new one.
func (c *Cache[K]) refresh(ctx context.Context, force bool) error {
	c.mu.Lock()
	cl := c.inflight
	if cl == nil {
		now := c.cfg.Now()
		switch {
		case c.closed:
			c.mu.Unlock()
			return errClosed
		case !force && !c.lastAttempt.IsZero() && now.Sub(c.lastAttempt) < c.cfg.Cooldown:
			c.mu.Unlock()
			return errCooldown
		}
		c.lastAttempt = now
		c.fetches++
		cl = &call{done: make(chan struct{})}
		c.inflight = cl
		c.wg.Add(1)
		go c.fetch(cl)
	}
	c.mu.Unlock()
	select {
	case <-cl.done:
		return cl.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *Cache[K]) fetch(cl *call) {
	defer c.wg.Done()
	ctx, cancel := context.WithTimeout(c.base, c.cfg.FetchTimeout)
	keys, err := c.cfg.Fetch(ctx)
	cancel()
	if err == nil && len(keys) == 0 {
		err = errors.New("no usable keys")
	}
	c.mu.Lock()
	old := c.keys
	if err != nil {
		c.lastErr = err
	} else {
		c.keys, c.fetchedAt, c.lastErr = keys, c.cfg.Now(), nil
	}
	cur := c.keys
	c.inflight = nil
	c.mu.Unlock()
	if c.cfg.OnFetch != nil {
		c.cfg.OnFetch(old, cur, err)
	}
	cl.err = err
	close(cl.done)
}

// Run refreshes in the background: at once, then every Refresh, or every Cooldown while
// the last attempt failed, until ctx is done or the cache is closed.
func (c *Cache[K]) Run(ctx context.Context) {
	for {
		_ = c.refresh(ctx, true)
		wait := c.cfg.Refresh
		c.mu.Lock()
		if c.lastErr != nil {
			wait = c.cfg.Cooldown
		}
		c.mu.Unlock()
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-c.base.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// Close cancels the fetch in flight, waits for it, and refuses further fetches. The keys
// held stay usable up to MaxStale.
func (c *Cache[K]) Close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.cancel()
	c.wg.Wait()
}

// Status is the state of a Cache, for metrics and readiness.
type Status struct {
	Keys      int       // keys held, usable while FetchedAt is within MaxStale
	FetchedAt time.Time // last successful fetch; zero if none
	LastError string    // of the last fetch attempt; empty after a success
	Fetches   int       // fetch attempts so far
}

// Status reports the cache's state.
func (c *Cache[K]) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := Status{Keys: len(c.keys), FetchedAt: c.fetchedAt, Fetches: c.fetches}
	if c.lastErr != nil {
		st.LastError = c.lastErr.Error()
	}
	return st
}
