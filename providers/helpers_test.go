package providers_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/tpx-dev/tpx/internal/oidctest"
	"github.com/tpx-dev/tpx/policy"
	"github.com/tpx-dev/tpx/providers"
)

// t0 is when every test's clock starts; tests move it, never the wall clock.
var t0 = time.Date(2026, time.March, 2, 9, 30, 0, 0, time.UTC)

// world is a clock shared by the issuers and the Set under test.
type world struct {
	t     testing.TB
	clock *oidctest.Clock
}

func newWorld(t testing.TB) *world { return &world{t: t, clock: oidctest.NewClock(t0)} }

func (w *world) issuer(opts ...oidctest.Option) *oidctest.Issuer {
	w.t.Helper()
	return oidctest.New(w.t, append([]oidctest.Option{oidctest.WithClock(w.clock.Now)}, opts...)...)
}

// set builds a Set for the given issuers with the world's clock; edit, if not nil, may
// change the config first. The Set is closed when the test ends.
func (w *world) set(edit func(*providers.Config), issuers ...providers.IssuerConfig) *providers.Set {
	w.t.Helper()
	cfg := providers.Config{
		Audience: "tpx",
		Issuers:  issuers,
		Now:      w.clock.Now,
		Logger:   slog.New(slog.NewTextHandler(w.t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if edit != nil {
		edit(&cfg)
	}
	s, err := providers.New(cfg)
	if err != nil {
		w.t.Fatalf("providers.New: %v", err)
	}
	w.t.Cleanup(s.Close)
	return s
}

func github(iss *oidctest.Issuer) providers.IssuerConfig {
	return providers.IssuerConfig{Kind: policy.GitHub, Issuer: iss.URL()}
}

func gitlab(iss *oidctest.Issuer) providers.IssuerConfig {
	return providers.IssuerConfig{Kind: policy.GitLab, Issuer: iss.URL()}
}

func verify(s *providers.Set, raw string) (policy.Identity, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return s.Verify(ctx, raw)
}

// mustVerify fails the test unless raw verifies.
func mustVerify(t testing.TB, s *providers.Set, raw string) policy.Identity {
	t.Helper()
	id, err := verify(s, raw)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return id
}

// mustFail fails the test unless Verify refuses raw with want.
func mustFail(t testing.TB, s *providers.Set, raw string, want error) error {
	t.Helper()
	_, err := verify(s, raw)
	if !errors.Is(err, want) {
		t.Fatalf("Verify: got error %v, want %v", err, want)
	}
	t.Logf("refused: %v", err)
	return err
}

// noRequests fails the test if any of the issuers received a request.
func noRequests(t testing.TB, issuers ...*oidctest.Issuer) {
	t.Helper()
	for _, iss := range issuers {
		if n := iss.Requests(); n != 0 {
			t.Fatalf("issuer %s received %d requests, want none", iss.URL(), n)
		}
	}
}

func status(t testing.TB, s *providers.Set, issuer string) providers.KeyStatus {
	t.Helper()
	for _, ks := range s.KeyStatus() {
		if ks.Issuer == issuer {
			return ks
		}
	}
	t.Fatalf("no key status for %s", issuer)
	return providers.KeyStatus{}
}
