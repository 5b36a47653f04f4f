package token

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/tpx-dev/tpx/verify"
)

func TestMintedTokenVerifiesAtAnUploadService(t *testing.T) {
	f := newFixture(t)
	raw, minted, err := mint(f.minter, sampleClaims())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(raw, Prefix) {
		t.Fatalf("token %q lacks the %q prefix", raw, Prefix)
	}
	h := headerOf(t, raw)
	if h.Algorithm != "ES256" || h.ExtraHeaders[jose.HeaderType] != Type || h.KeyID == "" {
		t.Fatalf("header alg=%q typ=%v kid=%q", h.Algorithm, h.ExtraHeaders[jose.HeaderType], h.KeyID)
	}

	got, err := f.verifier.Verify(t.Context(), raw)
	if err != nil {
		t.Fatal(err)
	}
	now := f.clock.Now()
	if got.Issuer != f.srv.URL || got.Audience != Audience || got.Subject != "github:octo-org/octo-repo" ||
		!got.IssuedAt.Equal(now) || !got.NotBefore.Equal(now.Add(-30*time.Second)) || !got.ExpiresAt.Equal(now.Add(15*time.Minute)) {
		t.Errorf("verified claims %+v", got)
	}
	if jti, err := base64.RawURLEncoding.DecodeString(got.ID); err != nil || len(jti) != 16 {
		t.Errorf("jti %q is not 128 bits, base64url", got.ID)
	}
	if got.ID != minted.ID || !got.ExpiresAt.Equal(minted.ExpiresAt) || got.Publisher != minted.Publisher ||
		got.RunID != "9876543210" || got.Environment != "pypi" {
		t.Errorf("verified %+v, minted %+v", got, minted)
	}
	if !got.Covers("octo") || !got.Covers("octo-extras") || got.Covers("octo-evil") || !got.Covers("Octo") || !got.Covers("OCTO_extras") {
		t.Errorf("Covers is wrong for projects %v", got.Projects)
	}
	if _, again, _ := mint(f.minter, sampleClaims()); again.ID == minted.ID {
		t.Error("two tokens share a jti")
	}
	if n := f.fetches.Load(); n != 1 {
		t.Errorf("JWKS fetched %d times, want 1", n)
	}
}

