package verify_test

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
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/tpx-dev/tpx/verify"
)

var t0 = time.Date(2026, time.March, 2, 9, 30, 0, 0, time.UTC)

func fixed(t time.Time) func() time.Time { return func() time.Time { return t } }

func TestATokenAsTpxMintsItVerifies(t *testing.T) {
	f := newFakeTPX(t)
	want := f.claims(t0)
	got, err := f.verifier(t, fixed(t0)).Verify(t.Context(), f.sign(t, want))
	if err != nil {
		t.Fatal(err)
	}
	if got.Subject != want.Subject || got.Publisher != want.Publisher || !got.ExpiresAt.Equal(want.ExpiresAt) ||
		!got.NotBefore.Equal(want.NotBefore) || !got.Covers("sampleproject") || got.Covers("otherproject") {
		t.Fatalf("verified %+v, signed %+v", got, want)
	}
}

func TestTheVerifierRefuses(t *testing.T) {
	f := newFakeTPX(t)
	stranger, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	with := func(change func(*verify.Claims)) string {
		c := f.claims(t0)
		change(&c)
		return f.sign(t, c)
	}
	b64 := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	payload, _ := json.Marshal(f.claims(t0))
	none := verify.Prefix + b64(`{"alg":"none","kid":"key-1","typ":"`+verify.Type+`"}`) + "." + b64(string(payload)) + "."
	for _, tc := range []struct {
		name string
		raw  string
		want error
	}{
		{"a token without the tpx_ prefix is malformed", strings.TrimPrefix(f.sign(t, f.claims(t0)), verify.Prefix), verify.ErrMalformed},
		{"a token over 16 KiB is malformed before parsing", verify.Prefix + strings.Repeat("a", 16<<10), verify.ErrMalformed},
		{"a token with alg none is malformed", none, verify.ErrMalformed},
		{"a token with alg HS256 is malformed", sign(t, jose.HS256, []byte("0123456789abcdef0123456789abcdef"), "key-1", verify.Type, f.claims(t0)), verify.ErrMalformed},
		{"a token typed as a plain JWT is malformed", sign(t, jose.ES256, f.key, "key-1", "JWT", f.claims(t0)), verify.ErrMalformed},
		{"a token without kid is malformed", sign(t, jose.ES256, f.key, "", verify.Type, f.claims(t0)), verify.ErrMalformed},
		{"a token under a kid tpx never published has an unknown key", sign(t, jose.ES256, stranger, "made-up", verify.Type, f.claims(t0)), verify.ErrUnknownKey},
		{"a token signed by another key under tpx's kid does not verify", sign(t, jose.ES256, stranger, "key-1", verify.Type, f.claims(t0)), verify.ErrSignature},
		{"a token from another issuer is refused", with(func(c *verify.Claims) { c.Issuer = "https://tpx.example" }), verify.ErrIssuer},
		{"a token for another audience is refused", with(func(c *verify.Claims) { c.Audience = "tpx" }), verify.ErrAudience},
		{"a token without jti is malformed", with(func(c *verify.Claims) { c.ID = "" }), verify.ErrMalformed},
		{"a token without exp is malformed", with(func(c *verify.Claims) { c.ExpiresAt = time.Time{} }), verify.ErrMalformed},
		{"a token expired beyond the leeway is refused", with(func(c *verify.Claims) { c.ExpiresAt = t0.Add(-31 * time.Second) }), verify.ErrExpired},
		{"a token whose nbf lies beyond the leeway ahead is not valid yet", with(func(c *verify.Claims) { c.NotBefore = t0.Add(31 * time.Second) }), verify.ErrNotYetValid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.verifier(t, fixed(t0)).Verify(t.Context(), tc.raw)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Verify: %v, want %v", err, tc.want)
			}
		})
	}
}

// A verifier's clock is not tpx's. nbf lies 30 s before iat and the default leeway is
// 30 s, so a fresh token verifies on a clock 25 s behind or ahead, and an expired one is
// refused no later than 30 s after its exp on the verifier's own clock.
func TestClocksSkewedBy25SecondsAcceptFreshTokensAndRefuseExpiredOnes(t *testing.T) {
	for _, skew := range []time.Duration{-25 * time.Second, 25 * time.Second} {
		t.Run(fmt.Sprintf("a clock off by %v", skew), func(t *testing.T) {
			f := newFakeTPX(t)
			c := f.claims(t0)
			raw := f.sign(t, c)
			if _, err := f.verifier(t, fixed(t0.Add(skew))).Verify(t.Context(), raw); err != nil {
				t.Fatalf("fresh token: %v", err)
			}
			if _, err := f.verifier(t, fixed(c.ExpiresAt.Add(verify.DefaultLeeway))).Verify(t.Context(), raw); !errors.Is(err, verify.ErrExpired) {
				t.Fatalf("expired token: %v, want ErrExpired", err)
			}
		})
	}
}

