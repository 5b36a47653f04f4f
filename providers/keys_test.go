package providers_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tpx-dev/tpx/internal/oidctest"
	"github.com/tpx-dev/tpx/providers"
)

func randomKid(t testing.TB) string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b[:])
}

// eventually polls cond for up to ten seconds.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestAFloodOfUnknownKidsCausesAtMostOneFetch(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	iss := w.issuer()
	s := w.set(nil, github(iss))
	mustVerify(t, s, iss.Sign(iss.GitHubClaims(nil)))
	w.clock.Advance(providers.DefaultCooldown) // a refetch is allowed again

	// The signatures of the junk tokens do not matter (the kid is refused first), so
	// they are not computed: a thousand RSA signatures would only slow the test down.
	junk := make([]string, 1000)
	for i := range junk {
		junk[i] = iss.Sign(iss.GitHubClaims(nil), oidctest.WithKid(randomKid(t)), oidctest.WithSignature([]byte("junk")))
	}
	valid := make([]string, 20)
	for i := range valid {
		valid[i] = iss.Sign(iss.GitHubClaims(nil))
	}
	before := iss.JWKSFetches()
	var wg sync.WaitGroup
	var wrongJunk, wrongValid atomic.Int64
	const workers = 20
	for g := range workers {
		wg.Go(func() {
			for i := g; i < len(junk); i += workers {
				if _, err := verify(s, junk[i]); !errors.Is(err, providers.ErrInvalidToken) {
					wrongJunk.Add(1)
				}
				if i%50 == g {
					if _, err := verify(s, valid[i%len(valid)]); err != nil {
						wrongValid.Add(1)
					}
				}
			}
		})
	}
	wg.Wait()
	if n := wrongJunk.Load(); n != 0 {
		t.Errorf("%d junk tokens were not refused as invalid", n)
	}
	if n := wrongValid.Load(); n != 0 {
		t.Errorf("%d valid tokens failed during the flood", n)
	}
	if n := iss.JWKSFetches() - before; n != 1 {
		t.Fatalf("the flood caused %d key set fetches, want exactly one", n)
	}
	mustFail(t, s, junk[0], providers.ErrInvalidToken)
	if n := iss.JWKSFetches() - before; n != 1 {
		t.Fatalf("an unknown kid within the cooldown caused a fetch (%d in all)", n)
	}
}

func TestConcurrentFirstUsesShareOneFetch(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	iss := w.issuer()
	s := w.set(nil, github(iss))
	tokens := make([]string, 100)
	for i := range tokens {
		tokens[i] = iss.Sign(iss.GitHubClaims(nil))
	}
	var wg sync.WaitGroup
	var failed atomic.Int64
	for _, tok := range tokens {
		wg.Go(func() {
			if _, err := verify(s, tok); err != nil {
				failed.Add(1)
			}
		})
	}
	wg.Wait()
	if n := failed.Load(); n != 0 {
		t.Fatalf("%d of %d first uses failed", n, len(tokens))
	}
	if iss.DiscoveryFetches() != 1 || iss.JWKSFetches() != 1 {
		t.Fatalf("%d discovery and %d key set fetches, want one each", iss.DiscoveryFetches(), iss.JWKSFetches())
	}
}

func TestKeysAreServedStaleWhileTheIssuerIsDownThenFailClosed(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	iss := w.issuer()
	s := w.set(nil, github(iss))
	mustVerify(t, s, iss.Sign(iss.GitHubClaims(nil)))

	iss.Stop()
	w.clock.Advance(2 * time.Hour) // past Refresh: the next use tries to refetch, and fails
	mustVerify(t, s, iss.Sign(iss.GitHubClaims(nil)))
	st := status(t, s, iss.URL())
	if st.Keys != 1 || !st.FetchedAt.Equal(t0) || st.LastError == "" || st.Fetches != 2 {
		t.Fatalf("status while down: %+v", st)
	}

	w.clock.Set(t0.Add(providers.DefaultMaxStale + time.Second))
	err := mustFail(t, s, iss.Sign(iss.GitHubClaims(nil)), providers.ErrKeysUnavailable)
	if !strings.Contains(err.Error(), "old") {
		t.Fatalf("the error does not say the keys are too old: %v", err)
	}

	iss.Start()
	w.clock.Advance(providers.DefaultCooldown)
	mustVerify(t, s, iss.Sign(iss.GitHubClaims(nil)))
	if st := status(t, s, iss.URL()); st.LastError != "" || !st.FetchedAt.Equal(w.clock.Now()) {
		t.Fatalf("status after recovery: %+v", st)
	}
}

