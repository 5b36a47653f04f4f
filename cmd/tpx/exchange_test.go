package main

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tpx-dev/tpx/internal/oidctest"
)

func TestExchangeRefusesMalformedBodies(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		h := newHarness(t, b)
		h.github("sampleproject", nil)
		for _, c := range []struct {
			name   string
			body   []byte
			status int
		}{
			{"an empty body", []byte(""), 422},
			{"a JSON array", []byte("[]"), 422},
			{"a bare word", []byte("x"), 422},
			{"a number", []byte("1"), 422},
			{"JSON null", []byte("null"), 422},
			{"an empty object", []byte("{}"), 422},
			{"a null token", []byte(`{"token":null}`), 422},
			{"a numeric token", []byte(`{"token":0}`), 422},
			{"an array token", []byte(`{"token":[]}`), 422},
			{"an empty token", []byte(`{"token":""}`), 422},
			{"the wrong key", []byte(`{"wrongkey":""}`), 422},
			{"two JSON values", []byte(`{"token":"a.b.c"} {"token":"a.b.c"}`), 422},
			{"a 1 MB body", append([]byte(`{"token":"`), bytes.Repeat([]byte("a"), 1<<20)...), 413},
		} {
			t.Run(c.name, func(t *testing.T) {
				h.refused(t, c.status, "invalid-payload", func() reply { return h.post(t, c.body) })
			})
		}
	})
}

func TestExchangeRefusesMalformedTokens(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		h := newHarness(t, b)
		h.github("sampleproject", nil)
		valid := h.gh.Sign(h.gh.GitHubClaims(nil))
		parts := strings.Split(valid, ".")
		for _, c := range []struct{ name, token string }{
			{"two segments", parts[0] + "." + parts[1]},
			{"four segments", valid + ".AAAA"},
			{"10,000 dots", strings.Repeat(".", 10_000)},
			{"bad base64 in the payload", parts[0] + ".%%%$$$." + parts[2]},
			{"a payload that is not UTF-8", parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte("{\"iss\":\"\xff\xfe\"}")) + "." + parts[2]},
			{"a payload that is not JSON", parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte("not json")) + "." + parts[2]},
			{"a 60 KB token", parts[0] + "." + strings.Repeat("A", 60<<10) + "." + parts[2]},
			// Past the 64 KiB body cap: refused before the token is even read.
			{"100,000 dots", strings.Repeat(".", 100_000)},
			{"a 200 KB token", parts[0] + "." + strings.Repeat("A", 200<<10) + "." + parts[2]},
		} {
			t.Run(c.name, func(t *testing.T) {
				status := http.StatusUnprocessableEntity
				if len(c.token) > 64<<10 {
					status = http.StatusRequestEntityTooLarge
				}
				before := h.gh.Requests()
				h.refused(t, status, "invalid-payload", func() reply { return h.exchange(t, c.token) })
				if n := h.gh.Requests() - before; n != 0 {
					t.Fatalf("a malformed token caused %d requests to the issuer", n)
				}
			})
		}
	})
}

func TestExchangeRefusesForgedSignaturesAndHeaders(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		h := newHarness(t, b)
		h.github("sampleproject", nil)
		// A server the token's headers point at: it must never be contacted.
		var lured atomic.Int64
		lure := oidctest.New(t)
		lureURL := lure.JWKSURL()
		claims := func() map[string]any { return h.gh.GitHubClaims(nil) }
		// An unsigned token has an empty third segment and a 10 KB kid makes the header
		// too long: both are refused as malformed, before any key is looked at.
		for _, c := range []struct {
			name string
			opts []oidctest.SignOption
			code string
		}{
			{"alg none", []oidctest.SignOption{oidctest.WithAlg("none")}, "invalid-payload"},
			{"HS256 keyed with the issuer's public key", []oidctest.SignOption{oidctest.WithAlg("HS256")}, ""},
			{"RS256 by an attacker's key under the real kid", []oidctest.SignOption{oidctest.WithKey(oidctest.AttackerKey())}, ""},
			{"RS512 with the real key", []oidctest.SignOption{oidctest.WithAlg("RS512")}, ""},
			{"PS256 with the real key", []oidctest.SignOption{oidctest.WithAlg("PS256")}, ""},
			{"ES256", []oidctest.SignOption{oidctest.WithAlg("ES256"), oidctest.WithKey(oidctest.ECKey())}, ""},
			{"no kid", []oidctest.SignOption{oidctest.WithoutKid()}, ""},
			{"a kid of SQL", []oidctest.SignOption{oidctest.WithKid("' OR 1=1; DROP TABLE publishers; --")}, ""},
			{"a kid that is a path", []oidctest.SignOption{oidctest.WithKid("../../../../etc/passwd")}, ""},
			{"a kid of 10 KB of junk", []oidctest.SignOption{oidctest.WithKid(strings.Repeat("\u00e9x", 5<<10))}, "invalid-payload"},
			{"an attacker key in a jwk header", []oidctest.SignOption{oidctest.WithKey(oidctest.AttackerKey()), oidctest.WithHeader("jwk", oidctest.PublicJWK(&oidctest.AttackerKey().PublicKey, "evil"))}, ""},
			{"an attacker key behind jku", []oidctest.SignOption{oidctest.WithKey(oidctest.AttackerKey()), oidctest.WithKid(lure.Kid()), oidctest.WithHeader("jku", lureURL)}, ""},
			{"an attacker key behind x5u", []oidctest.SignOption{oidctest.WithKey(oidctest.AttackerKey()), oidctest.WithHeader("x5u", lureURL)}, ""},
		} {
			t.Run(c.name, func(t *testing.T) {
				code := c.code
				if code == "" {
					code = "invalid-token"
				}
				h.refused(t, 422, code, func() reply { return h.exchange(t, h.gh.Sign(claims(), c.opts...)) })
			})
		}
		lured.Store(lure.Requests())
		if lured.Load() != 0 {
			t.Fatalf("jku/x5u headers made tpx contact the address they named (%d requests)", lured.Load())
		}
		t.Run("jku, x5u and jwk headers are ignored on a valid token", func(t *testing.T) {
			h.accepted(t, func() reply {
				return h.exchange(t, h.gh.Sign(claims(), oidctest.WithHeader("jku", lureURL), oidctest.WithHeader("x5u", lureURL),
					oidctest.WithHeader("jwk", oidctest.PublicJWK(&oidctest.AttackerKey().PublicKey, "evil"))))
			})
			if n := lure.Requests(); n != 0 {
				t.Fatalf("the lure server got %d requests", n)
			}
		})
	})
}

