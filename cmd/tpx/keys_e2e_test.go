package main

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tpx-dev/tpx/internal/oidctest"
	"github.com/tpx-dev/tpx/providers"
)

// keyCooldown is the harness's key-cache cooldown: the least time between two key fetches
// that unknown kids may cause.
const keyCooldown = 200 * time.Millisecond

// pollFor calls cond every few milliseconds until it holds, failing the test after timeout.
func pollFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v still waiting for %s", timeout, what)
		}
		<-tick.C
	}
}

// unknownKidToken is a well-formed token under a kid the issuer never published. Its signature
// is junk: a kid that is not in the key set must be refused before any signature check.
func unknownKidToken(h *harness) string {
	return h.gh.Sign(h.gh.GitHubClaims(nil), oidctest.WithKid("unknown-"+rand.Text()), oidctest.WithSignature(make([]byte, 256)))
}

// ghKeys is the state of the GitHub issuer's key cache.
func ghKeys(t *testing.T, h *harness) providers.KeyStatus {
	t.Helper()
	for _, s := range h.svc.set.KeyStatus() {
		if s.Issuer == h.gh.URL() {
			return s
		}
	}
	t.Fatal("no key cache for the GitHub issuer")
	return providers.KeyStatus{}
}

// forceRefetch sends tokens with unknown kids until the key cache has attempted n more fetches
// (at most one per cooldown), each answered invalid-token.
func forceRefetch(t *testing.T, h *harness, n int) {
	t.Helper()
	want := ghKeys(t, h).Fetches + n
	pollFor(t, 10*time.Second, "a refetch caused by unknown kids", func() bool {
		if r := h.exchange(t, unknownKidToken(h)); r.code() != "invalid-token" {
			t.Fatalf("a token with an unknown kid got %d %s, want invalid-token", r.Status, r.raw)
		}
		return ghKeys(t, h).Fetches >= want
	})
}

func TestKeysUnknownKidFloodFetchesAtMostOncePerCooldown(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		h := newHarness(t, b)
		h.github("sampleproject", nil)
		h.accepted(t, func() reply { return h.exchange(t, h.gh.Sign(h.gh.GitHubClaims(nil))) })

		const flood, workers, validEvery = 1000, 16, 50
		bodies := make([][]byte, flood)
		for i := range bodies {
			tok := unknownKidToken(h)
			if i%validEvery == validEvery-1 {
				tok = h.gh.Sign(h.gh.GitHubClaims(nil))
			}
			bodies[i], _ = json.Marshal(map[string]string{"token": tok})
		}
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}, Timeout: 10 * time.Second}
		t.Cleanup(client.CloseIdleConnections)

		var (
			next                          atomic.Int64
			accepted, refused, unexpected atomic.Int64
			mu                            sync.Mutex
			firstUnexpected               string
		)
		before := h.gh.JWKSFetches()
		start := time.Now()
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for {
					i := int(next.Add(1) - 1)
					if i >= flood {
						return
					}
					status, code := postExchangeStatus(client, h.url+"/_/oidc/mint-token", bodies[i])
					valid := i%validEvery == validEvery-1
					switch {
					case valid && status == http.StatusOK:
						accepted.Add(1)
					case !valid && status == 422 && code == "invalid-token":
						refused.Add(1)
					default:
						unexpected.Add(1)
						mu.Lock()
						if firstUnexpected == "" {
							firstUnexpected = strconv.Itoa(status) + " " + code
						}
						mu.Unlock()
					}
				}
			})
		}
		wg.Wait()
		elapsed := time.Since(start)
		fetches := h.gh.JWKSFetches() - before
		t.Logf("%d requests in %v, %d key-set fetches", flood, elapsed.Round(time.Millisecond), fetches)

		t.Run("at most one key-set fetch per cooldown elapsed", func(t *testing.T) {
			if bound := 1 + int64(elapsed/keyCooldown); fetches > bound {
				t.Fatalf("%d key-set fetches in %v; at most %d allowed with a %v cooldown", fetches, elapsed, bound, keyCooldown)
			}
			if elapsed > 2*keyCooldown && fetches == 0 {
				t.Fatalf("unknown kids for %v caused no key-set fetch at all", elapsed)
			}
		})
		t.Run("valid tokens sent during the flood are accepted and the others refused as invalid-token", func(t *testing.T) {
			if accepted.Load() != flood/validEvery || refused.Load() != flood-flood/validEvery {
				t.Fatalf("%d valid tokens accepted (want %d), %d unknown kids refused (want %d), %d unexpected replies (first: %q)",
					accepted.Load(), flood/validEvery, refused.Load(), flood-flood/validEvery, unexpected.Load(), firstUnexpected)
			}
		})
	})
}

// postExchangeStatus posts body to the exchange route and returns the status and error code.
func postExchangeStatus(c *http.Client, url string, body []byte) (int, string) {
	resp, err := c.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	var r reply
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &r); err != nil {
		return resp.StatusCode, "not JSON: " + string(raw)
	}
	if resp.StatusCode == http.StatusOK {
		return resp.StatusCode, ""
	}
	return resp.StatusCode, r.code()
}