func TestAnIssuerNeverReachedIsRetriedOncePerCooldown(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	iss := w.issuer()
	s := w.set(nil, github(iss))
	iss.Stop()
	tok := iss.Sign(iss.GitHubClaims(nil))
	mustFail(t, s, tok, providers.ErrKeysUnavailable)
	iss.Start()
	err := mustFail(t, s, tok, providers.ErrKeysUnavailable)
	if !strings.Contains(err.Error(), "last fetch failed") {
		t.Fatalf("the error does not carry the last failure: %v", err)
	}
	if n := iss.Requests(); n != 0 {
		t.Fatalf("a retry within the cooldown reached the issuer (%d requests)", n)
	}
	w.clock.Advance(providers.DefaultCooldown)
	mustVerify(t, s, iss.Sign(iss.GitHubClaims(nil)))
	if st := status(t, s, iss.URL()); st.Fetches != 2 {
		t.Fatalf("%d fetch attempts, want 2", st.Fetches)
	}
}

func TestHostileKeySetsNeverReplaceGoodKeys(t *testing.T) {
	t.Parallel()
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	tenMB := append([]byte(`{"keys":[`), bytes.Repeat([]byte(" "), 10<<20)...)
	// A well-formed key set of someone else's key: were a bad answer ever taken, the
	// issuer's own tokens would stop verifying.
	foreign := mustJSON(t, map[string]any{"keys": []any{oidctest.PublicJWK(&oidctest.AttackerKey().PublicKey, "foreign")}})
	for _, tc := range []struct {
		name    string
		install func(iss, trap *oidctest.Issuer)
		reason  string // what the recorded error must say
	}{
		{"an empty key set", func(iss, _ *oidctest.Issuer) {
			iss.SetJWKSBody([]byte(`{"keys":[]}`), "application/json")
		}, "no usable keys"},
		{"an empty object", func(iss, _ *oidctest.Issuer) { iss.SetJWKSBody([]byte(`{}`), "application/json") }, "no usable keys"},
		{"null", func(iss, _ *oidctest.Issuer) { iss.SetJWKSBody([]byte(`null`), "application/json") }, "no usable keys"},
		{"an HTML page", func(iss, _ *oidctest.Issuer) {
			iss.SetJWKSBody([]byte("<!doctype html><h1>Maintenance</h1>"), "text/html")
		}, "not a JSON key set"},
		{"truncated JSON", func(iss, _ *oidctest.Issuer) {
			iss.SetJWKSBody(iss.JWKS()[:40], "application/json")
		}, "not a JSON key set"},
		{"10 MB without a length", func(iss, _ *oidctest.Issuer) { iss.SetJWKSBody(tenMB, "application/json") }, "more than"},
		{"10 MB announced by Content-Length", func(iss, _ *oidctest.Issuer) {
			iss.SetJWKSHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", strconv.Itoa(len(tenMB)))
				_, _ = w.Write(tenMB)
			}))
		}, "the limit is"},
		{"a valid key set padded to 10 MB", func(iss, _ *oidctest.Issuer) {
			iss.SetJWKSBody(append(append([]byte{}, foreign...), bytes.Repeat([]byte(" "), 10<<20)...), "application/json")
		}, "more than"},
		{"a redirect to another host", func(iss, trap *oidctest.Issuer) {
			iss.SetJWKSHandler(http.RedirectHandler(trap.JWKSURL(), http.StatusFound))
		}, "not the same host"},
		{"a server error carrying a key set", func(iss, _ *oidctest.Issuer) {
			iss.SetJWKSHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = w.Write(foreign)
			}))
		}, "status 503"},
		{"only a 1024-bit key", func(iss, _ *oidctest.Issuer) {
			iss.SetJWKSBody(mustJSON(t, map[string]any{"keys": []any{oidctest.PublicJWK(&weak.PublicKey, "weak")}}), "application/json")
		}, "no usable keys among 1"},
		{"a discovery document that is gone", func(iss, _ *oidctest.Issuer) {
			iss.SetDiscoveryHandler(http.NotFoundHandler())
		}, "status 404"},
		{"a discovery document pointing at another host", func(iss, trap *oidctest.Issuer) {
			doc := iss.DiscoveryDocument()
			doc["jwks_uri"] = trap.JWKSURL()
			iss.SetDiscoveryBody(mustJSON(t, doc), "application/json")
		}, "not on the issuer's host"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			iss, trap := w.issuer(), w.issuer()
			s := w.set(nil, github(iss))
			mustVerify(t, s, iss.Sign(iss.GitHubClaims(nil)))
			tc.install(iss, trap)
			w.clock.Advance(providers.DefaultCooldown)
			// An unknown kid is allowed one refetch, which meets the hostile answer.
			mustFail(t, s, iss.Sign(iss.GitHubClaims(nil), oidctest.WithKid(randomKid(t))), providers.ErrInvalidToken)
			st := status(t, s, iss.URL())
			if st.Fetches != 2 || st.LastError == "" || st.Keys != 1 || !st.FetchedAt.Equal(t0) {
				t.Fatalf("status after a hostile refresh: %+v", st)
			}
			t.Logf("refresh failed with: %s", st.LastError)
			if !strings.Contains(st.LastError, tc.reason) {
				t.Fatalf("the refresh failed for another reason than %q", tc.reason)
			}
			mustVerify(t, s, iss.Sign(iss.GitHubClaims(nil)))
			noRequests(t, trap)
		})
	}
}