func TestVerifierRejects(t *testing.T) {
	f := newFixture(t)
	kid := f.activeKID(t)
	priv := f.privateKey(t, kid)
	stranger, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	valid, _, err := mint(f.minter, sampleClaims())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.verifier.Verify(t.Context(), valid); err != nil {
		t.Fatal(err)
	}
	withClaims := func(change func(*Claims)) string {
		c := f.validClaims()
		change(&c)
		return sign(t, jose.ES256, jose.JSONWebKey{Key: priv, KeyID: kid}, "", Type, c)
	}
	b64 := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	header := func(alg string) string {
		return b64(`{"alg":"` + alg + `","kid":"` + kid + `","typ":"` + Type + `"}`)
	}
	payload := b64(string(must(json.Marshal(f.validClaims()))))

	tests := []struct {
		name string
		raw  string
		want error
	}{
		{"a token without the tpx_ prefix is malformed", strings.TrimPrefix(valid, Prefix), ErrMalformed},
		{"a token of more than 16 KiB is malformed before parsing", Prefix + strings.Repeat("a", 16<<10), ErrMalformed},
		{"a token that is not a compact JWS is malformed", Prefix + "not.a-jws", ErrMalformed},
		{"a token whose payload was changed does not verify", func() string {
			parts := strings.Split(valid, ".")
			c := f.validClaims()
			c.Projects = append(c.Projects, "someone-elses-project")
			parts[1] = b64(string(must(json.Marshal(c))))
			return strings.Join(parts, ".")
		}(), ErrSignature},
		{"a token signed with a key tpx never published has an unknown kid",
			sign(t, jose.ES256, jose.JSONWebKey{Key: stranger, KeyID: "stranger"}, "", Type, f.validClaims()), ErrUnknownKey},
		{"a token signed with another key under tpx's kid does not verify",
			sign(t, jose.ES256, jose.JSONWebKey{Key: stranger, KeyID: kid}, "", Type, f.validClaims()), ErrSignature},
		{"a token with alg none is malformed", Prefix + header("none") + "." + payload + ".", ErrMalformed},
		{"a token with alg HS256 keyed with the published key is malformed",
			sign(t, jose.HS256, f.minter.JWKS(), kid, Type, f.validClaims()), ErrMalformed},
		{"a token with alg ES384 is malformed", Prefix + header("ES384") + "." + payload + "." + b64("sig"), ErrMalformed},
		{"a token without typ is malformed", sign(t, jose.ES256, jose.JSONWebKey{Key: priv, KeyID: kid}, "", "", f.validClaims()), ErrMalformed},
		{"a token typed as a plain JWT is malformed", sign(t, jose.ES256, jose.JSONWebKey{Key: priv, KeyID: kid}, "", "JWT", f.validClaims()), ErrMalformed},
		{"a token without kid is malformed", sign(t, jose.ES256, priv, "", Type, f.validClaims()), ErrMalformed},
		{"a token from another issuer is refused", withClaims(func(c *Claims) { c.Issuer = "https://tpx.example" }), ErrIssuer},
		{"a token whose issuer differs by a trailing slash is refused", withClaims(func(c *Claims) { c.Issuer += "/" }), ErrIssuer},
		{"a token for another audience is refused", withClaims(func(c *Claims) { c.Audience = "tpx" }), ErrAudience},
		{"a token for several audiences is malformed", func() string {
			var m map[string]any
			json.Unmarshal(must(json.Marshal(f.validClaims())), &m)
			m["aud"] = []string{Audience, "other"}
			return sign(t, jose.ES256, jose.JSONWebKey{Key: priv, KeyID: kid}, "", Type, m)
		}(), ErrMalformed},
		{"a token without jti is malformed", withClaims(func(c *Claims) { c.ID = "" }), ErrMalformed},
		{"a token without exp is malformed", withClaims(func(c *Claims) { c.ExpiresAt = time.Time{} }), ErrMalformed},
		{"a token that expired beyond the leeway is refused", withClaims(func(c *Claims) {
			c.ExpiresAt = f.clock.Now().Add(-31 * time.Second)
		}), ErrExpired},
		{"a token whose nbf is beyond the leeway ahead is not valid yet", withClaims(func(c *Claims) {
			c.NotBefore = f.clock.Now().Add(time.Minute)
		}), ErrNotYetValid},
		{"a token issued in the future is not valid yet", withClaims(func(c *Claims) {
			c.IssuedAt = f.clock.Now().Add(time.Minute)
		}), ErrNotYetValid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.verifier.Verify(t.Context(), tt.raw)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify: %v, want %v", err, tt.want)
			}
			// The Minter's own check (introspection, revocation) agrees.
			if _, err := f.minter.Parse(tt.raw); !errors.Is(err, tt.want) {
				t.Fatalf("Parse: %v, want %v", err, tt.want)
			}
		})
	}
	t.Run("a token whose exp passed less than the leeway ago still verifies", func(t *testing.T) {
		raw := withClaims(func(c *Claims) { c.ExpiresAt = f.clock.Now().Add(-29 * time.Second) })
		if _, err := f.verifier.Verify(t.Context(), raw); err != nil {
			t.Fatal(err)
		}
	})
}

// Upload services' clocks are not tpx's: a fresh token must verify on a clock 25 s behind
// (nbf lies 30 s before iat) and one 25 s ahead (the leeway), and the default leeway of 30 s
// must not stretch a token's life by more than that.
func TestVerifierAcceptsClocksSkewedBy25Seconds(t *testing.T) {
	for _, skew := range []time.Duration{-25 * time.Second, 25 * time.Second} {
		t.Run(fmt.Sprintf("a verifier whose clock is off by %v accepts a fresh token and refuses an expired one", skew), func(t *testing.T) {
			f := newFixture(t)
			raw, minted, err := mint(f.minter, sampleClaims())
			if err != nil {
				t.Fatal(err)
			}
			offset := skew
			skewed := newVerifier(t, verify.Config{Issuer: f.srv.URL, HTTPClient: f.srv.Client(),
				Now: func() time.Time { return f.clock.Now().Add(offset) }})
			if _, err := skewed.Verify(t.Context(), raw); err != nil {
				t.Fatalf("fresh token: %v", err)
			}
			f.clock.Set(minted.ExpiresAt.Add(-skew + verify.DefaultLeeway))
			if _, err := skewed.Verify(t.Context(), raw); !errors.Is(err, verify.ErrExpired) {
				t.Fatalf("expired token: %v, want ErrExpired", err)
			}
		})
	}
}

