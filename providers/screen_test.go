package providers_test

import (
	"errors"
	"testing"

	"github.com/tpx-dev/tpx/internal/oidctest"
	"github.com/tpx-dev/tpx/providers"
)

// TestScreenRefusesOnlyWhatVerifyRefusesAndNeverFetches holds Screen to Verify on tokens
// of every kind: a token Screen refuses, Verify refuses with the same class and words and
// for the same issuer; Screen itself never fetches keys; and it refuses unknown key ids
// while the cooldown holds, which is what makes a flood of them cheap.
func TestScreenRefusesOnlyWhatVerifyRefusesAndNeverFetches(t *testing.T) {
	w := newWorld(t)
	iss := w.issuer()
	off := w.issuer()
	offCfg := github(off)
	offCfg.Disabled = true
	s := w.set(nil, github(iss), offCfg)
	mustVerify(t, s, iss.Sign(iss.GitHubClaims(nil)))
	junk := []byte("junk")
	for _, tc := range []struct {
		name    string
		token   func() string
		refused bool
	}{
		{"An unknown kid within the cooldown is refused", func() string {
			return iss.Sign(iss.GitHubClaims(nil), oidctest.WithKid("made-up"), oidctest.WithSignature(junk))
		}, true},
		{"A valid token passes", func() string { return iss.Sign(iss.GitHubClaims(nil)) }, false},
		{"A held kid with a bad signature is left to Verify", func() string {
			return iss.Sign(iss.GitHubClaims(nil), oidctest.WithSignature(junk))
		}, false},
		{"An algorithm outside the allowlist is left to Verify, which names it", func() string {
			return iss.Sign(iss.GitHubClaims(nil), oidctest.WithKid("made-up"), oidctest.WithAlg("HS256"), oidctest.WithSignature(junk))
		}, false},
		{"A header with other members is left to go-jose", func() string {
			return iss.Sign(iss.GitHubClaims(nil), oidctest.WithKid("made-up"), oidctest.WithHeader("crit", []string{"exp"}), oidctest.WithSignature(junk))
		}, false},
		{"A kid that is not a string is left to Verify", func() string {
			return iss.Sign(iss.GitHubClaims(nil), oidctest.WithHeader("kid", 7), oidctest.WithSignature(junk))
		}, false},
		{"An unknown issuer is left to Verify", func() string {
			return iss.Sign(iss.GitHubClaims(map[string]any{"iss": "https://elsewhere.example"}), oidctest.WithKid("made-up"), oidctest.WithSignature(junk))
		}, false},
		{"A switched-off issuer is left to Verify", func() string {
			return off.Sign(off.GitHubClaims(nil), oidctest.WithKid("made-up"), oidctest.WithSignature(junk))
		}, false},
		{"A malformed token is left to Verify", func() string { return "not.a.jwt!" }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := tc.token()
			before := iss.JWKSFetches() + off.JWKSFetches()
			issuer, _, err := s.Screen(raw)
			if n := iss.JWKSFetches() + off.JWKSFetches() - before; n != 0 {
				t.Fatalf("Screen fetched keys %d times", n)
			}
			if (err != nil) != tc.refused {
				t.Fatalf("Screen: %v, want refused %v", err, tc.refused)
			}
			if err == nil {
				return
			}
			id, verr := verify(s, raw)
			var got, want *providers.CheckError
			if !errors.As(err, &got) || !errors.As(verr, &want) || !errors.Is(err, providers.ErrInvalidToken) || got.Public != want.Public {
				t.Fatalf("Screen refused with %v; Verify with %v", err, verr)
			}
			if issuer != id.Issuer || issuer != iss.URL() {
				t.Fatalf("Screen named issuer %q, Verify %q", issuer, id.Issuer)
			}
		})
	}
	t.Run("A valid token's key is held: Verify will not fetch", func(t *testing.T) {
		if _, fetch, err := s.Screen(iss.Sign(iss.GitHubClaims(nil))); err != nil || fetch {
			t.Fatalf("Screen: fetch %v, %v", fetch, err)
		}
	})
	t.Run("After the cooldown an unknown kid is left to Verify, which may fetch", func(t *testing.T) {
		w.clock.Advance(providers.DefaultCooldown)
		raw := iss.Sign(iss.GitHubClaims(nil), oidctest.WithKid("made-up"), oidctest.WithSignature(junk))
		if _, fetch, err := s.Screen(raw); err != nil || !fetch {
			t.Fatalf("Screen refused a token whose key a fetch may bring, or did not say it would fetch: %v, %v", fetch, err)
		}
		mustFail(t, s, raw, providers.ErrInvalidToken)
		if _, _, err := s.Screen(raw); err == nil {
			t.Fatal("Screen let an unknown kid through right after the fetch it caused")
		}
	})
}