func TestOnlyUsableSigningKeysAreKeptFromAKeySet(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	iss := w.issuer()
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	other := oidctest.AttackerKey()
	jwk := func(k *rsa.PrivateKey, kid string, edit map[string]any) map[string]any {
		m := oidctest.PublicJWK(&k.PublicKey, kid)
		for name, v := range edit {
			if v == nil {
				delete(m, name)
			} else {
				m[name] = v
			}
		}
		return m
	}
	current := oidctest.PublicJWK(iss.PublicKey(), iss.Kid())
	keys := []any{
		current,
		jwk(weak, "weak", nil),
		oidctest.PublicJWK(&oidctest.ECKey().PublicKey, "ec"),
		jwk(other, "enc", map[string]any{"use": "enc"}),
		jwk(other, "rs512", map[string]any{"alg": "RS512"}),
		jwk(other, "", map[string]any{"kid": nil}),
		jwk(other, "dup", nil),
		oidctest.PublicJWK(iss.PublicKey(), "dup"),
		map[string]any{"kty": "RSA", "kid": "broken", "n": "!!", "e": "AQAB"},
		map[string]any{"kty": "OKP", "crv": "X448", "kid": "unknown-type", "x": "AAAA"},
	}
	iss.SetJWKSBody(mustJSON(t, map[string]any{"keys": keys}), "application/json")
	s := w.set(nil, github(iss))
	mustVerify(t, s, iss.Sign(iss.GitHubClaims(nil)))
	if st := status(t, s, iss.URL()); st.Keys != 1 {
		t.Fatalf("%d keys kept, want only the issuer's current one", st.Keys)
	}
	for _, tc := range []struct {
		name string
		opts []oidctest.SignOption
	}{
		{"a 1024-bit key", []oidctest.SignOption{oidctest.WithKey(weak), oidctest.WithKid("weak")}},
		{"a key for encryption", []oidctest.SignOption{oidctest.WithKey(other), oidctest.WithKid("enc")}},
		{"a key for RS512", []oidctest.SignOption{oidctest.WithKey(other), oidctest.WithKid("rs512")}},
		{"a kid shared by two keys", []oidctest.SignOption{oidctest.WithKid("dup")}},
	} {
		t.Run(tc.name+" is not used", func(t *testing.T) {
			mustFail(t, s, iss.Sign(iss.GitHubClaims(nil), tc.opts...), providers.ErrInvalidToken)
		})
	}
}

