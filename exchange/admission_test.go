package exchange

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tpx-dev/tpx/fault"
	"github.com/tpx-dev/tpx/internal/oidctest"
	"github.com/tpx-dev/tpx/policy"
	"github.com/tpx-dev/tpx/providers"
)

// gated is the real verifier behind a gate the test opens, counting the verifications
// running at once.
type gated struct {
	set               *providers.Set
	gate              chan struct{}
	running, most     atomic.Int64
	verified, screens atomic.Int64
}

func (g *gated) Verify(ctx context.Context, raw string) (policy.Identity, error) {
	n := g.running.Add(1)
	defer g.running.Add(-1)
	for m := g.most.Load(); n > m && !g.most.CompareAndSwap(m, n); m = g.most.Load() {
	}
	g.verified.Add(1)
	<-g.gate
	return g.set.Verify(ctx, raw)
}

func (g *gated) VerifyAudience(ctx context.Context, raw, audience string) (policy.Identity, error) {
	<-g.gate
	return g.set.VerifyAudience(ctx, raw, audience)
}

func (g *gated) Screen(raw string) (string, bool, error) {
	g.screens.Add(1)
	return g.set.Screen(raw)
}

func TestAdmissionBoundsTheTokensVerifiedAtOnce(t *testing.T) {
	w := newWorld(t)
	w.publisher("sampleproject", nil)
	g := &gated{set: w.ex.cfg.Verifier.(*providers.Set), gate: make(chan struct{})}
	cfg := w.ex.cfg
	cfg.Verifier, cfg.Admission = g, Admission{Turns: 2, Queue: 3}
	ex, err := New(cfg)
	must(t, err)
	// The keys are fetched once, outside the test's gate.
	if _, err := g.set.Verify(context.Background(), w.iss.Sign(w.iss.GitHubClaims(nil))); err != nil {
		t.Fatal(err)
	}

	var wg sync.WaitGroup
	errs := make(chan error, 5)
	start := func() {
		tok := w.iss.Sign(w.iss.GitHubClaims(nil))
		wg.Go(func() {
			_, err := ex.Exchange(context.Background(), tok)
			errs <- err
		})
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("never: %s", what)
			}
		}
	}
	for range 2 {
		start()
	}
	waitFor("two tokens in verification", func() bool { return g.running.Load() == 2 })
	for range 3 {
		start()
	}
	waitFor("three tokens waiting", func() bool { return ex.admit.waiting.Load() == 3 })

	t.Run("A token past the queue is refused at once as busy, without being looked at", func(t *testing.T) {
		_, err := ex.Exchange(context.Background(), w.iss.Sign(w.iss.GitHubClaims(nil)))
		if !errors.Is(err, ErrBusy) || fault.KindOf(err) != fault.Unavailable {
			t.Fatalf("got %v, want ErrBusy (unavailable)", err)
		}
		if n := g.screens.Load(); n != 2 {
			t.Fatalf("%d tokens screened, want the 2 in their turn", n)
		}
	})
	t.Run("A caller that gives up while waiting is refused and leaves the queue", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() {
			_, err := ex.Exchange(ctx, w.iss.Sign(w.iss.GitHubClaims(nil)))
			done <- err
		}()
		// The queue is full: this one was refused at once or waits; either way it ends.
		cancel()
		if err := <-done; !errors.Is(err, ErrBusy) && !errors.Is(err, ErrUnavailable) {
			t.Fatalf("got %v, want busy or unavailable", err)
		}
		if n := ex.admit.waiting.Load(); n != 3 {
			t.Fatalf("%d waiting after the caller left, want 3", n)
		}
	})
	t.Run("Every waiting token gets its turn, never more than two at once", func(t *testing.T) {
		close(g.gate)
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Errorf("exchange: %v", err)
			}
		}
		if m := g.most.Load(); m != 2 {
			t.Fatalf("%d verifications at once, want 2", m)
		}
	})
	t.Run("A token the verifier can refuse at once is refused in its turn without verification", func(t *testing.T) {
		before := g.verified.Load()
		_, err := ex.Exchange(context.Background(), w.iss.Sign(w.iss.GitHubClaims(nil), oidctest.WithKid("made-up"), oidctest.WithSignature([]byte("junk"))))
		var e *Error
		if !errors.As(err, &e) || !errors.Is(err, ErrInvalidToken) || e.Issuer != w.iss.URL() {
			t.Fatalf("got %v, want ErrInvalidToken counted against the issuer", err)
		}
		if g.verified.Load() != before {
			t.Fatal("the screened token was verified")
		}
	})
}

// TestATokenWaitingForItsIssuersKeysHoldsNoTurn: a token whose key id sends its issuer's
// keys to be fetched waits for the issuer, not for a processor; with one turn only, a valid
// token is exchanged while that fetch hangs.
func TestATokenWaitingForItsIssuersKeysHoldsNoTurn(t *testing.T) {
	w := newWorld(t)
	w.publisher("sampleproject", nil)
	cfg := w.ex.cfg
	cfg.Admission = Admission{Turns: 1}
	ex, err := New(cfg)
	must(t, err)
	if _, err := ex.Exchange(context.Background(), w.iss.Sign(w.iss.GitHubClaims(nil))); err != nil {
		t.Fatal(err)
	}
	w.clock.Advance(providers.DefaultCooldown) // an unknown kid may refetch again
	release := make(chan struct{})
	w.iss.SetJWKSHandler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-release }))
	before := w.iss.JWKSFetches()
	hung := make(chan error, 1)
	go func() {
		_, err := ex.Exchange(context.Background(), w.iss.Sign(w.iss.GitHubClaims(nil), oidctest.WithKid("rotated-in?"), oidctest.WithSignature([]byte("junk"))))
		hung <- err
	}()
	for deadline := time.Now().Add(10 * time.Second); w.iss.JWKSFetches() == before; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the unknown kid never caused a fetch")
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := ex.Exchange(ctx, w.iss.Sign(w.iss.GitHubClaims(nil))); err != nil {
		t.Fatalf("a valid token while another waited for a fetch: %v", err)
	}
	close(release)
	if err := <-hung; !errors.Is(err, ErrInvalidToken) && !errors.Is(err, ErrKeysUnavailable) {
		t.Fatalf("the token whose key never came: %v", err)
	}
}