func TestVerifierRefusesAMintedTokenOnceExpired(t *testing.T) {
	f := newFixture(t)
	raw, _, err := mint(f.minter, sampleClaims())
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(15*time.Minute + 29*time.Second)
	if _, err := f.verifier.Verify(t.Context(), raw); err != nil {
		t.Fatalf("within the leeway: %v", err)
	}
	f.clock.Advance(time.Second)
	if _, err := f.verifier.Verify(t.Context(), raw); !errors.Is(err, ErrExpired) {
		t.Fatalf("after the leeway: %v, want ErrExpired", err)
	}
	if _, err := f.minter.Parse(raw); !errors.Is(err, ErrExpired) {
		t.Fatalf("Parse after the leeway: %v, want ErrExpired", err)
	}
}

func TestVerifierConfiguredForAnotherAudienceRefuses(t *testing.T) {
	f := newFixture(t)
	raw, _, err := mint(f.minter, sampleClaims())
	if err != nil {
		t.Fatal(err)
	}
	v := newVerifier(t, verify.Config{Issuer: f.srv.URL, Audience: "warehouse", HTTPClient: f.srv.Client(), Now: f.clock.Now})
	if _, err := v.Verify(t.Context(), raw); !errors.Is(err, ErrAudience) {
		t.Fatalf("Verify: %v, want ErrAudience", err)
	}
}

func TestVerifierRefetchesOnUnknownKidAtMostOncePerCooldown(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	old, _, err := mint(f.minter, sampleClaims())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.verifier.Verify(ctx, old); err != nil {
		t.Fatal(err)
	}
	if err := f.minter.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	next := f.newestKID(t)
	// A token under the new kid, as a replica whose clock runs an hour ahead would mint.
	fresh := sign(t, jose.ES256, jose.JSONWebKey{Key: f.privateKey(t, next), KeyID: next}, "", Type, f.validClaims())

	f.clock.Advance(30 * time.Second)
	if _, err := f.verifier.Verify(ctx, fresh); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("within the cooldown of the first fetch: %v, want ErrUnknownKey", err)
	}
	if n := f.fetches.Load(); n != 1 {
		t.Fatalf("%d fetches within the cooldown, want 1", n)
	}

	f.clock.Advance(31 * time.Second)
	if _, err := f.verifier.Verify(ctx, fresh); err != nil {
		t.Fatalf("after the cooldown: %v", err)
	}
	if n := f.fetches.Load(); n != 2 {
		t.Fatalf("%d fetches, want 2", n)
	}

	stranger, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	forged := sign(t, jose.ES256, jose.JSONWebKey{Key: stranger, KeyID: "made-up"}, "", Type, f.validClaims())
	for range 5 {
		if _, err := f.verifier.Verify(ctx, forged); !errors.Is(err, ErrUnknownKey) {
			t.Fatalf("made-up kid: %v, want ErrUnknownKey", err)
		}
	}
	if n := f.fetches.Load(); n != 2 {
		t.Fatalf("made-up kids caused %d fetches within the cooldown, want none", n-2)
	}

	// Past the cooldown, a burst of made-up kids shares one fetch.
	f.clock.Advance(time.Minute)
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if _, err := f.verifier.Verify(ctx, forged); !errors.Is(err, ErrUnknownKey) {
				t.Errorf("made-up kid: %v, want ErrUnknownKey", err)
			}
		})
	}
	wg.Wait()
	if n := f.fetches.Load(); n != 3 {
		t.Fatalf("a burst after the cooldown caused %d fetches, want 1", n-2)
	}
	// The old key is still published, so the first token still verifies.
	if _, err := f.verifier.Verify(ctx, old); err != nil {
		t.Fatal(err)
	}
}