func TestARotatedKeyIsAcceptedAfterOneRefetch(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		keep      bool
		oldResult error
	}{
		{"when the old key is withdrawn, its tokens stop verifying", false, providers.ErrInvalidToken},
		{"when the old key is kept, its tokens still verify", true, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			iss := w.issuer()
			s := w.set(nil, github(iss))
			old := iss.Sign(iss.GitHubClaims(nil))
			mustVerify(t, s, old)
			if tc.keep {
				iss.Rotate(oidctest.KeepPrevious())
			} else {
				iss.Rotate()
			}
			before := iss.JWKSFetches()
			// Within the cooldown the new kid is unknown and may not cause a fetch.
			mustFail(t, s, iss.Sign(iss.GitHubClaims(nil)), providers.ErrInvalidToken)
			if iss.JWKSFetches() != before {
				t.Fatal("an unknown kid within the cooldown caused a fetch")
			}
			w.clock.Advance(providers.DefaultCooldown)
			mustVerify(t, s, iss.Sign(iss.GitHubClaims(nil)))
			mustVerify(t, s, iss.Sign(iss.GitHubClaims(nil)))
			if n := iss.JWKSFetches() - before; n != 1 {
				t.Fatalf("%d fetches after the rotation, want one", n)
			}
			if tc.oldResult == nil {
				mustVerify(t, s, old)
			} else {
				mustFail(t, s, old, tc.oldResult)
			}
		})
	}
}

func TestTheDiscoveryDocumentMustSpeakForTheIssuerAndPointAtItsHost(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		tls    bool
		edit   func(doc map[string]any, iss, trap *oidctest.Issuer)
		reason string
	}{
		{"a jwks_uri on another port of the same address", false, func(doc map[string]any, _, trap *oidctest.Issuer) {
			doc["jwks_uri"] = trap.JWKSURL()
		}, "not on the issuer's host"},
		{"a jwks_uri on a lookalike host", false, func(doc map[string]any, iss, _ *oidctest.Issuer) {
			doc["jwks_uri"] = strings.Replace(iss.JWKSURL(), "127.0.0.1", "127.0.0.1.nip.io", 1)
		}, "not on the issuer's host"},
		{"a jwks_uri on localhost for an issuer on 127.0.0.1", false, func(doc map[string]any, iss, _ *oidctest.Issuer) {
			doc["jwks_uri"] = strings.Replace(iss.JWKSURL(), "127.0.0.1", "localhost", 1)
		}, "not on the issuer's host"},
		{"a jwks_uri with user info", false, func(doc map[string]any, iss, _ *oidctest.Issuer) {
			doc["jwks_uri"] = strings.Replace(iss.JWKSURL(), "://", "://evil@", 1)
		}, "plain URL"},
		{"a relative jwks_uri", false, func(doc map[string]any, _, _ *oidctest.Issuer) {
			doc["jwks_uri"] = "/.well-known/jwks"
		}, "must be https"},
		{"a plain-http jwks_uri for an https issuer", true, func(doc map[string]any, iss, _ *oidctest.Issuer) {
			doc["jwks_uri"] = strings.Replace(iss.JWKSURL(), "https://", "http://", 1)
		}, "must be https"},
		{"no jwks_uri", false, func(doc map[string]any, _, _ *oidctest.Issuer) { delete(doc, "jwks_uri") }, "must be https"},
		{"an issuer with a trailing slash", false, func(doc map[string]any, iss, _ *oidctest.Issuer) {
			doc["issuer"] = iss.URL() + "/"
		}, "not the configured one"},
		{"another issuer", false, func(doc map[string]any, _, trap *oidctest.Issuer) { doc["issuer"] = trap.URL() }, "not the configured one"},
		{"no issuer", false, func(doc map[string]any, _, _ *oidctest.Issuer) { delete(doc, "issuer") }, "not the configured one"},
	} {
		t.Run(tc.name+" is refused", func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			var opts []oidctest.Option
			if tc.tls {
				opts = append(opts, oidctest.WithTLS())
			}
			iss, trap := w.issuer(opts...), w.issuer()
			doc := iss.DiscoveryDocument()
			tc.edit(doc, iss, trap)
			iss.SetDiscoveryBody(mustJSON(t, doc), "application/json")
			s := w.set(func(c *providers.Config) { c.HTTPClient = providers.HardenedClient(oidctest.RootCAs()) }, github(iss))
			err := mustFail(t, s, iss.Sign(iss.GitHubClaims(nil)), providers.ErrKeysUnavailable)
			if !strings.Contains(err.Error(), tc.reason) {
				t.Fatalf("refused for another reason than %q", tc.reason)
			}
			if iss.JWKSFetches() != 0 {
				t.Fatal("the key set was fetched anyway")
			}
			noRequests(t, trap)
		})
	}
	t.Run("a discovery document that is not JSON is refused", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		iss := w.issuer()
		iss.SetDiscoveryBody([]byte("<html>"), "text/html")
		mustFail(t, w.set(nil, github(iss)), iss.Sign(iss.GitHubClaims(nil)), providers.ErrKeysUnavailable)
	})
	t.Run("a discovery document over 64 KiB is refused", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		iss := w.issuer()
		doc := iss.DiscoveryDocument()
		doc["padding"] = strings.Repeat("x", 65<<10)
		iss.SetDiscoveryBody(mustJSON(t, doc), "application/json")
		mustFail(t, w.set(nil, github(iss)), iss.Sign(iss.GitHubClaims(nil)), providers.ErrKeysUnavailable)
	})
	t.Run("a discovery redirect to another host is not followed", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		iss, trap := w.issuer(), w.issuer()
		iss.SetDiscoveryHandler(http.RedirectHandler(trap.DiscoveryURL(), http.StatusMovedPermanently))
		mustFail(t, w.set(nil, github(iss)), iss.Sign(iss.GitHubClaims(nil)), providers.ErrKeysUnavailable)
		noRequests(t, trap)
	})
}