func TestKeysSurviveAnIssuerOutage(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		h := newHarness(t, b)
		h.github("sampleproject", nil)
		h.accepted(t, func() reply { return h.exchange(t, h.gh.Sign(h.gh.GitHubClaims(nil))) })
		h.gh.Stop()
		t.Run("a known kid is accepted while the issuer is down", func(t *testing.T) {
			h.accepted(t, func() reply { return h.exchange(t, h.gh.Sign(h.gh.GitHubClaims(nil))) })
		})
		t.Run("an issuer whose keys were never fetched answers 503 in the error shape", func(t *testing.T) {
			h.self.Stop()
			h.refused(t, 503, "provider-keys-unavailable", func() reply { return h.exchange(t, h.self.Sign(h.self.GitLabClaims(nil))) })
		})
		t.Run("a failed refetch keeps the cached keys", func(t *testing.T) {
			forceRefetch(t, h, 1)
			if s := ghKeys(t, h); s.LastError == "" || s.Keys == 0 {
				t.Fatalf("after a refetch from a stopped issuer the cache reports %+v; want the error and the old keys", s)
			}
			h.accepted(t, func() reply { return h.exchange(t, h.gh.Sign(h.gh.GitHubClaims(nil))) })
		})
	})
}

func TestKeysBadKeySetsNeverReplaceGoodOnes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		h := newHarness(t, b)
		h.github("sampleproject", nil)
		h.accepted(t, func() reply { return h.exchange(t, h.gh.Sign(h.gh.GitHubClaims(nil))) })

		// The attacker's key, served at another host and in an oversized key set: neither
		// may replace the issuer's keys.
		evil := oidctest.PublicJWK(&oidctest.AttackerKey().PublicKey, "evil")
		var elsewhere atomic.Int64
		other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			elsewhere.Add(1)
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(map[string]any{"keys": []any{evil}})
		}))
		t.Cleanup(other.Close)

		for _, c := range []struct {
			name string
			set  func()
		}{
			{"an empty key set", func() { h.gh.SetJWKSBody([]byte(`{"keys":[]}`), "application/json") }},
			{"an HTML page", func() {
				h.gh.SetJWKSBody([]byte("<!doctype html><html><body><h1>502 Bad Gateway</h1></body></html>"), "text/html")
			}},
			// A well-formed key set, but 10 MB of it: only the size cap keeps it out.
			{"a 10 MB body", func() {
				set, _ := json.Marshal(map[string]any{"keys": []any{evil}})
				h.gh.SetJWKSBody(append(set[:len(set)-1], append(bytes.Repeat([]byte(" "), 10<<20), '}')...), "application/json")
			}},
			{"a redirect to another host", func() {
				h.gh.SetJWKSHandler(http.RedirectHandler(other.URL+"/.well-known/jwks", http.StatusFound))
			}},
		} {
			t.Run(c.name+" keeps the good keys", func(t *testing.T) {
				c.set()
				t.Cleanup(func() { h.gh.SetJWKSHandler(nil) })
				before := h.gh.JWKSFetches()
				// Two refetches: the second proves the cooldown passed and the bad set was
				// served again without replacing the keys.
				forceRefetch(t, h, 2)
				if n := h.gh.JWKSFetches() - before; n < 2 {
					t.Fatalf("the key set was fetched %d times, want 2", n)
				}
				if s := ghKeys(t, h); s.LastError == "" || s.Keys == 0 {
					t.Fatalf("after fetching %s the cache reports %+v; want the error and the old keys", c.name, s)
				}
				h.accepted(t, func() reply { return h.exchange(t, h.gh.Sign(h.gh.GitHubClaims(nil))) })
			})
		}
		t.Run("the other host was never contacted and the attacker's key is not trusted", func(t *testing.T) {
			if n := elsewhere.Load(); n != 0 {
				t.Fatalf("the redirect target got %d requests", n)
			}
			h.refused(t, 422, "invalid-token", func() reply {
				return h.exchange(t, h.gh.Sign(h.gh.GitHubClaims(nil), oidctest.WithKey(oidctest.AttackerKey()), oidctest.WithKid("evil")))
			})
		})
	})
}

func TestKeysRotationIsPickedUpByOneRefetch(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		h := newHarness(t, b)
		h.github("sampleproject", nil)
		h.accepted(t, func() reply { return h.exchange(t, h.gh.Sign(h.gh.GitHubClaims(nil))) })
		oldToken := h.gh.Sign(h.gh.GitHubClaims(nil))
		h.gh.Rotate()

		t.Run("a token with the new kid is accepted after one refetch", func(t *testing.T) {
			before := h.gh.JWKSFetches()
			// Within the cooldown of the last fetch the new kid is refused; the first
			// request after it refetches once and is accepted.
			var r reply
			pollFor(t, 10*time.Second, "the new kid to be accepted", func() bool {
				r = h.exchange(t, h.gh.Sign(h.gh.GitHubClaims(nil)))
				if r.Status != http.StatusOK && r.code() != "invalid-token" {
					t.Fatalf("a token with the new kid got %d %s", r.Status, r.raw)
				}
				return r.Status == http.StatusOK
			})
			h.accepted(t, func() reply { return r })
			if n := h.gh.JWKSFetches() - before; n != 1 {
				t.Fatalf("the key set was fetched %d times, want 1", n)
			}
		})
		t.Run("a token with the withdrawn kid is then refused", func(t *testing.T) {
			h.refused(t, 422, "invalid-token", func() reply { return h.exchange(t, oldToken) })
		})
	})
}
