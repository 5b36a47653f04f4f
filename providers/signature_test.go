package providers

import (
	"crypto/rand"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/tpx-dev/tpx/internal/oidctest"
	"github.com/tpx-dev/tpx/policy"
)

// The header cache spares go-jose's parse for headers the issuer signed with; it must
// never spare the signature check, and nobody without the issuer's key may fill it.
func TestHeaderCache(t *testing.T) {
	iss := oidctest.New(t)
	s, err := New(Config{Audience: "tpx", Issuers: []IssuerConfig{{Kind: policy.GitHub, Issuer: iss.URL()}}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	is := s.byIss[iss.URL()]
	cached := func() int {
		is.headers.mu.RLock()
		defer is.headers.mu.RUnlock()
		return len(is.headers.m)
	}
	sig := make([]byte, 256)
	for _, tc := range []struct {
		name  string
		token func() string
	}{
		{"tokens with unknown kids leave nothing behind", func() string {
			return iss.Sign(iss.GitHubClaims(nil), oidctest.WithKid(rand.Text()), oidctest.WithSignature(sig))
		}},
		{"tokens signed by another key under the issuer's kid leave nothing behind", func() string {
			return iss.Sign(iss.GitHubClaims(nil), oidctest.WithKey(oidctest.AttackerKey()))
		}},
		{"tokens with a header of their own and a random signature leave nothing behind", func() string {
			return iss.Sign(iss.GitHubClaims(nil), oidctest.WithHeader("x-"+rand.Text(), "1"), oidctest.WithSignature(sig))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for range 100 {
				if _, err := s.Verify(t.Context(), tc.token()); !errors.Is(err, ErrInvalidToken) {
					t.Fatalf("Verify = %v, want ErrInvalidToken", err)
				}
			}
			if n := cached(); n != 0 {
				t.Fatalf("%d headers cached", n)
			}
		})
	}
	t.Run("a header the issuer signed is remembered, and its signature is still checked every time", func(t *testing.T) {
		good := iss.Sign(iss.GitHubClaims(nil))
		if _, err := s.Verify(t.Context(), good); err != nil {
			t.Fatal(err)
		}
		if n := cached(); n != 1 {
			t.Fatalf("%d headers cached, want 1", n)
		}
		// The same header, another payload, the genuine token's signature: refused.
		other := iss.Sign(iss.GitHubClaims(map[string]any{"repository": "mallory/repo"}))
		parts, otherParts := strings.Split(good, "."), strings.Split(other, ".")
		if parts[0] != otherParts[0] {
			t.Fatal("the issuer's two tokens have different headers")
		}
		for _, forged := range []string{
			parts[0] + "." + otherParts[1] + "." + parts[2],
			iss.Sign(iss.GitHubClaims(nil), oidctest.WithKey(oidctest.AttackerKey())),
		} {
			if !strings.HasPrefix(forged, parts[0]+".") {
				t.Fatal("the forgery does not reuse the remembered header")
			}
			if _, err := s.Verify(t.Context(), forged); !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("forgery with a remembered header: Verify = %v, want ErrInvalidToken", err)
			}
		}
	})
	t.Run("the cache starts afresh when full", func(t *testing.T) {
		for range maxHeaders + 1 {
			is.headers.put(rand.Text(), header{})
		}
		if n := cached(); n > maxHeaders {
			t.Fatalf("%d headers cached, at most %d allowed", n, maxHeaders)
		}
	})
}