func TestRedirectsWithinTheIssuersHostAreFollowedUpToThree(t *testing.T) {
	t.Parallel()
	t.Run("one redirect to another path is followed", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		iss := w.issuer()
		iss.SetJWKSHandler(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			if r.URL.Query().Get("moved") == "" {
				http.Redirect(rw, r, iss.JWKSURL()+"?moved=1", http.StatusFound)
				return
			}
			_, _ = rw.Write(iss.JWKS())
		}))
		mustVerify(t, w.set(nil, github(iss)), iss.Sign(iss.GitHubClaims(nil)))
	})
	t.Run("a fourth redirect is refused", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		iss := w.issuer()
		iss.SetJWKSHandler(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			n, _ := strconv.Atoi(r.URL.Query().Get("n"))
			http.Redirect(rw, r, iss.JWKSURL()+"?n="+strconv.Itoa(n+1), http.StatusFound)
		}))
		mustFail(t, w.set(nil, github(iss)), iss.Sign(iss.GitHubClaims(nil)), providers.ErrKeysUnavailable)
		if n := iss.JWKSFetches(); n != 4 {
			t.Fatalf("%d key set requests, want the first and three redirects", n)
		}
	})
	t.Run("a custom client's own redirect policy is overridden", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		iss, trap := w.issuer(), w.issuer()
		iss.SetJWKSHandler(http.RedirectHandler(trap.JWKSURL(), http.StatusFound))
		permissive := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return nil }}
		s := w.set(func(c *providers.Config) { c.HTTPClient = permissive }, github(iss))
		mustFail(t, s, iss.Sign(iss.GitHubClaims(nil)), providers.ErrKeysUnavailable)
		noRequests(t, trap)
	})
}

func TestStartRefreshesInTheBackgroundUntilClose(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	iss := w.issuer()
	s := w.set(func(c *providers.Config) { c.Refresh, c.Cooldown = 20*time.Millisecond, 10*time.Millisecond }, github(iss))
	s.Start(context.Background())
	s.Start(context.Background()) // a second Start does nothing
	eventually(t, "three background fetches", func() bool { return iss.JWKSFetches() >= 3 })
	before := iss.Requests()
	mustVerify(t, s, iss.Sign(iss.GitHubClaims(nil)))
	if iss.Requests() != before {
		t.Fatal("a token after Start caused a fetch")
	}
	s.Close()
	n := iss.JWKSFetches()
	time.Sleep(100 * time.Millisecond) // five refresh intervals
	if iss.JWKSFetches() != n {
		t.Fatal("fetches went on after Close")
	}
	mustVerify(t, s, iss.Sign(iss.GitHubClaims(nil))) // cached keys outlive Close
}

