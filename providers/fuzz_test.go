package providers_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/tpx-dev/tpx/internal/oidctest"
	"github.com/tpx-dev/tpx/providers"
)

// FuzzVerify feeds arbitrary strings to Verify: it must never panic, every error must
// belong to exactly one class, error texts stay short, and an input refused as malformed
// or from an unknown issuer must not have reached the issuer.
func FuzzVerify(f *testing.F) {
	w := newWorld(f)
	iss := w.issuer()
	s := w.set(nil, github(iss))
	claims := iss.GitHubClaims(nil)
	genuine := iss.Sign(claims)
	parts := strings.Split(genuine, ".")
	for _, seed := range []string{
		genuine,
		iss.Sign(claims, oidctest.WithAlg("none")),
		iss.Sign(claims, oidctest.WithAlg("HS256")),
		iss.Sign(claims, oidctest.WithKey(oidctest.AttackerKey())),
		iss.Sign(claims, oidctest.WithoutKid()),
		iss.Sign(claims, oidctest.WithHeader("jku", "http://127.0.0.1:1/jwks")),
		iss.Sign(iss.GitHubClaims(map[string]any{"iss": "https://token.actions.githubusercontent.com"})),
		iss.Sign(iss.GitHubClaims(map[string]any{"iss": iss.URL() + "/"})),
		iss.Sign(iss.GitLabClaims(nil)),
		iss.Sign(nil, oidctest.WithPayload([]byte(`{"iss":"`+iss.URL()+`","ISS":"x"}`))),
		parts[0] + "." + parts[1],
		genuine + "." + parts[2],
		"...",
		"a.b.c",
		"e30.e30.e30",
		"",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		before := iss.Requests()
		id, err := s.Verify(context.Background(), raw)
		if err == nil {
			if id.Issuer != iss.URL() || id.JTI == "" || id.Repository == "" {
				t.Fatalf("accepted with an incomplete identity: %+v", id)
			}
			return
		}
		classes := 0
		for _, class := range []error{providers.ErrMalformed, providers.ErrUnknownIssuer, providers.ErrInvalidToken, providers.ErrKeysUnavailable} {
			if errors.Is(err, class) {
				classes++
			}
		}
		if classes != 1 {
			t.Fatalf("error in %d classes: %v", classes, err)
		}
		if len(err.Error()) > 1024 {
			t.Fatalf("an error of %d bytes", len(err.Error()))
		}
		if errors.Is(err, providers.ErrMalformed) || errors.Is(err, providers.ErrUnknownIssuer) {
			if n := iss.Requests() - before; n != 0 {
				t.Fatalf("%v, yet the issuer received %d requests", err, n)
			}
		}
	})
}
