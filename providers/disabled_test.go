package providers_test

import (
	"context"
	"errors"
	"testing"

	"github.com/tpx-dev/tpx/providers"
)

func TestSwitchedOffIssuer(t *testing.T) {
	w := newWorld(t)
	on, off := w.issuer(), w.issuer()
	offCfg := github(off)
	offCfg.Disabled = true
	s := w.set(nil, github(on), offCfg)
	s.Start(context.Background())

	t.Run("its valid token is refused as not enabled, and it is never contacted", func(t *testing.T) {
		id, err := verify(s, off.Sign(off.GitHubClaims(nil)))
		if !errors.Is(err, providers.ErrNotEnabled) {
			t.Fatalf("Verify: %v, want ErrNotEnabled", err)
		}
		if id.Issuer != off.URL() || id.Repository != "" {
			t.Fatalf("the refusal's identity is %+v; want the issuer alone", id)
		}
		noRequests(t, off)
	})
	t.Run("it has no key status, so no key-age alert fires for it", func(t *testing.T) {
		for _, ks := range s.KeyStatus() {
			if ks.Issuer == off.URL() {
				t.Fatalf("key status listed for a switched-off issuer: %+v", ks)
			}
		}
	})
	t.Run("it is still known, so publishers can be registered for it", func(t *testing.T) {
		ic, ok := s.Lookup(off.URL())
		if !ok || !ic.Disabled {
			t.Fatalf("Lookup = %+v, %v", ic, ok)
		}
	})
	t.Run("the other issuer works", func(t *testing.T) {
		mustVerify(t, s, on.Sign(on.GitHubClaims(nil)))
	})
	t.Run("a failure after iss named a configured issuer carries that issuer", func(t *testing.T) {
		id, err := verify(s, on.Sign(on.GitHubClaims(map[string]any{"aud": "other"})))
		if !errors.Is(err, providers.ErrInvalidToken) || id.Issuer != on.URL() {
			t.Fatalf("Verify = %+v, %v", id, err)
		}
		id, err = verify(s, on.Sign(on.GitHubClaims(map[string]any{"iss": "https://elsewhere.example"})))
		if !errors.Is(err, providers.ErrUnknownIssuer) || id.Issuer != "" {
			t.Fatalf("an unknown issuer's failure names %q (%v)", id.Issuer, err)
		}
	})
}