func TestVerifierRefusesIssuersWhoseKeysCouldBeReplacedInTransit(t *testing.T) {
	tests := []struct {
		name   string
		issuer string
		ok     bool
	}{
		{"an https issuer is accepted", "https://tpx.example.org", true},
		{"an https issuer with a path and port is accepted", "https://tpx.example.org:8443/tpx", true},
		{"plain http on 127.0.0.1 is accepted", "http://127.0.0.1:8080", true},
		{"plain http anywhere in 127.0.0.0/8 is accepted", "http://127.1.2.3", true},
		{"plain http on ::1 is accepted", "http://[::1]:8080", true},
		{"plain http on localhost is accepted", "http://LocalHost:8080", true},
		{"plain http on another host is refused", "http://tpx.example.org", false},
		{"plain http on a private address is refused", "http://10.0.0.5:8080", false},
		{"plain http on a name that merely starts with localhost is refused", "http://localhost.example.org", false},
		{"plain http on a name that merely starts with 127 is refused", "http://127.0.0.1.example.org", false},
		{"plain http on an IPv4-mapped address outside loopback is refused", "http://[::ffff:10.0.0.1]", false},
		{"another scheme is refused", "ftp://tpx.example.org", false},
		{"an empty issuer is refused", "", false},
		{"a relative issuer is refused", "/tpx", false},
		{"an issuer with user information is refused", "https://user:pass@tpx.example.org", false},
		{"an issuer with a query is refused", "https://tpx.example.org/?next=x", false},
		{"an issuer with a fragment is refused", "https://tpx.example.org/#x", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := verify.New(verify.Config{Issuer: tt.issuer})
			if tt.ok && (err != nil || v == nil) {
				t.Fatalf("New(%q): %v", tt.issuer, err)
			}
			if !tt.ok && (err == nil || v != nil) {
				t.Fatalf("New(%q) was accepted", tt.issuer)
			}
		})
	}
}

func TestKeysThatCannotBeFetchedAreATemporaryFailureNotAVerdict(t *testing.T) {
	f := newFakeTPX(t)
	f.down.Store(true)
	_, err := f.verifier(t, fixed(t0)).Verify(t.Context(), f.sign(t, f.claims(t0)))
	if !errors.Is(err, verify.ErrKeysUnavailable) || errors.Is(err, verify.ErrUnknownKey) {
		t.Fatalf("Verify with tpx down: %v, want ErrKeysUnavailable alone", err)
	}
}

func TestAnUnknownKidWhileTheKeySetCannotBeRefreshedIsATemporaryFailure(t *testing.T) {
	f := newFakeTPX(t)
	now := t0
	v := f.verifier(t, func() time.Time { return now })
	if _, err := v.Verify(t.Context(), f.sign(t, f.claims(t0))); err != nil {
		t.Fatal(err)
	}
	f.down.Store(true)
	now = now.Add(time.Minute) // past the cooldown
	rotated, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, err = v.Verify(t.Context(), sign(t, jose.ES256, rotated, "key-2", verify.Type, f.claims(now)))
	if !errors.Is(err, verify.ErrKeysUnavailable) {
		t.Fatalf("Verify: %v, want ErrKeysUnavailable", err)
	}
	// The key held still serves.
	if _, err := v.Verify(t.Context(), f.sign(t, f.claims(now))); err != nil {
		t.Fatal(err)
	}
}

func TestMadeUpKidsCauseOneFetchPerCooldownSharedByEveryone(t *testing.T) {
	f := newFakeTPX(t)
	now := t0
	var mu sync.Mutex
	v := f.verifier(t, func() time.Time { mu.Lock(); defer mu.Unlock(); return now })
	stranger, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	forged := sign(t, jose.ES256, stranger, "made-up", verify.Type, f.claims(t0))
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := v.Verify(t.Context(), forged); !errors.Is(err, verify.ErrUnknownKey) {
				t.Errorf("Verify: %v, want ErrUnknownKey", err)
			}
		}()
	}
	wg.Wait()
	if n := f.fetches.Load(); n != 1 {
		t.Fatalf("%d fetches, want 1", n)
	}
	mu.Lock()
	now = now.Add(59 * time.Second)
	mu.Unlock()
	v.Verify(t.Context(), forged)
	if n := f.fetches.Load(); n != 1 {
		t.Fatalf("%d fetches within the cooldown, want 1", n)
	}
}

func TestRedirectsToAnotherHostAreNotFollowed(t *testing.T) {
	f := newFakeTPX(t)
	redirector := httptest.NewServer(http.RedirectHandler(f.srv.URL+verify.JWKSPath, http.StatusFound))
	t.Cleanup(redirector.Close)
	c := f.claims(t0)
	c.Issuer = redirector.URL
	v, err := verify.New(verify.Config{Issuer: redirector.URL, Now: fixed(t0)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(t.Context(), f.sign(t, c)); !errors.Is(err, verify.ErrKeysUnavailable) {
		t.Fatalf("Verify: %v, want ErrKeysUnavailable", err)
	}
	if n := f.fetches.Load(); n != 0 {
		t.Fatalf("the redirect to another host was followed (%d fetches)", n)
	}
}