func TestExchangeRefusesUnknownIssuersWithoutARequest(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		h := newHarness(t, b)
		h.github("sampleproject", nil)
		iss := h.gh.URL()
		for _, c := range []struct{ name, iss string }{
			{"an unknown issuer", "https://token.actions.example.com"},
			{"a trailing slash", iss + "/"},
			{"another case", strings.ToUpper(iss)},
			{"an extra path", iss + "/extra"},
			{"a lookalike host", strings.Replace(iss, "127.0.0.1", "127.0.0.1.nip.io", 1)},
			{"a fragment", iss + "#frag"},
			{"a userinfo prefix", strings.Replace(iss, "http://", "http://evil@", 1)},
		} {
			t.Run(c.name, func(t *testing.T) {
				before := h.gh.Requests()
				h.refused(t, 422, "invalid-payload", func() reply {
					return h.exchange(t, h.gh.Sign(h.gh.GitHubClaims(map[string]any{"iss": c.iss})))
				})
				if n := h.gh.Requests() - before; n != 0 {
					t.Fatalf("an unknown issuer caused %d requests", n)
				}
			})
		}
	})
}

func TestExchangeChecksAudienceTimesAndJTI(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		h := newHarness(t, b)
		h.github("sampleproject", nil)
		now := time.Now().Unix()
		for _, c := range []struct {
			name   string
			claims map[string]any
		}{
			{"no audience", map[string]any{"aud": oidctest.Omit}},
			{"the wrong audience", map[string]any{"aud": "pypi"}},
			{"our audience and another", map[string]any{"aud": []string{"tpx", "pypi"}}},
			{"expired past the leeway", map[string]any{"iat": now - 900, "nbf": now - 900, "exp": now - 120}},
			{"nbf in the future past the leeway", map[string]any{"nbf": now + 300}},
			{"iat in the future past the leeway", map[string]any{"iat": now + 300, "nbf": now}},
			{"no iat", map[string]any{"iat": oidctest.Omit}},
			{"no jti", map[string]any{"jti": oidctest.Omit}},
			{"an empty jti", map[string]any{"jti": ""}},
		} {
			t.Run(c.name, func(t *testing.T) {
				h.refused(t, 422, "invalid-token", func() reply { return h.exchange(t, h.gh.Sign(h.gh.GitHubClaims(c.claims))) })
			})
		}
		t.Run("nbf ten minutes before iat is accepted", func(t *testing.T) {
			h.accepted(t, func() reply {
				return h.exchange(t, h.gh.Sign(h.gh.GitHubClaims(map[string]any{"iat": now, "nbf": now - 600})))
			})
		})
	})
}

func TestExchangeTokenIsSingleUse(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		h := newHarness(t, b)
		h.github("sampleproject", nil)
		t.Run("the same token twice: the second is invalid-reuse-token", func(t *testing.T) {
			tok := h.gh.Sign(h.gh.GitHubClaims(nil))
			h.accepted(t, func() reply { return h.exchange(t, tok) })
			h.refused(t, 422, "invalid-reuse-token", func() reply { return h.exchange(t, tok) })
		})
		t.Run("50 parallel requests with one token: exactly one succeeds", func(t *testing.T) {
			tok := h.gh.Sign(h.gh.GitHubClaims(nil))
			var wg sync.WaitGroup
			var ok, reused atomic.Int64
			replies := make(chan reply, 50)
			for range 50 {
				wg.Go(func() { replies <- h.exchange(t, tok) })
			}
			wg.Wait()
			close(replies)
			for r := range replies {
				switch {
				case r.Status == http.StatusOK:
					ok.Add(1)
				case r.code() == "invalid-reuse-token":
					reused.Add(1)
				default:
					t.Errorf("unexpected reply %d %s", r.Status, r.raw)
				}
			}
			if ok.Load() != 1 || reused.Load() != 49 {
				t.Fatalf("%d successes and %d reuse refusals; want 1 and 49", ok.Load(), reused.Load())
			}
		})
	})
}
