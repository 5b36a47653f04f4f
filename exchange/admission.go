package exchange

import (
	"context"
	"runtime"
	"sync/atomic"
)

// Screener is a Verifier that can refuse some tokens at once (providers.Set.Screen), in
// their turn at verification but for next to nothing.
type Screener interface {
	// Screen returns the refusal Verify would give raw when it can tell without checking a
	// signature, fetching or waiting, else nil; issuer is the configured issuer raw named.
	// fetch says that Verify would wait for the issuer's keys to be fetched.
	Screen(raw string) (issuer string, fetch bool, err error)
}

// Admission bounds the tokens being verified at once. Verification is the part of an
// exchange anyone can cause without holding anything: a flood of forged tokens must not
// take the processors from exchanges that have verified and wait only on the database. A
// token waits for a turn, first come first served; when Queue tokens already wait, it is
// refused at once with ErrBusy, which asks the client to retry.
type Admission struct {
	// Turns is how many tokens are verified at once; 0 means one per processor
	// (GOMAXPROCS), since verification never waits on anything but the processor and,
	// rarely, the issuer's keys.
	Turns int
	// Queue is how many tokens may wait for a turn; 0 means 64 per turn.
	Queue int
}

// admission is the queue of an Admission.
type admission struct {
	turns   chan struct{}
	waiting atomic.Int64
	queue   int64
}

func newAdmission(a Admission) *admission {
	if a.Turns <= 0 {
		a.Turns = runtime.GOMAXPROCS(0)
	}
	if a.Queue <= 0 {
		a.Queue = 64 * a.Turns
	}
	return &admission{turns: make(chan struct{}, a.Turns), queue: int64(a.Queue)}
}

// enter waits for a turn; the caller calls leave when it is done verifying. Waiters are
// served in the order they came (a channel's blocked senders are a queue).
func (a *admission) enter(ctx context.Context) error {
	select {
	case a.turns <- struct{}{}:
		return nil
	default:
	}
	if a.waiting.Add(1) > a.queue {
		a.waiting.Add(-1)
		return errBusy
	}
	defer a.waiting.Add(-1)
	select {
	case a.turns <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fail(ErrUnavailable, "the request ended while it waited for its turn", ctx.Err())
	}
}

func (a *admission) leave() { <-a.turns }

// errBusy is the one refusal of a full queue, made once: refusing a flood allocates
// nothing per request.
var errBusy = fail(ErrBusy, "too many tokens are waiting to be verified; retry after the number of seconds in Retry-After", nil)