func TestBackgroundRefreshRetriesEveryCooldownWhileTheIssuerIsDown(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	iss := w.issuer()
	iss.Stop()
	s := w.set(func(c *providers.Config) { c.Refresh, c.Cooldown = time.Hour, 10*time.Millisecond }, github(iss))
	ctx, cancel := context.WithCancel(context.Background())
	s.Start(ctx)
	eventually(t, "three attempts", func() bool { return status(t, s, iss.URL()).Fetches >= 3 })
	iss.Start()
	eventually(t, "keys", func() bool { return status(t, s, iss.URL()).Keys == 1 })
	cancel()
	s.Close()
}

func TestAFetchThatHangsEndsAtTheFetchTimeout(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	iss := w.issuer()
	iss.SetJWKSHandler(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	s := w.set(func(c *providers.Config) { c.FetchTimeout = 100 * time.Millisecond }, github(iss))
	err := mustFail(t, s, iss.Sign(iss.GitHubClaims(nil)), providers.ErrKeysUnavailable)
	if !strings.Contains(err.Error(), "deadline exceeded") {
		t.Fatalf("the error does not say the fetch timed out: %v", err)
	}
}

func TestCloseCancelsAFetchInFlight(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	iss := w.issuer()
	iss.SetJWKSHandler(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	s := w.set(func(c *providers.Config) { c.FetchTimeout = time.Minute }, github(iss))
	errc := make(chan error, 1)
	go func() {
		_, err := verify(s, iss.Sign(iss.GitHubClaims(nil)))
		errc <- err
	}()
	eventually(t, "the key set request", func() bool { return iss.JWKSFetches() == 1 })
	closed := make(chan struct{})
	go func() {
		s.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(2 * time.Second): // the transport itself gives up on a silent server after 5 s
		t.Fatal("Close waited for the fetch instead of cancelling it")
	}
	if err := <-errc; !errors.Is(err, providers.ErrKeysUnavailable) {
		t.Fatalf("Verify during Close: %v", err)
	}
}

func TestAClosedSetKeepsItsKeysAndFetchesNoMore(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	warm, cold := w.issuer(), w.issuer()
	s := w.set(nil, github(warm), github(cold))
	mustVerify(t, s, warm.Sign(warm.GitHubClaims(nil)))
	s.Close()
	s.Close() // twice is fine
	s.Start(context.Background())
	mustVerify(t, s, warm.Sign(warm.GitHubClaims(nil)))
	err := mustFail(t, s, cold.Sign(cold.GitHubClaims(nil)), providers.ErrKeysUnavailable)
	if !strings.Contains(err.Error(), "closed") {
		t.Fatalf("the error does not say the Set is closed: %v", err)
	}
	noRequests(t, cold)
}

func TestACallerWhoGivesUpDoesNotFailTheOthersWaitingOnTheSameFetch(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	iss := w.issuer()
	release := make(chan struct{})
	iss.SetJWKSHandler(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		<-release
		_, _ = rw.Write(iss.JWKS())
	}))
	s := w.set(nil, github(iss))
	impatient, cancel := context.WithCancel(context.Background())
	errs := make(chan error, 2)
	go func() {
		_, err := s.Verify(impatient, iss.Sign(iss.GitHubClaims(nil)))
		errs <- err
	}()
	go func() {
		_, err := verify(s, iss.Sign(iss.GitHubClaims(nil)))
		errs <- err
	}()
	eventually(t, "the key set request", func() bool { return iss.JWKSFetches() == 1 })
	cancel()
	if err := <-errs; !errors.Is(err, providers.ErrKeysUnavailable) || !errors.Is(err, context.Canceled) {
		t.Fatalf("the impatient caller got %v", err)
	}
	close(release)
	if err := <-errs; err != nil {
		t.Fatalf("the patient caller got %v", err)
	}
	if n := iss.JWKSFetches(); n != 1 {
		t.Fatalf("%d key set fetches, want one", n)
	}
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