func TestVerifierKeepsGoodKeysWhenTheKeySetTurnsBad(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	raw, _, err := mint(f.minter, sampleClaims())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.verifier.Verify(ctx, raw); err != nil {
		t.Fatal(err)
	}
	f.broken.Store(true)

	// An hour on, the next Verify refreshes in the background and keeps the cached key
	// meanwhile; the empty set that comes back does not replace it.
	f.clock.Advance(2 * time.Hour)
	raw, _, err = mint(f.minter, sampleClaims())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.verifier.Verify(ctx, raw); err != nil {
		t.Fatal(err)
	}
	forged := sign(t, jose.ES256, jose.JSONWebKey{Key: must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader)), KeyID: "made-up"}, "", Type, f.validClaims())
	// Whether tpx published that kid in the set it could not serve is unknown: a
	// temporary failure, not a forgery.
	if _, err := f.verifier.Verify(ctx, forged); !errors.Is(err, verify.ErrKeysUnavailable) {
		t.Fatalf("kid not cached while the key set is bad: %v, want verify.ErrKeysUnavailable", err)
	}
	if _, err := f.verifier.Verify(ctx, raw); err != nil {
		t.Fatalf("after a bad key set: %v", err)
	}
	if n := f.fetches.Load(); n != 2 {
		t.Fatalf("%d fetches, want 2", n)
	}

	// A day without a good key set, the cached keys are no longer trusted.
	f.clock.Advance(24 * time.Hour)
	raw, _, err = mint(f.minter, sampleClaims())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.verifier.Verify(ctx, raw); !errors.Is(err, verify.ErrKeysUnavailable) {
		t.Fatalf("after 26 hours without a good key set: %v, want verify.ErrKeysUnavailable", err)
	}
	f.broken.Store(false)
	f.clock.Advance(time.Minute)
	if _, err := f.verifier.Verify(ctx, raw); err != nil {
		t.Fatalf("once the key set is good again: %v", err)
	}
}

func TestVerifierFailsClosedWithoutKeys(t *testing.T) {
	f := newFixture(t)
	raw, _, err := mint(f.minter, sampleClaims())
	if err != nil {
		t.Fatal(err)
	}
	down := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(down.Close)
	v := newVerifier(t, verify.Config{Issuer: down.URL, Now: f.clock.Now})
	if _, err := v.Verify(t.Context(), raw); !errors.Is(err, verify.ErrKeysUnavailable) {
		t.Fatalf("Verify: %v, want verify.ErrKeysUnavailable", err)
	}
}

func TestVerifierRefusesRedirectsToAnotherHost(t *testing.T) {
	f := newFixture(t)
	raw, _, err := mint(f.minter, sampleClaims())
	if err != nil {
		t.Fatal(err)
	}
	// Serves tpx's real keys, but only by redirecting to another host.
	redirector := httptest.NewServer(http.RedirectHandler(f.srv.URL+JWKSPath, http.StatusFound))
	t.Cleanup(redirector.Close)
	v := newVerifier(t, verify.Config{Issuer: redirector.URL, Now: f.clock.Now})
	if _, err := v.Verify(t.Context(), raw); !errors.Is(err, verify.ErrKeysUnavailable) {
		t.Fatalf("Verify: %v, want verify.ErrKeysUnavailable", err)
	}
	if f.fetches.Load() != 0 {
		t.Fatal("the redirect was followed")
	}
}

func TestClaimsTravelAsNumericDates(t *testing.T) {
	c := sampleClaims()
	c.IssuedAt = time.Unix(1_800_000_000, 0)
	c.NotBefore = c.IssuedAt
	c.ExpiresAt = c.IssuedAt.Add(15 * time.Minute)
	var m map[string]any
	if err := json.Unmarshal(must(json.Marshal(c)), &m); err != nil {
		t.Fatal(err)
	}
	if m["iat"] != 1.8e9 || m["nbf"] != 1.8e9 || m["exp"] != 1.8e9+900 {
		t.Errorf("times encode as %v, %v, %v", m["iat"], m["nbf"], m["exp"])
	}
	pub, _ := m["publisher"].(map[string]any)
	if pub["id"] != 7.0 || pub["kind"] != "github" || pub["repository"] != "octo-org/octo-repo" {
		t.Errorf("publisher encodes as %v", m["publisher"])
	}
	var back Claims
	if err := json.Unmarshal(must(json.Marshal(c)), &back); err != nil {
		t.Fatal(err)
	}
	if !back.ExpiresAt.Equal(c.ExpiresAt) || !slices.Equal(back.Projects, c.Projects) || back.Publisher != c.Publisher {
		t.Errorf("round trip gave %+v", back)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
